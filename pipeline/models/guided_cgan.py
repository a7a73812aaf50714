"""``guided_cgan``: ambient lighting generation for flash images with a guided conditional GAN
(jozech/flash-to-ambient).

Generator: the VGG-16 encoder; a decoder of 3x3 stride-2 transposed convolutions sized to the
skip, concatenation, a 3x3 convolution and ReLU per level, a final 3x3 convolution and a
sigmoid. It is trained with an attention-weighted L1 (``att = 1 - mean_c |X - Y|``: the pixels
the flash changed least are trusted most) plus the adversarial loss of
``discriminators.GuidedDiscriminator`` (see ``losses.AdversarialLoss``).
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model
from .vgg16 import FlashModel


class GuidedUp(nn.Module):
    """3x3 stride-2 transposed conv to the skip's size and channels, concat, 3x3 conv + ReLU."""

    def __init__(self, c_in: int, c_skip: int) -> None:
        super().__init__()
        # output_padding 1 makes the 3x3/2 transposed conv exactly double the side, which is
        # the skip's size (the input is padded to a multiple of 16).
        self.up = nn.ConvTranspose2d(c_in, c_skip, 3, stride=2, padding=1, output_padding=1)
        self.conv = nn.Sequential(nn.Conv2d(2 * c_skip, c_skip, 3, padding=1),
                                  nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(x), skip], 1))


@register_model("guided_cgan")
class GuidedCGAN(FlashModel):
    """The guided cGAN's generator; ``forward`` returns the ambient estimate in [0, 1].
    Arguments as :class:`~pipeline.models.vgg16.FlashModel`."""

    def __init__(self, width: float = 1.0, encoder_weights: str | None = None) -> None:
        super().__init__(width, encoder_weights)
        s1, s2, s3, s4, bottleneck = self.encoder.skip_channels
        self.up4 = GuidedUp(bottleneck, s4)
        self.up3 = GuidedUp(s4, s3)
        self.up2 = GuidedUp(s3, s2)
        self.up1 = GuidedUp(s2, s1)
        self.head = nn.Conv2d(s1, 3, 3, padding=1)
        self.final = nn.Sigmoid()

    def to_image(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return raw
