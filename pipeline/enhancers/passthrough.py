"""Pass-through enhancer: the pipeline's overhead floor, and a stand-in for a slow model."""
from __future__ import annotations

import time

import numpy as np

from .base import Enhancer, register_enhancer


@register_enhancer("passthrough")
class Passthrough(Enhancer):
    """Returns its input unchanged.

    Args:
        delay_ms: sleep this long per frame, to simulate a model's cost (latency and
            frame-drop experiments); 0 for none.
    """

    def __init__(self, delay_ms: float = 0.0) -> None:
        if not 0 <= delay_ms <= 60_000:
            # a minute a frame is already no stream; 1e12 slept for ever
            raise ValueError(f"delay_ms must be in 0..60000, got {delay_ms}")
        self.delay_s = float(delay_ms) / 1000.0

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        if self.delay_s:
            time.sleep(self.delay_s * len(frames))
        return frames
