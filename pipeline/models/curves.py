"""Zero-DCE light-enhancement curves: the exact iterative form and a fast 2-D lookup table.

The curve of the official Zero-DCE code is applied ``iterations`` times as
``x = x + r * (x*x - x)`` with ``r`` in [-1, 1] (``r = -alpha`` of the paper's
``x + alpha * x * (1 - x)``); it maps [0, 1] into [0, 1] for every such ``r``.

With one map for all steps (Zero-DCE++), the output is a fixed function ``f(x, r)`` of the input
and the map. On uint8 input ``x`` takes 256 values, so ``f`` can be tabulated over ``x`` and a
fine quantisation of ``r``: :class:`CurveLUT`. Its table is indexed ``[r_level, x]`` so that a
smooth map (neighbouring pixels share ``r``) reads neighbouring table entries.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np
import torch

from ..errors import ConfigError

#: number of curve applications of the official Zero-DCE and Zero-DCE++
ITERATIONS = 8

#: default number of ``r`` levels of the lookup table. The steepest slope of the 8-step curve is
#: 510 output levels per unit of ``r`` (at ``r = -1``), so nearest-level lookup errs by at most
#: ``510 / (levels - 1)`` levels before the final rounding: 0.125 at 4096, i.e. the uint8 output
#: is within one level of the exact curve's. The table is 1 MiB of uint8.
LUT_LEVELS = 4096


def apply_curves(x: torch.Tensor, r: torch.Tensor, iterations: int = ITERATIONS) -> torch.Tensor:
    """Apply the curve ``x = x + r * (x*x - x)`` ``iterations`` times (the exact form).

    Args:
        x: ``(N, C, H, W)`` image in [0, 1].
        r: curve maps, broadcastable to ``x``: ``C`` channels for one map used at every step
            (Zero-DCE++), or ``C * iterations`` channels for one map per step, in order
            (Zero-DCE: the 24-channel output split into 8 three-channel maps).

    Returns:
        the enhanced image, same shape as ``x``, in [0, 1] for ``r`` in [-1, 1].
    """
    channels = x.shape[1]
    if r.shape[1] == channels * iterations and iterations > 1:
        maps = torch.split(r, channels, dim=1)
    elif r.shape[1] in (channels, 1):
        maps = (r,) * iterations
    else:
        raise ConfigError(
            f"curve maps have {r.shape[1]} channels; expected {channels} (one map for all "
            f"steps) or {channels * iterations} (one per step) for a {channels}-channel image"
        )
    for step in maps:
        x = x + step * (x * x - x)
    return x


def apply_curves_uint8(frames: np.ndarray, r: np.ndarray, iterations: int = ITERATIONS) -> np.ndarray:
    """The exact iterative curve on uint8 frames, in float64, rounded back to uint8.

    The reference that :class:`CurveLUT` is checked against; ``r`` broadcasts to ``frames``
    (e.g. ``(N, H, W, 3)`` for ``(N, H, W, 3)`` frames).
    """
    x = frames.astype(np.float64) / 255.0
    r = np.asarray(r, dtype=np.float64)
    for _ in range(iterations):
        x = x + r * (x * x - x)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def curve_table(levels: int, iterations: int) -> np.ndarray:
    """``table[i, x] = round(255 * f(x / 255, r_i))``, ``r_i = -1 + 2 i / (levels - 1)``: the
    ``iterations``-step curve over ``levels`` values of ``r`` and the 256 input levels (uint8,
    read-only, cached)."""
    r = np.linspace(-1.0, 1.0, levels)[:, None]
    x = np.broadcast_to(np.arange(256, dtype=np.float64) / 255.0, (levels, 256)).copy()
    for _ in range(iterations):
        x = x + r * (x * x - x)
    table = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)
    table.flags.writeable = False  # shared by every CurveLUT of this size
    return table


class CurveLUT:
    """The ``iterations``-step curve with one map for all steps, as a 2-D uint8 lookup table.

    ``table[i, x]`` is ``round(255 * f(x / 255, r_i))`` with ``r_i = -1 + 2 i / (levels - 1)``.
    A pixel's ``r`` is looked up at the nearest level (:meth:`apply`, :meth:`apply_torch`), or
    interpolated linearly between the two nearest (``interpolate=True``); either way the uint8
    result is within one level of rounding the exact curve (see ``LUT_LEVELS``).

    Args:
        levels: number of ``r`` levels over [-1, 1] (>= 2).
        iterations: number of curve applications the table folds together.
    """

    def __init__(self, levels: int = LUT_LEVELS, iterations: int = ITERATIONS) -> None:
        if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= 32767:
            # 32767: cv2.remap reads tables of at most SHRT_MAX rows.
            raise ConfigError(f"levels must be an integer in [2, 32767], got {levels!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ConfigError(f"iterations must be a positive integer, got {iterations!r}")
        self.levels = levels
        self.iterations = iterations
        self.table = curve_table(levels, iterations)
        self._table_torch: torch.Tensor | None = None

    def index(self, r: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Fractional table row of each ``r`` value (an affine map: it commutes with resizing,
        so a low-resolution map can be converted before it is upsampled)."""
        half = (self.levels - 1) / 2.0
        return (r + 1.0) * half

    def apply(self, frames: np.ndarray, r: np.ndarray, interpolate: bool = False) -> np.ndarray:
        """Curve uint8 ``frames`` of shape ``(..., W, C)`` with maps ``r`` of the same shape.

        Returns uint8 of the frames' shape. ``interpolate`` reads ``r`` linearly between the two
        nearest table rows instead of the nearest one (about 3x slower, barely more accurate).
        """
        index = self.index(np.asarray(r, dtype=np.float32))
        return self.apply_index(frames, np.asarray(index, dtype=np.float32), interpolate)

    def apply_index(
        self, frames: np.ndarray, index: np.ndarray, interpolate: bool = False
    ) -> np.ndarray:
        """Like :meth:`apply`, with ``r`` already converted to table rows by :meth:`index`.

        Runs as ``cv2.remap`` over the table, treating the frames as one single-channel
        ``(rows, W * C)`` image: it is SIMD, multi-threaded, and clamps out-of-range rows.
        """
        if frames.dtype != np.uint8:
            raise ConfigError(f"frames must be uint8, got {frames.dtype}")
        if index.shape != frames.shape:
            raise ConfigError(
                f"curve map shape {tuple(index.shape)} does not match frames {tuple(frames.shape)}"
            )
        if frames.ndim < 2 or frames.size == 0:
            raise ConfigError(f"frames must be a non-empty array of >= 2 dimensions, got "
                              f"{tuple(frames.shape)}")
        cols = frames.shape[-1] * (frames.shape[-2] if frames.ndim > 2 else 1)
        map_x = frames.reshape(-1, cols).astype(np.float32)
        map_y = np.ascontiguousarray(index, dtype=np.float32).reshape(-1, cols)
        mode = cv2.INTER_LINEAR if interpolate else cv2.INTER_NEAREST
        out = cv2.remap(self.table, map_x, map_y, mode, borderMode=cv2.BORDER_REPLICATE)
        return out.reshape(frames.shape)

    def apply_torch(
        self, x: torch.Tensor, r: torch.Tensor, interpolate: bool = False
    ) -> torch.Tensor:
        """Curve a uint8 tensor ``x`` with maps ``r`` of the same shape (any layout); uint8 out.

        A gather from the table on ``x``'s device: the form for devices where ``cv2`` is not
        an option.
        """
        if x.dtype != torch.uint8:
            raise ConfigError(f"x must be uint8, got {x.dtype}")
        if self._table_torch is None or self._table_torch.device != x.device:
            self._table_torch = torch.from_numpy(self.table.copy()).to(x.device).reshape(-1)
        table = self._table_torch
        pos = self.index(r.float()).clamp_(0, self.levels - 1)
        xi = x.long()
        if not interpolate:
            return table[pos.round_().long() * 256 + xi]
        lo = pos.floor().clamp_(max=self.levels - 2)
        frac = pos - lo
        base = lo.long() * 256 + xi
        a, b = table[base].float(), table[base + 256].float()
        return (a + (b - a) * frac).round_().to(torch.uint8)
