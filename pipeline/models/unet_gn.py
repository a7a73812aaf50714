"""The GroupNorm U-Net for driving scenes (after YoungYoung619/Make-vehicles-see-in-the-dark).

Five levels of 32-64-128-256-512 channels (times ``width``). Level 1 has two 3x3 convolutions;
levels 2-5 a 3x3 then a 1x1 in place of the second 3x3, which keeps most of the receptive field
at a fraction of the deep levels' cost. Every convolution but the last is followed by GroupNorm
(``min(32, channels)`` groups) and a leaky ReLU of slope 0.2.
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model
from .common import check_width, pad_to_multiple

#: channels of the five levels at width 1
LEVEL_CHANNELS = (32, 64, 128, 256, 512)
#: channels of the head's hidden layers at width 1
HEAD_CHANNELS = 16
#: most groups of a GroupNorm
MAX_GROUPS = 32
#: four 2x2 poolings: the input's sides must be multiples of this
MULTIPLE = 2 ** (len(LEVEL_CHANNELS) - 1)
NEGATIVE_SLOPE = 0.2
#: the input is clamped to [eps, 1 - eps] (half a level of 8 bits) before its logit
LOGIT_EPS = 1.0 / 512


def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded so that ``min(32, c)`` GroupNorm groups divide it.

    Up to 32 any count works (one channel per group at most); above 32 it is rounded to a
    multiple of 32. Widths that are powers of two, such as 0.5 and 0.25, scale exactly.
    """
    value = channels * width
    if value <= MAX_GROUPS:
        return max(1, int(value + 0.5))
    return MAX_GROUPS * max(1, int(value / MAX_GROUPS + 0.5))


def conv_gn(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """Convolution (no bias: the GroupNorm's shift replaces it), GroupNorm, leaky ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.GroupNorm(min(MAX_GROUPS, out_channels), out_channels),
        nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True),
    )


class Up(nn.Module):
    """2x2 transposed convolution to the skip's channels, concatenation with the skip, then a
    1x1 and a 3x3 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        self.fuse = conv_gn(2 * out_channels, out_channels, 1)
        self.conv = conv_gn(out_channels, out_channels, 3)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fuse(torch.cat([self.up(x), skip], 1)))


@register_model("unet_gn")
class UNetGN(nn.Module):
    """GroupNorm U-Net; the output goes through a sigmoid, so it lies in [0, 1].

    A sigmoid rather than a clamp: a clamp has zero gradient wherever the output saturates,
    which stalls training on the blown-out highlights (headlights, street lamps) that night
    scenes are full of.

    Any ``H`` and ``W`` work: the input is padded on the bottom and right to a multiple of 16 by
    edge replication and the output cropped back. Replication rather than reflection because
    reflection needs the padding to be smaller than the side, which fails on tiny inputs.

    Args:
        width: channel multiplier (> 0); 0.5 gives 16-32-64-128-256 channels, 0.25 gives
            8-16-32-64-128 (see :func:`scaled_channels` for other values).
        input_skip: the last 1x1 convolution also sees the input, as logits. GroupNorm with
            one or two channels per group (every level here) removes each feature map's mean,
            and with it the image's absolute colour: without this path the network can only
            guess colours from relative structure, and it greyed real photos toward the
            training set's average tint. Through the skip the output starts at the input
            (identity initialization) and the network learns a local, per-channel correction
            in logit space — for dark pixels, where logit(x) ~ log(x), a gain that keeps hues.
    """

    def __init__(self, width: float = 1.0, input_skip: bool = True) -> None:
        super().__init__()
        self.width = check_width(width)
        ch = [scaled_channels(c, self.width) for c in LEVEL_CHANNELS]
        head = scaled_channels(HEAD_CHANNELS, self.width)
        self.channels = tuple(ch)

        self.enc1 = nn.Sequential(conv_gn(3, ch[0], 3), conv_gn(ch[0], ch[0], 3))
        self.enc2 = nn.Sequential(conv_gn(ch[0], ch[1], 3), conv_gn(ch[1], ch[1], 1))
        self.enc3 = nn.Sequential(conv_gn(ch[1], ch[2], 3), conv_gn(ch[2], ch[2], 1))
        self.enc4 = nn.Sequential(conv_gn(ch[2], ch[3], 3), conv_gn(ch[3], ch[3], 1))
        self.enc5 = nn.Sequential(conv_gn(ch[3], ch[4], 3), conv_gn(ch[4], ch[4], 1))
        self.pool = nn.MaxPool2d(2)
        self.up4 = Up(ch[4], ch[3])
        self.up3 = Up(ch[3], ch[2])
        self.up2 = Up(ch[2], ch[1])
        self.up1 = Up(ch[1], ch[0])
        self.input_skip = bool(input_skip)
        self.head = nn.Sequential(
            conv_gn(ch[0], head, 1),
            conv_gn(head, head, 3),
            nn.Conv2d(head + (3 if self.input_skip else 0), 3, 1),
        )
        if self.input_skip:
            # Start at the identity: the input's own logits pass straight through.
            with torch.no_grad():
                self.head[2].weight[:, head:, 0, 0] = torch.eye(3)
                self.head[2].weight[:, :head].mul_(0.1)
                self.head[2].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Enhance a ``(N, 3, H, W)`` batch in [0, 1]; the result is in [0, 1], same shape."""
        h, w = x.shape[-2:]
        x = pad_to_multiple(x, MULTIPLE)
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        e4 = self.enc4(self.pool(e3))
        e5 = self.enc5(self.pool(e4))
        d = self.up4(e5, e4)
        d = self.up3(d, e3)
        d = self.up2(d, e2)
        d = self.up1(d, e1)
        if not self.input_skip:
            return torch.sigmoid(self.head(d))[..., :h, :w]
        f = self.head[1](self.head[0](d))
        # in FP32: BF16 rounds 1 - 1/512 up to 1, whose logit is infinite
        skip = torch.logit(x.float().clamp(LOGIT_EPS, 1 - LOGIT_EPS)).to(x.dtype)
        return torch.sigmoid(self.head[2](torch.cat([f, skip], 1)))[..., :h, :w]
