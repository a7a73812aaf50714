"""Zero-DCE++ (Li et al., TPAMI 2021): Zero-DCE with depthwise-separable convolutions, one curve
map for all 8 steps, estimated on a downscaled input.

Layer names follow the official code (Li-Chongyi/Zero-DCE_extension) so its checkpoint loads
unchanged: ``e_convN.depth_conv`` (3x3, one filter per channel) and ``e_convN.point_conv`` (1x1),
10,561 parameters.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from . import register_model
from .curves import ITERATIONS, LUT_LEVELS, apply_curves, curve_table

#: feature channels of every hidden layer of the official net
FEATURES = 32

#: the official code's downscaling factor
DEFAULT_SCALE = 12.0


class DepthwiseSeparableConv(nn.Module):
    """A 3x3 depthwise convolution then a 1x1 pointwise one, both with bias (the official
    ``CSDN_Tem``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depth_conv = nn.Conv2d(in_channels, in_channels, 3, 1, 1, groups=in_channels)
        self.point_conv = nn.Conv2d(in_channels, out_channels, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.point_conv(self.depth_conv(x))


def check_scale(scale: object) -> float:
    """``scale`` as a float >= 1; ``ConfigError`` otherwise."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise ConfigError(f"scale must be a number, got {scale!r}")
    value = float(scale)
    if not math.isfinite(value) or value < 1:
        raise ConfigError(f"scale must be a finite number >= 1, got {scale!r}")
    return value


def downscaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The size ``F.interpolate(scale_factor=1/scale)`` gives, at least 1x1."""
    factor = 1.0 / scale
    # The same double-precision product and truncation as ATen's output-size computation.
    return max(1, int(height * factor)), max(1, int(width * factor))


def downscale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Bilinear downscale of an ``(N, C, H, W)`` tensor by ``scale``, as the official code does.

    ``F.interpolate(scale_factor=1/scale, mode="bilinear", align_corners=False)``, no
    antialiasing: each output pixel blends the 2x2 input pixels nearest its centre. Inputs
    smaller than ``scale`` (where the official call fails) go to 1 pixel on that side.
    """
    if scale == 1:
        return x
    h, w = x.shape[-2:]
    factor = 1.0 / scale
    if int(h * factor) >= 1 and int(w * factor) >= 1:
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    return F.interpolate(x, size=downscaled_size(h, w, scale), mode="bilinear",
                         align_corners=False)


def _taps(in_size: int, out_size: int, scale: float | None) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """Source indices and weights of ATen's bilinear (align_corners=False) along one axis."""
    ratio = scale if scale is not None else in_size / out_size
    src = np.maximum((np.arange(out_size) + 0.5) * ratio - 0.5, 0.0)
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, (src - i0).astype(np.float32)


def downscale_frames(frames: np.ndarray, scale: float) -> torch.Tensor:
    """:func:`downscale` of a uint8 ``(N, H, W, 3)`` batch, returned as float ``(N, 3, h, w)``
    in [0, 1].

    Without antialiasing each output pixel reads only 2x2 input pixels, so only those rows and
    columns are gathered and converted to float: a fraction of a millisecond at 720p, where
    converting the whole frame first costs several.
    """
    n, h, w, c = frames.shape
    if scale == 1:
        small = frames.astype(np.float32)
    else:
        oh, ow = downscaled_size(h, w, scale)
        exact = int(h * (1.0 / scale)) >= 1 and int(w * (1.0 / scale)) >= 1
        ratio = scale if exact else None
        r0, r1, rw = _taps(h, oh, ratio)
        c0, c1, cw = _taps(w, ow, ratio)
        top = frames[:, r0].astype(np.float32)
        rows = top + (frames[:, r1].astype(np.float32) - top) * rw[None, :, None, None]
        left = rows[:, :, c0]
        small = left + (rows[:, :, c1] - left) * cw[None, None, :, None]
    return torch.from_numpy(small).div_(255.0).permute(0, 3, 1, 2)


def upsample(r: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsample of maps ``r`` to ``size`` with ``align_corners=True``.

    The official ``nn.UpsamplingBilinear2d(scale_factor=s)`` is this with ``size`` = ``s`` times
    the small size; asking for the input's size instead keeps any input size working.
    """
    if tuple(r.shape[-2:]) == tuple(size):
        return r
    return F.interpolate(r, size=size, mode="bilinear", align_corners=True)


@register_model("zero_dce_pp")
class ZeroDCEPP(nn.Module):
    """Zero-DCE++: ``x`` is enhanced by 8 curve steps with one 3-channel map.

    The map is estimated on ``x`` downscaled by ``scale`` and upsampled back to full size, so
    the net's cost is ``scale**2`` times smaller than at full resolution.

    Args:
        scale: downscaling factor (>= 1) of the map estimation; 1 means none. The official
            code uses 12 for its pictures (the map is smooth, so little is lost).
    """

    def __init__(self, scale: float = DEFAULT_SCALE) -> None:
        super().__init__()
        self.scale = check_scale(scale)
        f = FEATURES
        self.e_conv1 = DepthwiseSeparableConv(3, f)
        self.e_conv2 = DepthwiseSeparableConv(f, f)
        self.e_conv3 = DepthwiseSeparableConv(f, f)
        self.e_conv4 = DepthwiseSeparableConv(f, f)
        self.e_conv5 = DepthwiseSeparableConv(2 * f, f)
        self.e_conv6 = DepthwiseSeparableConv(2 * f, f)
        self.e_conv7 = DepthwiseSeparableConv(2 * f, 3)
        self.relu = nn.ReLU(inplace=True)
        # The 8-step curve tabulated over (r level, x): what forward_frames gathers from. Not
        # persistent, so state dicts (and the official checkpoint) keep exactly the net's keys.
        # float16 holds 0..255 exactly, and TensorRT gathers float16 where it cannot uint8.
        table = torch.from_numpy(curve_table(LUT_LEVELS, ITERATIONS).astype(np.float16))
        self.register_buffer("lut", table.reshape(-1), persistent=False)

    def estimate_small(self, x_small: torch.Tensor) -> torch.Tensor:
        """The map of an already downscaled input: ``(N, 3, h, w)`` in [-1, 1]."""
        x1 = self.relu(self.e_conv1(x_small))
        x2 = self.relu(self.e_conv2(x1))
        x3 = self.relu(self.e_conv3(x2))
        x4 = self.relu(self.e_conv4(x3))
        x5 = self.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = self.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))

    def estimate(self, x: torch.Tensor) -> torch.Tensor:
        """The curve map ``r`` of ``x`` at full resolution: ``(N, 3, H, W)`` in [-1, 1]."""
        r = self.estimate_small(downscale(x, self.scale))
        return upsample(r, (x.shape[-2], x.shape[-1]))

    @staticmethod
    def apply_curves(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Apply 8 curve steps, all with the map ``r`` (from :meth:`estimate`), to ``x``."""
        return apply_curves(x, r, ITERATIONS)

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The enhanced image and the full-resolution map that made it."""
        r = self.estimate(x)
        # The curve keeps [0, 1] in exact arithmetic; the clamp only removes float32 rounding
        # excursions of ~1e-7 so that the output contract holds exactly.
        return self.apply_curves(x, r).clamp(0.0, 1.0), r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Enhance a ``(N, 3, H, W)`` batch in [0, 1]; the result is in [0, 1]."""
        return self.forward_with_maps(x)[0]

    def forward_rows(self, frames: torch.Tensor) -> torch.Tensor:
        """The curve map of uint8 ``(N, H, W, 3)`` frames as fractional lookup-table rows
        (``models.curves.CurveLUT.index``), ``(N, h, w, 3)`` float at 1/``scale`` size."""
        dtype = self.e_conv7.point_conv.weight.dtype  # FP16 in a half graph
        x = frames.to(dtype).permute(0, 3, 1, 2) * (1.0 / 255.0)
        # rows reach 4095: beyond FP16's exact integers (2048), so they are computed in FP32
        r = self.estimate_small(downscale(x, self.scale)).float()
        return ((r + 1.0) * ((LUT_LEVELS - 1) / 2.0)).permute(0, 2, 3, 1)

    def forward_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Enhance uint8 ``(N, H, W, 3)`` frames to uint8, the curve applied by table lookup.

        The exported frame graph (``pipeline.deploy.export.FrameModel``) runs this: the map is
        estimated at low resolution, turned into table rows there (an affine map, so it commutes
        with the upsampling), upsampled, and each output pixel is one gather from the
        ``LUT_LEVELS x 256`` table instead of 8 full-resolution curve steps. Within one level of
        :meth:`forward` (see ``models.curves.LUT_LEVELS``).
        """
        # uint8 frames are cast to float first and the result to uint8 last, so a graph of
        # this method has no uint8 tensor inside (TensorRT refuses them, see FrameModel)
        x = frames.to(torch.float32)
        h, w = x.shape[1], x.shape[2]
        rows = upsample(self.forward_rows(x).permute(0, 3, 1, 2), (h, w))
        rows = torch.floor((rows + 0.5).clamp(0.0, LUT_LEVELS - 1.0))  # nearest row
        # exact in float32: the largest index, 4095 * 256 + 255, is below 2**24
        index = rows.permute(0, 2, 3, 1) * 256.0 + x
        return self.lut[index.to(torch.int64)].to(torch.uint8)
