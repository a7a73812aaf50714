"""The command line of ``tools/make_sample.py``."""
from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import av

from .checks import as_fps
from .clip import plan_clip, write_night_clip


# --- command line -----------------------------------------------------------------------------
class _UsageError(Exception):
    """A bad command line: ``main`` prints it on one line and returns 2."""


class _Exit(Exception):
    """argparse wants to stop (``--help``): ``main`` returns the status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and calling ``sys.exit``."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            sys.stderr.write(message)
        raise _Exit(status)


def _fps_arg(text: str) -> Fraction:
    """``30``, ``29.97`` or ``30000/1001``."""
    try:
        value: float | Fraction = Fraction(text) if "/" in text else float(text)
        return as_fps(value)
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"invalid frame rate {text!r} ({exc})") from None


def main(argv: list[str] | None = None) -> int:
    """``make_sample.py OUT.mp4 [--width W --height H --fps F --seconds S --seed N --no-audio]``.

    Writes the generated night drive to OUT (.mp4, .mkv or .mov) unless it already exists
    (``--force`` overwrites). Returns 0 on success or when OUT exists, 2 for bad arguments
    (one line on stderr, no traceback) and 1 when the file cannot be written.
    """
    prog = "make_sample.py"
    parser = _ArgumentParser(
        prog=prog, description="Generate the procedural night-driving sample clip "
        "(H.264 video, AAC engine and road sound).")
    parser.add_argument("out", type=Path, help="output file: .mp4, .mkv or .mov")
    parser.add_argument("--width", type=int, default=1280, help="frame width (default 1280)")
    parser.add_argument("--height", type=int, default=720, help="frame height (default 720)")
    parser.add_argument("--fps", type=_fps_arg, default=Fraction(30),
                        help="frame rate: 30, 29.97 or 30000/1001 (default 30)")
    parser.add_argument("--seconds", type=float, default=6.0, help="duration (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="scene and noise seed (default 0)")
    parser.add_argument("--no-audio", action="store_true", help="leave out the sound track")
    parser.add_argument("--crf", type=float, default=20.0, help="x264 quality (default 20)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (default veryfast)")
    parser.add_argument("--faststart", action="store_true",
                        help="put the mp4/mov index at the front of the file")
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    try:
        args = parser.parse_args(argv)
        # check everything before looking at the disk, so bad arguments always exit 2
        plan_clip(args.out, args.width, args.height, args.fps, args.seconds, args.seed,
                   args.crf, args.preset, args.faststart, None)
    except _Exit as stop:
        return stop.status
    except (_UsageError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    if out.exists() and not args.force:
        print(f"{out} exists; not regenerating it (use --force to overwrite)")
        return 0
    started = time.perf_counter()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        info = write_night_clip(out, args.width, args.height, args.fps, args.seconds,
                                audio=not args.no_audio, seed=args.seed, crf=args.crf,
                                preset=args.preset, faststart=args.faststart)
    except (OSError, av.FFmpegError) as exc:
        print(f"{prog}: error: cannot write {out}: {exc}", file=sys.stderr)
        return 1
    sound = "AAC stereo" if info.has_audio else "no audio"
    print(f"wrote {out}: {info.width}x{info.height}, {info.fps} fps, {info.num_frames} frames "
          f"({info.duration:.2f} s), {sound}, in {time.perf_counter() - started:.1f} s")
    return 0
