"""Training losses: Zero-DCE's zero-reference losses and restoration losses for paired data.

Both loss modules return ``(total, parts)``: the weighted sum to back-propagate and a dict of the
unweighted terms (for the training log).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError


def spatial_consistency(x: torch.Tensor, y: torch.Tensor, patch: int = 4) -> torch.Tensor:
    """Zero-DCE's spatial consistency loss ``L_spa``.

    The grey images are averaged over ``patch``x``patch`` regions; the loss is the mean squared
    change, from input to output, of each region's difference to its four neighbours (zero
    padding at the border, as the official ``conv2d(padding=1)`` does).
    """
    xp = F.avg_pool2d(x.mean(1, keepdim=True), patch)
    yp = F.avg_pool2d(y.mean(1, keepdim=True), patch)

    def diffs(t: torch.Tensor) -> list[torch.Tensor]:
        p = F.pad(t, (1, 1, 1, 1))
        c = p[..., 1:-1, 1:-1]
        return [c - p[..., 1:-1, :-2], c - p[..., 1:-1, 2:], c - p[..., :-2, 1:-1],
                c - p[..., 2:, 1:-1]]

    return sum((a - b) ** 2 for a, b in zip(diffs(xp), diffs(yp))).mean()


def exposure_control(y: torch.Tensor, patch: int = 16, level: float = 0.6) -> torch.Tensor:
    """Zero-DCE's exposure control loss ``L_exp``: mean squared distance of the grey level of
    each ``patch``x``patch`` region to ``level``."""
    return ((F.avg_pool2d(y.mean(1, keepdim=True), patch) - level) ** 2).mean()


def colour_constancy(y: torch.Tensor) -> torch.Tensor:
    """Zero-DCE's colour constancy loss ``L_col``: for each image, the root of the summed
    squared pairwise gaps between its mean R, G, B squared (the official form); batch mean."""
    m = y.mean((2, 3))
    r, g, b = m[:, 0], m[:, 1], m[:, 2]
    # The tiny offset keeps the gradient finite for a perfectly grey image (sqrt'(0) = inf).
    return torch.sqrt((r - g) ** 4 + (r - b) ** 4 + (g - b) ** 4 + 1e-12).mean()


def illumination_smoothness(maps: torch.Tensor) -> torch.Tensor:
    """Zero-DCE's illumination smoothness loss ``L_tvA`` of the curve maps, as the official
    ``L_TV``: ``2 * (sum dh^2 / count_h + sum dw^2 / count_w) / batch``."""
    n, _, h, w = maps.shape
    dh = ((maps[..., 1:, :] - maps[..., :-1, :]) ** 2).sum()
    dw = ((maps[..., :, 1:] - maps[..., :, :-1]) ** 2).sum()
    return 2 * (dh / max(1, (h - 1) * w) + dw / max(1, h * (w - 1))) / n


class ZeroReferenceLoss(nn.Module):
    """The four Zero-DCE losses, weighted as the authors' code: ``spa 1, exp 10, col 5,
    tv 200`` (Zero-DCE; the Zero-DCE++ code uses ``tv 1600``).

    ``forward(x, y, maps)`` takes the input, the enhanced output and the curve maps.
    """

    def __init__(self, w_spa: float = 1.0, w_exp: float = 10.0, w_col: float = 5.0,
                 w_tv: float = 200.0, exposure_patch: int = 16, exposure_level: float = 0.6,
                 spatial_patch: int = 4) -> None:
        super().__init__()
        for name, value in (("w_spa", w_spa), ("w_exp", w_exp), ("w_col", w_col),
                            ("w_tv", w_tv)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
        if not 0 < exposure_level < 1:
            raise ConfigError(f"exposure_level must be in (0, 1), got {exposure_level!r}")
        self.weights = {"spa": w_spa, "exp": w_exp, "col": w_col, "tv": w_tv}
        self.exposure_patch = int(exposure_patch)
        self.exposure_level = float(exposure_level)
        self.spatial_patch = int(spatial_patch)

    def forward(self, x: torch.Tensor, y: torch.Tensor,
                maps: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts = {
            "spa": spatial_consistency(x, y, self.spatial_patch),
            "exp": exposure_control(y, self.exposure_patch, self.exposure_level),
            "col": colour_constancy(y),
            "tv": illumination_smoothness(maps),
        }
        total = sum(self.weights[k] * v for k, v in parts.items())
        return total, {k: v.detach() for k, v in parts.items()}


def charbonnier(y: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Charbonnier loss ``mean(sqrt((y - t)^2 + eps^2))``: L1 that is smooth at zero."""
    return torch.sqrt((y - target) ** 2 + eps * eps).mean()


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device,
                     dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma * sigma))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, window: int, sigma: float,
               data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    c = x.shape[1]
    win = _gaussian_window(window, sigma, c, x.device, x.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)  # 'valid': no border effects, as skimage crops

    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return lum * cs, cs


