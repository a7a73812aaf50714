"""Gamma enhancer: a fixed or per-frame adaptive gamma curve, applied as a 256-entry LUT."""
from __future__ import annotations

import math
import numbers

import cv2
import numpy as np

from .base import Enhancer, register_enhancer

#: Rec. 601 luma weights for R, G, B (the frames are RGB)
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

#: the brightness is measured on about this many rows: plenty for a mean, and it keeps the
#: measurement's cost independent of the resolution
_MEASURE_ROWS = 90


def gamma_lut(gamma: float) -> np.ndarray:
    """The 256-entry uint8 LUT of ``255 * (x / 255) ** gamma``, rounded to the nearest level."""
    x = np.arange(256, dtype=np.float64) / 255.0
    return np.clip(np.rint(255.0 * x**gamma), 0, 255).astype(np.uint8)


def mean_luma(frames: np.ndarray) -> np.ndarray:
    """Mean Rec. 601 luma in [0, 1] of each frame of a ``(N, H, W, 3)`` RGB batch, shape ``(N,)``.

    Measured on a strided subsample: a mean does not need every pixel, and this keeps it well
    under a millisecond at 1080p.
    """
    step = max(1, frames.shape[1] // _MEASURE_ROWS)
    small = frames[:, ::step, ::step].reshape(len(frames), -1, 3)
    return (small.mean(axis=1, dtype=np.float64) @ LUMA_WEIGHTS) / 255.0


def number_param(name: str, value: object) -> float:
    """``value`` as a finite float; ``ValueError`` naming ``name`` otherwise (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


@register_enhancer("gamma")
class Gamma(Enhancer):
    """Brightens with a gamma curve ``255 * (x / 255) ** gamma`` on each RGB channel.

    With a fixed ``gamma`` every frame gets the same curve. Without one the gamma is chosen per
    frame so that the frame's mean luma maps to ``target_mean``, clamped to
    ``[min_gamma, max_gamma]`` and smoothed across frames so a video does not flicker.

    Args:
        gamma: fixed gamma (> 0; < 1 brightens); ``None`` for adaptive.
        target_mean: adaptive mode: the mean luma, in (0, 1), a frame's mean is mapped to.
        min_gamma: adaptive mode: the strongest brightening allowed (> 0).
        max_gamma: adaptive mode: the weakest (>= ``min_gamma``; 1.0 never darkens).
        smoothing: adaptive mode: weight in [0, 1) of the previous gamma in the exponential
            moving average across frames; 0 for none.
    """

    def __init__(
        self,
        gamma: float | None = None,
        target_mean: float = 0.45,
        min_gamma: float = 0.25,
        max_gamma: float = 1.0,
        smoothing: float = 0.9,
    ) -> None:
        if gamma is not None:
            gamma = number_param("gamma", gamma)
            if gamma <= 0:
                raise ValueError(f"gamma must be > 0, got {gamma}")
        self.gamma = gamma
        self.target_mean = number_param("target_mean", target_mean)
        if not 0 < self.target_mean < 1:
            raise ValueError(f"target_mean must be in (0, 1), got {target_mean}")
        self.min_gamma = number_param("min_gamma", min_gamma)
        self.max_gamma = number_param("max_gamma", max_gamma)
        if self.min_gamma <= 0:
            raise ValueError(f"min_gamma must be > 0, got {min_gamma}")
        if self.max_gamma < self.min_gamma:
            raise ValueError(f"max_gamma ({max_gamma}) must be >= min_gamma ({min_gamma})")
        self.smoothing = number_param("smoothing", smoothing)
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self._fixed_lut = gamma_lut(gamma) if gamma is not None else None
        #: the smoothed adaptive gamma of the last frame; None until the first frame
        self.current_gamma: float | None = gamma

    def target_gamma(self, mean: float) -> float:
        """The gamma that maps a mean luma ``mean`` (in [0, 1]) to ``target_mean``, clamped."""
        # Keep log(mean) strictly negative: a black frame gets the strongest curve, a white one
        # the weakest, and neither divides by zero.
        mean = min(max(mean, 1e-4), 1.0 - 1e-6)
        wanted = math.log(self.target_mean) / math.log(mean)
        return min(max(wanted, self.min_gamma), self.max_gamma)

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        frames = np.ascontiguousarray(frames)
        n, h, w, _ = frames.shape
        if self._fixed_lut is not None:
            # One curve for the whole batch: a single LUT call over all frames.
            return cv2.LUT(frames.reshape(n * h, w, 3), self._fixed_lut).reshape(frames.shape)
        out = np.empty_like(frames)
        for i, mean in enumerate(mean_luma(frames)):
            wanted = self.target_gamma(float(mean))
            if self.current_gamma is None:
                # The first frame has no history: start at its own gamma rather than ramping
                # in from an arbitrary value.
                self.current_gamma = wanted
            else:
                s = self.smoothing
                self.current_gamma = s * self.current_gamma + (1.0 - s) * wanted
            cv2.LUT(frames[i], gamma_lut(self.current_gamma), dst=out[i])
        return out
