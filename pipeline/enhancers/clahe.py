"""CLAHE enhancer: contrast-limited adaptive histogram equalisation of the luma only."""
from __future__ import annotations

import numbers

import cv2
import numpy as np

from .base import Enhancer, register_enhancer
from .gamma import gamma_lut, number_param


@register_enhancer("clahe")
class Clahe(Enhancer):
    """Equalises local contrast of the luma (Y of YCrCb), leaving the chroma untouched.

    Working on Y alone keeps colours from shifting the way per-channel equalisation would;
    YCrCb rather than LAB because its 8-bit conversion is several times cheaper.

    Args:
        clip_limit: CLAHE contrast limit (> 0); higher equalises harder and amplifies noise more.
        tiles: the frame is split into ``tiles x tiles`` regions (>= 1) equalised separately.
        gamma: optional gamma (> 0) applied to Y before CLAHE; on very dark frames the histogram
            is squeezed into a few levels, and brightening first gives CLAHE room to work.
    """

    def __init__(self, clip_limit: float = 2.0, tiles: int = 8, gamma: float | None = None) -> None:
        self.clip_limit = number_param("clip_limit", clip_limit)
        if self.clip_limit <= 0:
            raise ValueError(f"clip_limit must be > 0, got {clip_limit}")
        if isinstance(tiles, bool) or not isinstance(tiles, numbers.Integral):
            raise ValueError(f"tiles must be an integer, got {tiles!r}")
        if tiles < 1:
            raise ValueError(f"tiles must be >= 1, got {tiles}")
        self.tiles = int(tiles)
        if gamma is not None:
            gamma = number_param("gamma", gamma)
            if gamma <= 0:
                raise ValueError(f"gamma must be > 0, got {gamma}")
        self.gamma = gamma
        self._lut = gamma_lut(gamma) if gamma is not None else None
        self._clahe = cv2.createCLAHE(clipLimit=self.clip_limit, tileGridSize=(self.tiles,) * 2)

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        n, h, w, _ = frames.shape
        # The colour conversions are per pixel, so the batch goes through them as one tall image;
        # only CLAHE itself, whose tiles are per frame, runs frame by frame.
        tall = np.ascontiguousarray(frames).reshape(n * h, w, 3)
        ycc = cv2.cvtColor(tall, cv2.COLOR_RGB2YCrCb)
        luma = ycc[:, :, 0]
        if self._lut is not None:
            luma = cv2.LUT(luma, self._lut)
        for i in range(n):
            rows = slice(i * h, (i + 1) * h)
            ycc[rows, :, 0] = self._clahe.apply(np.ascontiguousarray(luma[rows]))
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB).reshape(frames.shape)