def ssim_torch(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
               data_range: float = 1.0) -> torch.Tensor:
    """Differentiable SSIM (Wang et al. 2004; Gaussian window 11, sigma 1.5), batch mean."""
    return _ssim_maps(x, y, window, sigma, data_range)[0].mean()


#: MS-SSIM scale weights of Wang et al. 2003
MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_torch(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5,
                  data_range: float = 1.0) -> torch.Tensor:
    """Differentiable MS-SSIM over as many of the 5 scales as the image size allows (each
    scale's side must be at least the window), weights renormalized."""
    levels = 1
    side = min(x.shape[-2:])
    while levels < len(MS_WEIGHTS) and side // (2 ** levels) >= window:
        levels += 1
    weights = torch.tensor(MS_WEIGHTS[:levels], device=x.device, dtype=x.dtype)
    weights = weights / weights.sum()
    values = []
    for i in range(levels):
        s, cs = _ssim_maps(x, y, window, sigma, data_range)
        # relu: contrast-structure can dip below 0 early in training, and a fractional power
        # of a negative number is NaN.
        values.append(torch.relu(s.mean((1, 2, 3)) if i == levels - 1 else cs.mean((1, 2, 3))))
        if i < levels - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stacked = torch.stack(values, 0) + 1e-8
    return torch.prod(stacked ** weights[:, None], 0).mean()


