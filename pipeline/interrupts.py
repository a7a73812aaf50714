"""Ctrl-C while a command starts (the libraries and a model load for seconds): never lost.

Python turns SIGINT into ``KeyboardInterrupt`` wherever the main thread happens to be, and
where that is a callback (a weak reference's, an import lock's) the exception is printed as
"ignored" and dropped: the command then went on and finished its whole job (seen once in the
hostile tests, at 0.8 s into ``tools/batch.py``). :func:`install`, called by the scripts
before anything slow is imported, also records the interrupt, and :func:`check` at the points
where a command is about to start writing raises it again if it was dropped. Standard library
only: it must load in milliseconds.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType

_pending = threading.Event()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _pending.set()
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGINT as Python does (``KeyboardInterrupt``), remembering that it came."""
    _pending.clear()
    signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a SIGINT came since :func:`install` (one that was
    dropped, or one already handled: a command that saw it stops either way)."""
    if _pending.is_set():
        raise KeyboardInterrupt
