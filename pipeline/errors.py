"""Typed exceptions of the Nocturne pipeline.

Library code raises these; only the command-line ``main`` functions turn them into a message on
stderr and an exit code, so a user mistake never shows a traceback.
"""
from __future__ import annotations

import re
from typing import Callable


class NocturneError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(NocturneError, ValueError):
    """A configuration file, ``--set`` override or keyword argument is invalid."""


class SourceError(NocturneError, RuntimeError):
    """A source cannot be opened or read (missing file, not a video, unreachable URL...)."""


class SinkError(NocturneError, RuntimeError):
    """A sink cannot be opened or written (unwritable path, no display...)."""


class EnhancerError(NocturneError, RuntimeError):
    """An enhancer cannot be built or fails while running."""


class EngineBuildError(NocturneError, RuntimeError):
    """Building an inference engine (ONNX export, TensorRT) failed."""


def reason(exc: BaseException) -> str:
    """A short, readable reason from an OS/FFmpeg error: its text without the ``[Errno N]``
    prefix (FFmpeg's codes are large negative tags such as 1094995529) or a repeated path."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", str(text))
    return text.split(": '")[0].strip() or type(exc).__name__


def describe(exc: BaseException) -> str:
    """One line for a command line's ``error:``: our own errors as they are, an OS error with
    the file it concerns (``/proc/x.mp4: No such file or directory``)."""
    if isinstance(exc, NocturneError):
        text = str(exc)
    else:
        filename = getattr(exc, "filename", None)
        text = f"{filename}: {reason(exc)}" if filename else reason(exc)
    # one line, whatever a library put in its message (ONNX Runtime, PyYAML and FFmpeg
    # messages can span several)
    return " ".join(text.split())


def run_tool(prog: str, main: Callable[[], int]) -> int:
    """Run a benchmark's ``main`` as a command: a bad argument or input that a library
    reports (a ``ConfigError``, a ``ValueError`` such as an impossible size) is one ``error:``
    line and exit 2, a failure (our errors, OS and runtime errors) one line and exit 1, Ctrl-C
    exit 130 — never a traceback."""
    import sys

    try:
        return main()
    except KeyboardInterrupt:
        return 130
    except (ValueError, NocturneError, OSError, RuntimeError) as exc:
        print(f"{prog}: error: {describe(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
