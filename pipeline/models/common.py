"""Helpers the model files share: width checks, channel scaling, padding to a multiple."""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from ..errors import ConfigError


def check_width(width: object) -> float:
    """A channel multiplier: a finite number > 0 (1 is a model's published size)."""
    if isinstance(width, bool) or not isinstance(width, numbers.Real):
        raise ConfigError(f"width must be a number, got {width!r}")
    if not math.isfinite(width) or width <= 0:
        raise ConfigError(f"width must be a finite number > 0, got {width!r}")
    return float(width)


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 4."""
    return max(4, int(round(channels * width)))


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom/right by edge replication to a multiple of ``multiple``.

    Edge replication rather than reflection: reflection needs the padding to be smaller than
    the side, which fails on tiny inputs. While tracing for ONNX export the sizes are symbolic,
    so it always pads (by zero where the size is already a multiple), or the trace would bake
    in this input's branch.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = -h % multiple, -w % multiple
    if torch.jit.is_tracing() or pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x
