"""``render_night_frames``: the frames of a night drive, deterministic for their arguments."""
from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from .checks import as_fps, check_int
from .constants import MIN_SIZE
from .scene import NightScene


def render_night_frames(width: int, height: int, num_frames: int, fps: float | Fraction = 30.0,
                        seed: int = 0) -> Iterator[np.ndarray]:
    """Yield ``num_frames`` frames of a procedural night drive seen from a dashcam.

    Each frame is a new ``(height, width, 3)`` uint8 **RGB** array: a dark road and sky (mean
    level about 0.05-0.15 of full scale) with lane markings streaming toward the camera, street
    lamps with clipped cores, halos and light pools passing by, oncoming headlights, a car
    ahead with tail-lights, slight camera sway and shot + read sensor noise.

    Frame ``i`` shows time ``i / fps``; it depends only on (width, height, fps, seed, i), so the
    same arguments always give identical frames, and a longer clip starts like a shorter one.
    Any ``width`` and ``height`` >= ``MIN_SIZE`` work, odd ones included. Rendering is
    vectorised (OpenCV and numpy); the first ``next()`` also prepares the static layers and
    the noise bank (~0.2 s at 720p, ~0.45 s at 1080p on two cores).

    Raises ``ValueError`` for a size below ``MIN_SIZE``, a negative frame count, a
    non-positive ``fps`` or a non-integer seed.
    """
    width = check_int("width", width, MIN_SIZE)
    height = check_int("height", height, MIN_SIZE)
    num_frames = check_int("num_frames", num_frames, 0)
    rate = as_fps(fps)
    seed = check_int("seed", seed)
    return iter_frames(width, height, num_frames, rate, seed)


def iter_frames(width: int, height: int, num_frames: int, rate: Fraction,
            seed: int) -> Iterator[np.ndarray]:
    if num_frames == 0:
        return
    scene = NightScene(width, height, seed)
    for i in range(num_frames):
        yield scene.render(float(i / rate))
