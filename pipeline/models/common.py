"""Helpers the model files share: width checks, channel scaling, padding to a multiple,
casting a model to a reduced precision with its normalization kept in FP32, and the layout a
GPU runs fastest (channels-last, a GroupNorm whose statistics are split reductions)."""
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


class ReducedGroupNorm(nn.Module):
    """``nn.GroupNorm`` for inference on a GPU, the same function, computed differently.

    PyTorch's CUDA GroupNorm reduces each (sample, group) in one thread block: a batch of one
    1080p frame at the U-Net's first level (16 groups) keeps 16 blocks busy on a 132-SM GPU
    for the whole 2-million-element reduction, and it copies a channels-last input to NCHW
    first. Here the statistics are two per-channel reductions over ``(H, W)`` — PyTorch
    splits a long reduction across the whole GPU, in any memory format — accumulated in FP32
    from FP16/BF16 values read as they are (no FP32 copy of the activations), combined per
    group, and the normalization and affine are one multiply-add per element. Its weight and
    bias stay FP32 whatever the model is cast to.
    """

    def __init__(self, norm: nn.GroupNorm) -> None:
        super().__init__()
        self.num_groups = norm.num_groups
        self.eps = norm.eps
        channels = norm.num_channels
        weight = norm.weight if norm.affine else torch.ones(channels)
        bias = norm.bias if norm.affine else torch.zeros(channels)
        self.register_buffer("weight", weight.detach().float().clone())
        self.register_buffer("bias", bias.detach().float().clone())

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]
        # a model-wide .half() must not round the affine parameters: keep them FP32
        super()._apply(fn, recurse)
        self.weight = self.weight.float()
        self.bias = self.bias.float()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        groups = self.num_groups
        count = x.shape[2] * x.shape[3]
        mean = x.mean(dim=(2, 3), dtype=torch.float32)
        square = torch.linalg.vector_norm(x, 2, dim=(2, 3), dtype=torch.float32).square() / count
        group_mean = mean.view(n, groups, -1).mean(-1, keepdim=True)
        group_var = (square.view(n, groups, -1).mean(-1, keepdim=True)
                     - group_mean.square()).clamp_min(0.0)
        inv = torch.rsqrt(group_var + self.eps)
        scale = inv.expand(n, groups, c // groups).reshape(n, c) * self.weight
        shift = self.bias - group_mean.expand(n, groups, c // groups).reshape(n, c) * scale
        return torch.addcmul(shift.to(x.dtype)[..., None, None], x,
                             scale.to(x.dtype)[..., None, None])


def prepare_for_gpu(model: nn.Module) -> nn.Module:
    """``model`` (in place) laid out for a GPU: every ``nn.GroupNorm`` (bare, or kept in FP32
    by :func:`cast_model`) becomes a :class:`ReducedGroupNorm`, and the weights are
    channels-last, so the convolutions run on NHWC tensors (the tensor cores' layout) and the
    frame, NHWC already as it comes from the decoder, is never transposed."""
    device = next(model.parameters(), torch.empty(0)).device
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            inner = child.module if isinstance(child, FP32) else child
            if isinstance(inner, nn.GroupNorm):
                setattr(parent, name, ReducedGroupNorm(inner))
    return model.to(device=device, memory_format=torch.channels_last)
