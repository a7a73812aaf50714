"""Helpers the model files share: width checks, channel scaling, padding to a multiple, and
casting a model to a reduced precision with its normalization kept in FP32."""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

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


#: reduced precisions a model can be cast to
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: modules kept in FP32 inside a reduced-precision model (a variance of FP16 values overflows)
FP32_MODULES = (nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm, nn.BatchNorm2d)


class FP32(nn.Module):
    """A module run in FP32 inside a reduced-precision model: input cast up, output back."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.float()).to(x.dtype)


def cast_model(model: nn.Module, precision: str) -> nn.Module:
    """``model`` (in place) in ``precision`` (``fp32``, ``fp16``, ``bf16``), its normalization
    layers wrapped to run in FP32. Arithmetic a reduced precision cannot hold is kept in FP32
    by the models themselves (Zero-DCE++'s table rows reach 4095, lowres_guided's luma sums
    reach 4 million: both cast up before it)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return model.float()
    model.to(PRECISIONS[precision])
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FP32_MODULES):
                setattr(parent, name, FP32(child))
    return model
