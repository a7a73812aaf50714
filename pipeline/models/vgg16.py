"""The VGG-16 encoder shared by the flash-to-ambient models (``ratio_log``, ``guided_cgan``,
``pix2pix_vgg``), and helpers their decoders share.

conv1_1 … conv5_3 as in Simonyan & Zisserman (3x3 convolutions with bias, ReLU, 2x2 max-pool
between blocks). The skips are taken after the last ReLU of each block, before its pool:
64@H, 128@H/2, 256@H/4, 512@H/8, and the bottleneck 512@H/16 (block 5; its pool is not used).

Pretrained ImageNet weights cannot be downloaded here, so the models train from scratch by
default; a user who has torchvision's ``vgg16`` state dict (``features.N.weight``) passes it as
``encoder_weights=PATH`` and :func:`load_torchvision_vgg16` maps the keys. The input is
normalized with ImageNet's mean and standard deviation either way, as those weights expect.
"""
from __future__ import annotations

import abc
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .common import check_width, pad_to_multiple, scaled

#: (block, convolutions, channels at width 1)
BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
#: torchvision ``vgg16().features`` indices of the 13 convolutions, in order
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: four poolings: the input's sides must be multiples of this
MULTIPLE = 16


def conv_names() -> list[str]:
    """``conv1_1`` … ``conv5_3`` in order."""
    return [f"conv{b}_{i}" for b, n, _ in BLOCKS for i in range(1, n + 1)]


class VGG16Encoder(nn.Module):
    """VGG-16's convolutional part; ``forward`` returns the five feature maps (see module doc).

    Args:
        width: channel multiplier; 1 is VGG-16 itself (the only width torchvision weights fit),
            smaller values give a cheaper encoder of the same shape for embedded targets.
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        self.width = check_width(width)
        channels_in = 3
        self.skip_channels: list[int] = []
        for block, count, channels in BLOCKS:
            c = scaled(channels, self.width)
            for i in range(1, count + 1):
                self.add_module(f"conv{block}_{i}", nn.Conv2d(channels_in, c, 3, padding=1))
                channels_in = c
            self.skip_channels.append(c)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, 3, H, W)`` in [0, 1] (H, W multiples of 16) to ``[s1, s2, s3, s4, bottleneck]``."""
        h = (x - self.mean) / self.std
        features = []
        for block, count, _ in BLOCKS:
            if block > 1:
                h = F.max_pool2d(h, 2)
            for i in range(1, count + 1):
                h = F.relu(getattr(self, f"conv{block}_{i}")(h))
            features.append(h)
        return features


def load_torchvision_vgg16(encoder: VGG16Encoder, path: str | os.PathLike[str]) -> None:
    """Load torchvision's ``vgg16`` weights (a state dict with ``features.N.weight``/``bias``,
    the classifier ignored) into ``encoder``; a file that does not fit is a ``ConfigError``
    that says what is wrong."""
    from .checkpoints import load_state

    state = load_state(path)
    mapped: dict[str, Any] = {}
    missing = []
    for name, index in zip(conv_names(), TORCHVISION_CONV_INDICES):
        for part in ("weight", "bias"):
            key = f"features.{index}.{part}"
            if key not in state:
                missing.append(key)
            else:
                mapped[f"{name}.{part}"] = state[key]
    if missing:
        raise ConfigError(f"{str(path)!r} is not a torchvision vgg16 state dict: missing "
                          f"{', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}")
    own = encoder.state_dict()
    wrong = [f"{k} {tuple(v.shape)} (encoder {tuple(own[k].shape)})"
             for k, v in mapped.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        hint = "" if encoder.width == 1 else f"; they fit width 1 only, not {encoder.width:g}"
        raise ConfigError(f"{str(path)!r}: VGG-16 weights of the wrong shape: "
                          f"{', '.join(wrong[:3])}{hint}")
    encoder.load_state_dict(mapped)


class FlashModel(nn.Module, abc.ABC):
    """Base of the flash-to-ambient generators: encoder (optionally torchvision-initialized),
    a four-level decoder, padding to a multiple of 16 and cropping back.

    Subclasses set ``up4`` … ``up1`` (modules called as ``up(x, skip)``), ``head`` and
    ``final`` (the output activation), and define ``to_image(x, raw)``. ``forward_raw`` is
    the training target's space (a ratio map, or a tanh output in [-1, 1]).

    Args:
        width: channel multiplier of encoder and decoder (1: the published sizes).
        encoder_weights: torchvision ``vgg16`` weights to start the encoder from (width 1).
    """

    up4: nn.Module
    up3: nn.Module
    up2: nn.Module
    up1: nn.Module
    head: nn.Module
    final: nn.Module

    def __init__(self, width: float = 1.0, encoder_weights: str | None = None) -> None:
        super().__init__()
        self.encoder = VGG16Encoder(width)
        self.width = self.encoder.width
        if encoder_weights is not None:
            load_torchvision_vgg16(self.encoder, encoder_weights)

    def decode(self, features: list[torch.Tensor]) -> torch.Tensor:
        """The raw output at the padded input's size from the encoder's five feature maps."""
        e1, e2, e3, e4, e5 = features
        d = self.up4(e5, e4)
        d = self.up3(d, e3)
        d = self.up2(d, e2)
        return self.final(self.head(self.up1(d, e1)))

    @abc.abstractmethod
    def to_image(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """The [0, 1] ambient image from the flash input and the raw output."""

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output for a ``(N, 3, H, W)`` flash batch in [0, 1]."""
        h, w = x.shape[-2:]
        return self.decode(self.encoder(pad_to_multiple(x, MULTIPLE)))[..., :h, :w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The ambient estimate of a flash batch, in [0, 1], same shape."""
        return self.to_image(x, self.forward_raw(x))
