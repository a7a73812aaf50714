"""Discriminators of the adversarial flash-to-ambient models, registered by name.

Both are conditional: they see the flash image and a candidate ambient image concatenated
along channels (6 channels) and return a map of real/fake logits, one per patch.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..registry import Registry
from .common import scaled

DISCRIMINATORS: Registry[nn.Module] = Registry("discriminator")
NEGATIVE_SLOPE = 0.2


def conv_stack(in_channels: int, layers: tuple[tuple[int, int], ...], kernel: int,
               width: float) -> nn.Sequential:
    """Convolutions of ``(channels, stride)`` (times ``width``), BatchNorm on all but the first,
    leaky ReLU 0.2 after each, then a convolution to one logit channel."""
    out: list[nn.Module] = []
    c_in = in_channels
    for i, (c, stride) in enumerate(layers):
        c = scaled(c, width)
        out.append(nn.Conv2d(c_in, c, kernel, stride=stride, padding=1, bias=i == 0))
        if i:
            out.append(nn.BatchNorm2d(c))
        out.append(nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True))
        c_in = c
    out.append(nn.Conv2d(c_in, 1, kernel, padding=1))
    return nn.Sequential(*out)


class ConditionalDiscriminator(nn.Module):
    """A convolution stack over the condition and the image concatenated along channels."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Patch logits for ``image`` given the flash ``condition`` (both (N, 3, H, W))."""
        return self.net(torch.cat([condition, image], 1))


@DISCRIMINATORS.register("guided")
class GuidedDiscriminator(ConditionalDiscriminator):
    """The guided cGAN's: five 3x3 stride-2 convolutions of 64→128→256→512→1024 channels
    (BatchNorm on all but the first, leaky ReLU 0.2), then a 3x3 convolution to 1 channel."""

    def __init__(self, in_channels: int = 6, width: float = 1.0) -> None:
        super().__init__(conv_stack(
            in_channels, ((64, 2), (128, 2), (256, 2), (512, 2), (1024, 2)), 3, width))


@DISCRIMINATORS.register("patchgan")
class PatchGAN(ConditionalDiscriminator):
    """pix2pix's 70x70 PatchGAN: 4x4 convolutions C64 (no norm) - C128 - C256 (stride 2) -
    C512 (stride 1), BatchNorm, leaky ReLU 0.2, then a 4x4 convolution to 1 channel."""

    def __init__(self, in_channels: int = 6, width: float = 1.0) -> None:
        super().__init__(conv_stack(
            in_channels, ((64, 2), (128, 2), (256, 2), (512, 1)), 4, width))


def create_discriminator(name: str, **kwargs: Any) -> nn.Module:
    """Build the discriminator registered as ``name`` (unknown names list the valid ones)."""
    return DISCRIMINATORS.build(name, where="loss.discriminator", **kwargs)
