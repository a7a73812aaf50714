"""Argument checks shared by the frame, sound and clip writers (``ValueError`` with the name)."""
from __future__ import annotations

import math
import numbers
from fractions import Fraction

import numpy as np


def check_int(name: str, value: object, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, not {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return int(value)


def as_fps(fps: object) -> Fraction:
    """``fps`` as an exact fraction: 30 -> 30, 29.97 -> 2997/100, 30000/1001 stays exact."""
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real):
        raise ValueError(f"fps must be a number, not {fps!r}")
    if not isinstance(fps, numbers.Rational):
        if not math.isfinite(fps):
            raise ValueError(f"fps must be finite, not {fps}")
        # 29.97002997 -> 30000/1001; 12.5 -> 25/2
        rate = Fraction(float(fps)).limit_denominator(1001)
    else:
        rate = Fraction(fps)
    if rate <= 0 or rate > 1000:
        raise ValueError(f"fps must be in (0, 1000], not {fps}")
    return rate
