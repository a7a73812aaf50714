"""Small types shared by the drawing parts: a light as seen this frame, the road's centre line,
the screen box of the car ahead."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Union

import numpy as np


class Light(NamedTuple):
    """A light source as seen this frame."""

    x: float                    # pixel position
    y: float
    r: float                    # radius of its bright core, pixels
    z: float                    # distance, metres
    core: np.ndarray            # core colour and level (1: far above full scale)
    energy: np.ndarray          # energy spread into its halo, DN * (frame height)^2
    streak: tuple[float, float, np.ndarray] | None  # mirror image on the road and its level


RoadX = Callable[[Union[np.ndarray, float]], Union[np.ndarray, float]]
Box = tuple[float, float, float, float, float]   # x0, x1, y0, y1 on screen; distance


def smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    u = np.clip((x - a) / (b - a), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def hidden(s: Light, box: Box) -> bool:
    """Whether light ``s`` is behind the car ahead, whose screen box and distance is ``box``."""
    x0, x1, y0, y1, zc = box
    return s.z > zc + 0.5 and x0 <= s.x <= x1 and y0 <= s.y <= y1
