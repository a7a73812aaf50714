"""File kinds and names every job agrees on: which suffixes are images and videos, the frame
sizes accepted, the temporary name an output is written under until it is complete, and whether
two paths are one file."""
from __future__ import annotations

import os
from pathlib import Path

#: still images read by image-folder sources, training and calibration
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: video containers the batch job looks for and training/calibration sample frames from
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".ts", ".m4v")
#: the largest frame side any job takes: 8K video (7680x4320) and H.264's largest level (6.2:
#: 8192x4320) fit; a larger header is a damaged file or a decompression bomb (a 20000x20000
#: PNG is 1 MiB on disk and 1.2 GB decoded) that the encoders refuse anyway
MAX_FRAME_SIDE = 8192
#: the smallest frame side the tools generate and benchmark
MIN_FRAME_SIDE = 16
#: marks a temporary output: ``.NAME.nocturne-partial.EXT`` beside the final ``NAME.EXT``
PARTIAL_TAG = ".nocturne-partial"


def parse_size(text: str) -> tuple[int, int]:
    """A ``WxH`` size (``1920x1080``) as ``(width, height)``, each side in
    ``MIN_FRAME_SIDE..MAX_FRAME_SIDE``; ``ValueError`` with a one-line reason otherwise."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"bad size {text!r}, expected WxH") from None
    if not (MIN_FRAME_SIDE <= width <= MAX_FRAME_SIDE and
            MIN_FRAME_SIDE <= height <= MAX_FRAME_SIDE):
        raise ValueError(f"size {text!r}: each side must be in "
                         f"{MIN_FRAME_SIDE}..{MAX_FRAME_SIDE}")
    return width, height


def is_partial(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a temporary output (never an input, never a final name)."""
    name = Path(path).name
    return name.startswith(".") and PARTIAL_TAG in name


def partial_path(path: str | os.PathLike[str]) -> Path:
    """The temporary name ``path`` is written under until complete (same folder, same suffix,
    so the container is still known from it); a temporary name is its own."""
    p = Path(path)
    if is_partial(p):
        return p
    return p.with_name(f".{p.stem}{PARTIAL_TAG}{p.suffix}")


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file: the same resolved path (symbolic links followed)
    or, where both exist, the same inode (hard links)."""
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except (OSError, RuntimeError, ValueError):
        return False


def is_within(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (after resolving links)."""
    try:
        p, f = Path(path).resolve(), Path(folder).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return p == f or f in p.parents


def file_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a regular file — ``"does not exist"``, ``"is a folder,
    not a file"``, ``"is not a regular file (a device, FIFO or socket)"`` — or ``None``.

    A FIFO would block its reader for ever and a device such as ``/dev/zero`` never ends: both
    are refused by name, not reported as missing."""
    p = Path(path)
    if not p.exists():
        return "does not exist"
    if p.is_dir():
        return "is a folder, not a file"
    if not p.is_file():
        return "is not a regular file (a device, FIFO or socket)"
    return None
