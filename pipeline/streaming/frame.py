"""The unit that travels through the pipeline: one image with its timestamps."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
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


def rgb_from_video_frame(vf: av.VideoFrame) -> np.ndarray:
    """Decoded ``av.VideoFrame`` → ``(H, W, 3)`` uint8 RGB.

    4:2:0 video (almost every camera and file) is converted by OpenCV, about 4x faster than
    FFmpeg's swscale here; both use BT.601 video range, so colours match the swscale path that
    other pixel formats (full-range ``yuvj420p``, 4:2:2, 10-bit...) still take.
    """
    if vf.format.name == "yuv420p" and vf.width % 2 == 0 and vf.height % 2 == 0:
        return cv2.cvtColor(vf.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    return vf.to_ndarray(format="rgb24")


def video_frame_from_rgb(image: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    """``(H, W, 3)`` uint8 RGB → ``av.VideoFrame`` ready for an encoder using ``pix_fmt``.

    For 4:2:0 with even sizes the conversion is done here by OpenCV (the inverse of
    ``rgb_from_video_frame``); otherwise the encoder's own swscale conversion is used.
    """
    h, w = image.shape[:2]
    if pix_fmt == "yuv420p" and h % 2 == 0 and w % 2 == 0:
        return av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420),
                                          format="yuv420p")
    return av.VideoFrame.from_ndarray(image, format="rgb24")
