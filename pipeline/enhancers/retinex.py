"""Retinex enhancer: multi-scale retinex on the luma, with the colour of each pixel preserved."""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .base import Enhancer, register_enhancer
from .gamma import number_param

#: the sigmas are given in pixels of a frame this many rows high, and scale with the height
_REFERENCE_HEIGHT = 720

#: illumination is blurred on a copy halved until the blur's sigma is below twice this many
#: pixels: illumination is low-frequency, so nothing is lost, and the blur stays cheap at any sigma
_MIN_SIGMA_PX = 2.0

#: offset, in 8-bit levels, inside log(Y + eps): keeps black pixels finite
_EPS = 1.0

#: narrowest percentile span, in log units: a flat frame (span ~0) would otherwise be stretched
#: to black and white, or divide by zero
_MIN_SPAN = 0.5

#: about this many pixels are sampled for the percentiles (a sort of every pixel is too slow)
_SAMPLE_PIXELS = 32768


def _shrink(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` halved (area average) while a blur of ``sigma`` stays >= ``2 * _MIN_SIGMA_PX``.

    Halving is OpenCV's fast area-resize path (an arbitrary factor is several times slower).
    Very small images are left alone: their blurs are cheap at any sigma.
    """
    while sigma >= 2 * _MIN_SIGMA_PX and min(image.shape[:2]) >= 8:
        image = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        sigma /= 2
    return image


def _blur(image: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    """Gaussian blur of a float32 image, sigmas in its own pixels, done on a shrunk copy.

    The result is smooth, so blurring a shrunk copy and interpolating it back costs a fraction
    of a full-size blur with a kernel hundreds of taps wide.
    """
    h, w = image.shape
    small = _shrink(image, min(sigma_x, sigma_y))
    sh, sw = small.shape
    small = cv2.GaussianBlur(
        small, (0, 0), sigma_x * sw / w, sigmaY=sigma_y * sh / h, borderType=cv2.BORDER_REPLICATE
    )
    if small.shape == image.shape:
        return small
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@register_enhancer("retinex")
class Retinex(Enhancer):
    """Multi-scale retinex (MSR) on the luma; RGB is scaled by the luma gain so hue is kept.

    Per frame: ``R = mean_k(log(Y + eps) - log(G_k * Y + eps))`` with Gaussian illumination
    estimates ``G_k`` (computed on a shrunk luma and interpolated back: this is what keeps it
    fast at 1080p); ``R`` is stretched between its ``low_clip`` and ``high_clip`` percentiles
    (smoothed across frames so the tone does not flicker) to the output luma; each pixel's RGB is
    multiplied by ``Y_out / Y_in``, capped at ``max_gain`` and so that no channel clips.

    Args:
        sigmas: illumination blur sigmas (each > 0), in pixels of a 720-row frame.
        low_clip: percentile, in [0, 1), of ``R`` mapped to black.
        high_clip: percentile, in (``low_clip``, 1], of ``R`` mapped to white.
        smoothing: weight in [0, 1) of the previous percentiles in the exponential moving average
            across frames; 0 for none.
        max_gain: largest factor (> 0) a pixel's RGB is multiplied by; bounds noise amplification
            in near-black regions.
    """

    def __init__(
        self,
        sigmas: Sequence[float] = (15, 80, 250),
        low_clip: float = 0.01,
        high_clip: float = 0.99,
        smoothing: float = 0.9,
        max_gain: float = 8.0,
    ) -> None:
        if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence) or not sigmas:
            raise ValueError(f"sigmas must be a non-empty list of numbers, got {sigmas!r}")
        self.sigmas = tuple(number_param("sigmas", s) for s in sigmas)
        if min(self.sigmas) <= 0:
            raise ValueError(f"sigmas must all be > 0, got {list(sigmas)}")
        self.low_clip = number_param("low_clip", low_clip)
        self.high_clip = number_param("high_clip", high_clip)
        if not 0 <= self.low_clip < self.high_clip <= 1:
            raise ValueError(
                f"need 0 <= low_clip < high_clip <= 1, got low_clip={low_clip}, "
                f"high_clip={high_clip}"
            )
        self.smoothing = number_param("smoothing", smoothing)
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.max_gain = number_param("max_gain", max_gain)
        if self.max_gain <= 0:
            raise ValueError(f"max_gain must be > 0, got {max_gain}")
        levels = np.arange(256, dtype=np.float32)
        # Per-level tables, so the full-resolution logs and divisions are single LUT passes.
        self._log_lut = np.log(levels + _EPS).astype(np.float32)
        self._inv_luma_lut = (1.0 / np.maximum(levels, 0.5)).astype(np.float32)
        # The largest gain for a pixel whose brightest channel is at a level: no clipping, and
        # never above max_gain.
        self._cap_lut = np.minimum(255.0 / np.maximum(levels, 0.5), self.max_gain).astype(
            np.float32
        )
        #: smoothed (low, high) percentiles of R; None until the first frame
        self.stretch_range: tuple[float, float] | None = None

    def _log_illumination(self, luma: np.ndarray) -> np.ndarray:
        """Mean over the sigmas of ``log(G_k * Y + eps)``, float32 at ``luma``'s size."""
        h, w = luma.shape
        sigmas = [s * h / _REFERENCE_HEIGHT for s in self.sigmas]
        # Work on a copy shrunk for the smallest sigma; _blur shrinks further for larger ones.
        small = _shrink(luma, min(sigmas)).astype(np.float32)
        sh, sw = small.shape
        acc = np.zeros((sh, sw), np.float32)
        for sigma in sigmas:
            blurred = _blur(small, sigma * sw / w, sigma * sh / h)
            acc += np.log(blurred + _EPS)
        acc /= len(sigmas)
        # Interpolating the log illumination (smooth by construction) back to full size costs one
        # pass instead of one per sigma.
        if acc.shape == luma.shape:
            return acc
        return cv2.resize(acc, (w, h), interpolation=cv2.INTER_LINEAR)

    def _update_range(self, log_luma: np.ndarray, log_illum: np.ndarray) -> tuple[float, float]:
        """This frame's percentiles of ``R``, folded into the moving average."""
        h, w = log_luma.shape
        step = max(1, round(math.sqrt(h * w / _SAMPLE_PIXELS)))
        sample = log_luma[::step, ::step] - log_illum[::step, ::step]
        low, high = np.quantile(sample, [self.low_clip, self.high_clip])
        if high - low < _MIN_SPAN:
            centre = 0.5 * (low + high)
            low, high = centre - 0.5 * _MIN_SPAN, centre + 0.5 * _MIN_SPAN
        if self.stretch_range is None:
            self.stretch_range = (float(low), float(high))
        else:
            s = self.smoothing
            self.stretch_range = (
                s * self.stretch_range[0] + (1.0 - s) * float(low),
                s * self.stretch_range[1] + (1.0 - s) * float(high),
            )
        return self.stretch_range

    def _enhance_frame(self, frame: np.ndarray, out: np.ndarray) -> None:
        """Enhance one ``(H, W, 3)`` uint8 frame into ``out`` (same shape)."""
        h, w, _ = frame.shape
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        log_luma = cv2.LUT(luma, self._log_lut)
        log_illum = self._log_illumination(luma)
        low, high = self._update_range(log_luma, log_illum)
        # Output luma: R = log_luma - log_illum stretched linearly so low -> 0 and high -> 255.
        # It is left unclipped: below 0 the final multiply saturates to black, and above 255
        # the headroom cap below is the tighter bound anyway (Y_in <= max channel).
        k = 255.0 / (high - low)
        gain = cv2.addWeighted(log_luma, k, log_illum, -k, -k * low, dst=log_luma)
        # Gain = Y_out / Y_in, capped by max_gain and by the brightest channel's headroom, so no
        # channel saturates and R:G:B (the hue) is kept.
        cv2.multiply(gain, cv2.LUT(luma, self._inv_luma_lut), dst=gain)
        brightest = cv2.extractChannel(cv2.cvtColor(frame, cv2.COLOR_RGB2HSV_FULL), 2)
        cv2.min(gain, cv2.LUT(brightest, self._cap_lut), dst=gain)
        # Each gain repeated 3 times along the row matches the frame viewed as (H, W * 3): one
        # resize instead of a slower 3-channel merge.
        gain3 = cv2.resize(gain, (w * 3, h), interpolation=cv2.INTER_NEAREST)
        cv2.multiply(frame.reshape(h, w * 3), gain3, dst=out.reshape(h, w * 3), dtype=cv2.CV_8U)

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        frames = np.ascontiguousarray(frames)
        out = np.empty_like(frames)
        for frame, dst in zip(frames, out):
            self._enhance_frame(frame, dst)
        return out
