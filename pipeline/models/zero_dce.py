"""Zero-DCE (Guo et al., CVPR 2020): a 7-layer net estimates 8 pixel-wise curve maps.

Layer names and shapes follow the official code (Li-Chongyi/Zero-DCE) so its checkpoint loads
unchanged: ``e_conv1`` ... ``e_conv7``, 3x3 convolutions with bias, 79,416 parameters.
"""
from __future__ import annotations

import torch
from torch import nn

from . import register_model
from .curves import ITERATIONS, apply_curves

#: feature channels of every hidden layer of the official net
FEATURES = 32


@register_model("zero_dce")
class ZeroDCE(nn.Module):
    """Zero-DCE: ``x`` is enhanced by 8 curve steps, each with its own 3-channel map.

    The net: seven 3x3 convolutions of 32 channels with ReLU, symmetric skip concatenations
    (``e_conv5`` sees ``[x3, x4]``, ``e_conv6`` sees ``[x2, x5]``, ``e_conv7`` sees
    ``[x1, x6]``) and a tanh to 24 channels, the 8 maps in order.
    """

    def __init__(self) -> None:
        super().__init__()
        f = FEATURES
        self.e_conv1 = nn.Conv2d(3, f, 3, 1, 1)
        self.e_conv2 = nn.Conv2d(f, f, 3, 1, 1)
        self.e_conv3 = nn.Conv2d(f, f, 3, 1, 1)
        self.e_conv4 = nn.Conv2d(f, f, 3, 1, 1)
        self.e_conv5 = nn.Conv2d(2 * f, f, 3, 1, 1)
        self.e_conv6 = nn.Conv2d(2 * f, f, 3, 1, 1)
        self.e_conv7 = nn.Conv2d(2 * f, 3 * ITERATIONS, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)

    def estimate(self, x: torch.Tensor) -> torch.Tensor:
        """The curve maps ``r`` of ``x``: ``(N, 24, H, W)`` in [-1, 1], 8 maps in step order."""
        x1 = self.relu(self.e_conv1(x))
        x2 = self.relu(self.e_conv2(x1))
        x3 = self.relu(self.e_conv3(x2))
        x4 = self.relu(self.e_conv4(x3))
        x5 = self.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = self.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        return torch.tanh(self.e_conv7(torch.cat([x1, x6], 1)))

    @staticmethod
    def apply_curves(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Apply the 8 curve steps of maps ``r`` (from :meth:`estimate`) to ``x``."""
        return apply_curves(x, r, ITERATIONS)

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The enhanced image and the maps that made it (for the smoothness loss)."""
        r = self.estimate(x)
        # The curve keeps [0, 1] in exact arithmetic; the clamp only removes float32 rounding
        # excursions of ~1e-7 so that the output contract holds exactly.
        return self.apply_curves(x, r).clamp(0.0, 1.0), r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Enhance a ``(N, 3, H, W)`` batch in [0, 1]; the result is in [0, 1]."""
        return self.forward_with_maps(x)[0]
