"""The unit that travels through the pipeline: one image with its timestamps."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass
class Frame:
    """One decoded frame.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB array.
        index: position in the source's sequence of frames (0-based, counts frames read, so
            gaps show frames the source itself skipped).
        pts: presentation timestamp in ``time_base`` units as the source gave it (``None`` when
            the source has none, for example a camera read through OpenCV).
        time_base: the unit of ``pts`` in seconds.
        capture_time: ``time.monotonic()`` when the capture stage got the frame.
        enhanced: the enhancer's output, filled in by the enhance stage.
        meta: per-stage timings and anything a stage wants to pass downstream.
    """

    image: np.ndarray
    index: int
    pts: int | None
    time_base: Fraction | None
    capture_time: float
    enhanced: np.ndarray | None = None
    meta: dict[str, float] = field(default_factory=dict)

    @property
    def time(self) -> float | None:
        """Source timestamp in seconds, or ``None``."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)
