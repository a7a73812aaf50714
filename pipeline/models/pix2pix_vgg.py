"""``pix2pix_vgg``: the pix2pix-framework flash-to-ambient generator with a VGG-16 encoder
(the pix2pix era of jozech/flash-to-ambient).

Decoder as pix2pix's U-Net: per level a 4x4 stride-2 transposed convolution, BatchNorm, ReLU
(dropout 0.5 on the innermost level while training), concatenation with the skip; a final 3x3
convolution and tanh, so the raw output is in [-1, 1] as pix2pix's. Trained with L1 plus a
PatchGAN (``discriminators.PatchGAN``) that sees condition and image concatenated along
channels — not along the batch axis as the original code did, which showed the discriminator
flash images labelled both real and fake.
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model
from .vgg16 import FlashModel


class Pix2PixUp(nn.Module):
    """Transposed conv 4x4/2, BatchNorm, (dropout), ReLU; concatenated with the skip after."""

    def __init__(self, c_in: int, c_out: int, dropout: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1,
                                                      bias=False),
                                   nn.BatchNorm2d(c_out)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers.append(nn.ReLU(inplace=True))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.block(x), skip], 1)


@register_model("pix2pix_vgg")
class Pix2PixVGG(FlashModel):
    """pix2pix generator with a VGG-16 encoder; ``forward`` maps its tanh output to [0, 1].
    Arguments as :class:`~pipeline.models.vgg16.FlashModel`."""

    def __init__(self, width: float = 1.0, encoder_weights: str | None = None) -> None:
        super().__init__(width, encoder_weights)
        s1, s2, s3, s4, bottleneck = self.encoder.skip_channels
        self.up4 = Pix2PixUp(bottleneck, s4, dropout=True)
        self.up3 = Pix2PixUp(2 * s4, s3)
        self.up2 = Pix2PixUp(2 * s3, s2)
        self.up1 = Pix2PixUp(2 * s2, s1)
        self.head = nn.Conv2d(2 * s1, 3, 3, padding=1)
        self.final = nn.Tanh()

    def to_image(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return (raw + 1) * 0.5