class RestorationLoss(nn.Module):
    """Charbonnier (or L1) plus ``w_ssim * (1 - SSIM)`` (or MS-SSIM) against a clean target.

    Deliberately no raw-PSNR term (the GroupNorm U-Net authors add one; it lowers PSNR in
    practice by over-weighting already good images).
    """

    def __init__(self, pixel: str = "charbonnier", w_pixel: float = 1.0, w_ssim: float = 0.2,
                 ssim: str = "ssim", eps: float = 1e-3) -> None:
        super().__init__()
        if pixel not in ("charbonnier", "l1"):
            raise ConfigError(f"pixel must be charbonnier or l1, got {pixel!r}")
        if ssim not in ("ssim", "ms_ssim"):
            raise ConfigError(f"ssim must be ssim or ms_ssim, got {ssim!r}")
        self.pixel, self.ssim, self.eps = pixel, ssim, float(eps)
        self.w_pixel, self.w_ssim = float(w_pixel), float(w_ssim)

    def forward(self, y: torch.Tensor,
                target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        pix = charbonnier(y, target, self.eps) if self.pixel == "charbonnier" else \
            (y - target).abs().mean()
        sim = ssim_torch(y, target) if self.ssim == "ssim" else ms_ssim_torch(y, target)
        total = self.w_pixel * pix + self.w_ssim * (1 - sim)
        return total, {"pixel": pix.detach(), "ssim": sim.detach()}


class RatioLogLoss(nn.Module):
    """MSE between a predicted and the true log-ratio map (``models.ratio_log``), optionally
    weighted per pixel by ``exp(attention_scale * |r - 0.5|) / 10``: the ratio paper's
    attention on the pixels the flash changed most (r = 0.5 means no change).

    ``forward(r_hat, r)`` takes the prediction and the target map.
    """

    def __init__(self, attention: bool = False, attention_scale: float = 4.6) -> None:
        super().__init__()
        if not isinstance(attention, bool):
            raise ConfigError(f"attention must be true or false, got {attention!r}")
        self.attention = attention
        self.attention_scale = float(attention_scale)

    def forward(self, r_hat: torch.Tensor,
                r: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        err = (r_hat - r) ** 2
        mse = err.mean()
        if not self.attention:
            return mse, {"mse": mse.detach()}
        weight = torch.exp(self.attention_scale * (r - 0.5).abs()) / 10
        total = (weight * err).mean()
        return total, {"mse": mse.detach(), "weighted": total.detach()}


def flash_attention(flash: torch.Tensor, ambient: torch.Tensor) -> torch.Tensor:
    """The guided cGAN's attention map ``1 - mean_c |X - Y|`` (N, 1, H, W): 1 where the flash
    left the scene as the ambient light shows it."""
    return 1 - (flash - ambient).abs().mean(1, keepdim=True)


class AdversarialLoss(nn.Module):
    """A reconstruction term plus a conditional GAN, for the flash-to-ambient generators.

    Owns the discriminator and its optimizer: :meth:`generator_loss` first updates the
    discriminator on (flash, ambient) as real and (flash, generated) as fake (BCE with logits),
    then returns ``w_rec * reconstruction + w_adv * BCE(D(flash, generated), real)`` for the
    generator. Both discriminators are conditional (channel-wise concatenation).

    Args:
        discriminator: its block, ``{type: guided|patchgan, width: ...}``.
        reconstruction: ``l1`` or ``attention_l1`` (the guided cGAN's ``L1(Ŷ⊙att, Y⊙att)``).
        w_rec, w_adv: weights; 100 and 1 as pix2pix (L1 keeps the colours, the GAN the detail).
        lr, betas: the discriminator's Adam (pix2pix: 2e-4, (0.5, 0.999)).
    """

    def __init__(self, discriminator: dict | None = None, reconstruction: str = "l1",
                 w_rec: float = 100.0, w_adv: float = 1.0, lr: float = 2e-4,
                 betas: tuple[float, float] | list[float] = (0.5, 0.999)) -> None:
        super().__init__()
        from ..models.discriminators import create_discriminator

        spec = dict(discriminator or {"type": "patchgan"})
        if "type" not in spec:
            raise ConfigError("loss.discriminator needs a type: guided or patchgan")
        if reconstruction not in ("l1", "attention_l1"):
            raise ConfigError(f"reconstruction must be l1 or attention_l1, "
                              f"got {reconstruction!r}")
        self.discriminator = create_discriminator(spec.pop("type"), **spec)
        self.reconstruction = reconstruction
        self.w_rec, self.w_adv = float(w_rec), float(w_adv)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=float(lr),
                                          betas=tuple(float(b) for b in betas))

    def _bce(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)

    def generator_loss(self, flash: torch.Tensor, fake: torch.Tensor, ambient: torch.Tensor,
                       update_discriminator: bool = True,
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        if update_discriminator:
            self.optimizer.zero_grad(set_to_none=True)
            d_loss = 0.5 * (self._bce(self.discriminator(flash, ambient), True)
                            + self._bce(self.discriminator(flash, fake.detach()), False))
            d_loss.backward()
            self.optimizer.step()
            parts["d"] = d_loss.detach()
        if self.reconstruction == "attention_l1":
            att = flash_attention(flash, ambient)
            rec = (fake * att - ambient * att).abs().mean()
        else:
            rec = (fake - ambient).abs().mean()
        # The discriminator's own gradients from this term are cleared at its next update.
        adv = self._bce(self.discriminator(flash, fake), True)
        total = self.w_rec * rec + self.w_adv * adv
        parts.update(rec=rec.detach(), adv=adv.detach())
        return total, parts
