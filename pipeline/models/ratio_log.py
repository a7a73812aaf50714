"""``ratio_log``: flash-to-ambient translation through a log-ratio map (the ratio-log paper,
jarchv/ratio-log).

The network predicts ``r = 0.5 * log2((Y + 1) / (X + 1)) + 0.5`` for flash ``X`` and ambient
``Y`` in [0, 1] — a smooth, bounded quantity (in [0, 1]) that is mostly the illumination change —
and the ambient image is recovered exactly as ``Y = clamp((X + 1) * 2^(2r - 1) - 1, 0, 1)``.

Decoder, per level: a 4x4 stride-2 transposed convolution, concatenation with the encoder's
skip, 3x3 convolutions with reflection padding and leaky ReLU 0.2 — 1024→512→512→512,
512→256→256, 256→128→128, 128→64→64 — then a linear 1x1 convolution to 3 channels.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import register_model
from .vgg16 import FlashModel

NEGATIVE_SLOPE = 0.2


def ratio_target(flash: torch.Tensor, ambient: torch.Tensor) -> torch.Tensor:
    """The log-ratio map ``0.5 * log2((Y + 1) / (X + 1)) + 0.5`` (in [0, 1] for inputs in
    [0, 1])."""
    return 0.5 * torch.log2((ambient + 1) / (flash + 1)) + 0.5


def recover_ambient(flash: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`ratio_target`: ``clamp((X + 1) * 2^(2r - 1) - 1, 0, 1)``."""
    # exp((2r - 1) ln 2), not exp2: ONNX has no exp2 at opset 17
    return ((flash + 1) * torch.exp((2 * ratio - 1) * math.log(2.0)) - 1).clamp(0, 1)


def _conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, padding_mode="reflect"),
                         nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True))


class RatioUp(nn.Module):
    """Transposed conv 4x4/2 to the skip's channels, concat, then ``convs`` 3x3 convolutions."""

    def __init__(self, c_in: int, c_skip: int, convs: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_skip, 4, stride=2, padding=1)
        layers = [_conv(2 * c_skip, c_skip)] + [_conv(c_skip, c_skip) for _ in range(convs - 1)]
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([self.up(x), skip], 1))


@register_model("ratio_log")
class RatioLog(FlashModel):
    """VGG-16 encoder, log-ratio decoder; ``forward`` returns the recovered ambient image.
    Arguments as :class:`~pipeline.models.vgg16.FlashModel`."""

    def __init__(self, width: float = 1.0, encoder_weights: str | None = None) -> None:
        super().__init__(width, encoder_weights)
        s1, s2, s3, s4, bottleneck = self.encoder.skip_channels
        self.up4 = RatioUp(bottleneck, s4, 3)
        self.up3 = RatioUp(s4, s3, 2)
        self.up2 = RatioUp(s3, s2, 2)
        self.up1 = RatioUp(s2, s1, 2)
        self.head = nn.Conv2d(s1, 3, 1)
        self.final = nn.Identity()
        # r = 0.5 is "no change": start from the identity (the flash image itself) rather
        # than from r = 0, which recovers a black image.
        nn.init.constant_(self.head.bias, 0.5)

    def to_image(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return recover_ambient(x, raw)
