"""A low-resolution network with a full-resolution guided transform: the real-time quality model.

The network never sees the full frame. The frame is box-averaged by ``scale`` (8: a 720p frame
becomes 160x90, 1080p 240x135 — and the sensor noise drops by the same factor), a small
GroupNorm U-Net enhances that view, conditioned on a target ``exposure``, and predicts, per
low-resolution pixel, how much to smooth. A fast guided filter (He & Sun 2015, the upsampler of
Deep Guided Filter, Wu et al. 2018) then fits, in every small window of the low-resolution
result, a linear map from the input's luma to each output channel:

    out_c(x) = A_c(x) * Y(x) + B_c(x)        (A, B upsampled bilinearly from the low grid)

One multiply-add per channel at full resolution, whatever the network costs. Why this and not
the alternatives (see the model card ``weights/lowres_guided.md``):

* the guide is the **luma** of the full frame, not its colour: the output's chroma comes from
  the low-resolution result (smooth: chroma noise, most of what shows at night, is gone);
* the guided filter's regularization ``eps`` is predicted per pixel: where the network makes it
  large (flat dark sky, asphalt) ``A`` goes to 0 and the output is the smooth low-resolution
  result — the luma noise and the codec's 8x8 blocks are not transferred; at edges ``A``
  carries the full-resolution detail;
* every op exports to plain ONNX that TensorRT 10.3 parses (Pad edge, AveragePool, Resize
  linear with constant scales, Conv, InstanceNormalization, elementwise): no GridSample (a
  bilateral grid's 3-D slicing), no per-pixel 3-D LUT gather;
* a CPU host applies ``A`` and ``B`` itself (:meth:`forward_rows` gives them; resize and
  multiply-add in OpenCV), and a video enhancer smooths them over time (reset on a cut), so
  brightness does not pump when a headlight passes.

``exposure`` is the target mean brightness of the result in [0, 1] (0.25 dusk-like, 0.45
daylight-like); ``AUTO`` (-1) lets the network choose, as the supervised models do.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import register_model
from .common import check_width, pad_to_multiple
from .unet_gn import Up, conv_gn, scaled_channels

#: channels of the network's three levels at width 1
LEVEL_CHANNELS = (16, 32, 64)
#: ``exposure`` value that lets the network choose the brightness itself
AUTO = -1.0
#: named ``exposure`` targets (mean brightness): with the shipped weights the seven real night
#: photos come out at mean grey 77 / 92 / 112 (``auto``: 115)
EXPOSURE_PRESETS = {"night": 0.25, "dusk": 0.35, "daylight": 0.45}
#: the input's logits are clamped to [eps, 1 - eps] (half an 8-bit level)
LOGIT_EPS = 1.0 / 512
#: OpenCV's fixed-point RGB -> grey weights (``cv2.COLOR_RGB2GRAY``), so a host computing the
#: guide with OpenCV gets exactly the graph's luma
GREY_WEIGHTS = (4899.0, 9617.0, 1868.0)
GREY_SHIFT = 16384.0
#: the predicted eps: ``EPS_SCALE * softplus(logit) + EPS_MIN`` (luma variances are ~1e-4..1e-2)
EPS_SCALE = 0.01
EPS_MIN = 1e-5
#: codec-block smoothing of the guide (:func:`deblock_luma`): a block counts as flat when its
#: mean differs from each neighbour's by less than ``DEBLOCK_FLOOR + DEBLOCK_SLOPE * mean``
DEBLOCK_FLOOR = 4.0 / 255.0
DEBLOCK_SLOPE = 0.3
#: the default share of the within-block variation removed in flat blocks (``denoise``); with
#: the bilateral filter below doing most of the denoising, 0.3 (alone, 0.8 had been the default)
DENOISE = 0.3
#: the guide's edge-preserving filter (``bilateral``): OpenCV's 3x3 bilateral filter
#: (``cv2.bilateralFilter(y, 3, k * sigma, 1)``: the centre and its 4 neighbours, space sigma 1)
#: whose range sigma is ``k`` times the frame's own noise sigma (:func:`noise_sigma_levels`),
#: so a clean frame is left nearly as it is and a grainy one is smoothed where it is flat.
#: On the real night photos noise sigma 2.37 -> 1.65, and the brackets' SSIM 0.712 -> 0.721
#: (with ``denoise`` 0.8 -> 0.3)
BILATERAL = 5.0
#: the range sigma's floor, in grey levels (a frame without measurable noise)
BILATERAL_MIN_SIGMA = 0.5
#: Immerkaer's noise-estimation kernel (the difference of two Laplacians: blind to planes and
#: ramps, so what it measures is mostly noise)
IMMERKAER = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))
#: ... measured on every 8th row (:func:`noise_sigma_levels`: 1080p gives 260,000 samples)
NOISE_ROW_STEP = 8
#: the default tone curve ``out ** TONE`` after the transform (see ``tone``)
TONE = 1.0


def luma_u8(x: torch.Tensor) -> torch.Tensor:
    """The grey level OpenCV computes from 8-bit RGB, as a float in [0, 1]: ``(N, 1, H, W)``.

    ``x`` holds 8-bit values scaled to [0, 1]; all the arithmetic is exact in float32.
    """
    rgb = torch.round(x.float() * 255.0)  # FP32 even in a half model: sums reach 4 million
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    wr, wg, wb = GREY_WEIGHTS
    return torch.floor((r * wr + g * wg + b * wb + GREY_SHIFT / 2) / GREY_SHIFT) / 255.0


def deblock_luma(y: torch.Tensor, block_means: torch.Tensor, scale: int,
                 denoise: float = 0.0) -> torch.Tensor:
    """The luma ``y`` ``(N, 1, H, W)`` with the steps between its ``scale``-pixel blocks' means
    smoothed where the blocks are flat, and ``denoise`` of the variation inside them removed.

    ``block_means`` ``(N, 1, h, w)`` is the low view of ``y`` (one value per block: with
    ``scale`` 8 these are exactly the 8x8 transform blocks of an H.264/H.265 frame, whose grid
    starts at the frame's corner). Each block's piecewise-constant mean is replaced by the
    bilinear interpolation of the means, weighted by how flat the block's neighbourhood is
    (1 where its mean differs from each 4-neighbour's by nothing, 0 from
    ``DEBLOCK_FLOOR + DEBLOCK_SLOPE * mean`` up): in a dark sky the codec's DC steps, which
    the enhancement would multiply into visible tiles, become a smooth ramp; real edges
    (large steps) are kept. In the same flat blocks a share ``denoise`` of each pixel's
    difference from its block's mean is removed: there it is mostly sensor noise, which the
    enhancement's gain would otherwise multiply (textured blocks keep all their detail).

    ``y + flat * (smooth - near - denoise * (y - near))``
    """
    h, w = y.shape[-2:]
    padded = F.pad(block_means, (1, 1, 1, 1), mode="replicate")
    neighbours = torch.stack([padded[..., 1:-1, :-2], padded[..., 1:-1, 2:],
                              padded[..., :-2, 1:-1], padded[..., 2:, 1:-1]])
    step = (neighbours - block_means).abs().amax(dim=0)
    flat = (1.0 - step / (DEBLOCK_FLOOR + DEBLOCK_SLOPE * block_means)).clamp(0.0, 1.0)
    factor = float(scale)
    near = F.interpolate(block_means, scale_factor=factor, mode="nearest")[..., :h, :w]
    smooth = F.interpolate(block_means, scale_factor=factor, mode="bilinear",
                           align_corners=False)[..., :h, :w]
    weight = F.interpolate(flat, scale_factor=factor, mode="bilinear",
                           align_corners=False)[..., :h, :w]
    return y + weight * (smooth - near - denoise * (y - near))


def noise_sigma_levels(y: torch.Tensor) -> torch.Tensor:
    """Immerkaer's estimate of each frame's Gaussian noise sigma, in grey levels: ``(N,)`` for
    the luma ``y`` ``(N, 1, H, W)`` in [0, 1] (8-bit values).

    ``training.metrics.noise_sigma``'s estimate on every ``NOISE_ROW_STEP``-th row (rows 0, 8,
    16, ...), the frame's edges replicated: a frame's noise level is a property of the whole
    frame, the host computes this at every frame (1.2 -> 0.3 ms at 1080p), and a frame of any
    size, even 1x1 (0 then), gives a number. Those rows are the first of each row of 8x8
    codec blocks, so block edges count as noise there: blocky video is smoothed a little more.
    """
    # IMMERKAER is the outer product of (1, -2, 1) with itself; built on the device, not
    # copied from the host, so that a CUDA graph can capture it
    line = 1.0 - 3.0 * (torch.arange(3, device=y.device) == 1).to(y.dtype)
    kernel = torch.outer(line, line).reshape(1, 1, 3, 3)
    padded = F.pad(y * 255.0, (1, 1, 1, 1), mode="replicate")
    response = F.conv2d(padded, kernel)[..., ::NOISE_ROW_STEP, :]
    count = response.shape[-2] * response.shape[-1]
    return response.abs().sum(dim=(1, 2, 3)) * (math.sqrt(math.pi / 2.0) / (6.0 * count))


def bilateral_luma(y: torch.Tensor, strength: float) -> torch.Tensor:
    """The luma ``y`` ``(N, 1, H, W)`` through a 3x3 bilateral filter whose range sigma is
    ``strength`` times each frame's noise sigma (at least ``BILATERAL_MIN_SIGMA`` levels).

    The same filter as ``cv2.bilateralFilter(y, 3, sigma, 1, borderType=BORDER_REPLICATE)``
    (the host's, :class:`enhancers.neural.GuidedApplier`): the centre, weight 1, and its four
    neighbours, each weighted ``exp(-1/2) * exp(-d^2 / (2 sigma^2))`` for a difference ``d``
    (OpenCV interpolates that exponential in a table: equal to about 1e-4 of a level).
    """
    sigma = (noise_sigma_levels(y) * strength).clamp(min=BILATERAL_MIN_SIGMA) / 255.0
    coeff = (-0.5 / (sigma * sigma)).reshape(-1, 1, 1, 1)
    p = F.pad(y, (1, 1, 1, 1), mode="replicate")
    num, den = y, torch.ones_like(y)
    for n in (p[..., 1:-1, :-2], p[..., 1:-1, 2:], p[..., :-2, 1:-1], p[..., 2:, 1:-1]):
        weight = math.exp(-0.5) * torch.exp((n - y) * (n - y) * coeff)
        num = num + weight * n
        den = den + weight
    return num / den


def box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)^2`` window, the window cut at the borders (not zero-padded)."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


@register_model("lowres_guided")
class LowResGuided(nn.Module):
    """Low-resolution GroupNorm U-Net + full-resolution guided transform (see the module).

    Args:
        width: channel multiplier of the network (1: 16-32-64 channels; 0.5: 8-16-32).
        scale: box-averaging factor from the frame to the network's view (an integer >= 2).
        radius: guided-filter window radius, in low-resolution pixels.
        exposure: default target brightness in [0.05, 0.95], or ``AUTO`` (-1).
        channels: the levels' channel counts (2 to 5 levels), instead of ``width``'s 3.
        global_context: HDRNet's global path (the deepest level's frame mean, added back).
        deblock: smooth the codec's block steps in the guide where the blocks are flat
            (:func:`deblock_luma`; a switch, not a weight: files trained without it use it).
        denoise: with ``deblock``, the share in [0, 1] of the variation inside flat blocks
            removed from the guide (noise).
        bilateral: with ``deblock``, the range sigma of a 3x3 bilateral filter of the guide,
            in multiples of the frame's estimated noise sigma (:func:`bilateral_luma`), in
            [0, 20]; 0 turns it off.
        tone: exponent of a global tone curve ``out ** tone`` applied last, in [0.5, 2]:
            above 1 it darkens the mid-tones and shadows and keeps black and white (a night
            scene stays night-like at the network's own ``auto`` brightness, without the
            pumping of a fixed ``exposure``); 1 is the network's output.
    """

    def __init__(self, width: float = 1.0, scale: int = 8, radius: int = 1,
                 exposure: float = AUTO, channels: list[int] | tuple[int, ...] | None = None,
                 global_context: bool = False, deblock: bool = True,
                 denoise: float = DENOISE, tone: float = TONE,
                 bilateral: float = BILATERAL) -> None:
        super().__init__()
        from ..errors import ConfigError

        self.width = check_width(width)
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
            raise ConfigError(f"scale must be an integer >= 2, got {scale!r}")
        if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
            raise ConfigError(f"radius must be an integer >= 1, got {radius!r}")
        for name, flag in (("global_context", global_context), ("deblock", deblock)):
            if not isinstance(flag, bool):
                raise ConfigError(f"{name} must be true or false, got {flag!r}")
        self.scale = scale
        self.radius = radius
        self.exposure = check_exposure(exposure)
        if channels is None:
            ch = [scaled_channels(c, self.width) for c in LEVEL_CHANNELS]
        else:
            ch = check_channels(channels)
        self.channels = tuple(ch)
        self.levels = len(ch)
        self.global_context = bool(global_context)
        self.deblock = bool(deblock)
        self.denoise = check_denoise(denoise)
        self.bilateral = check_bilateral(bilateral)
        self.tone = check_tone(tone)
        # attribute names enc1.., up1.. (not a ModuleList): files of the three-level model
        # shipped first keep loading
        previous = 4
        for level, c in enumerate(ch, 1):
            setattr(self, f"enc{level}", nn.Sequential(conv_gn(previous, c, 3), conv_gn(c, c, 3)))
            previous = c
        for level in range(1, self.levels):
            setattr(self, f"up{level}", Up(ch[level], ch[level - 1]))
        self.pool = nn.MaxPool2d(2)
        # the exposure reaches the deepest level directly too: a global brightness decision
        self.exposure_bias = nn.Linear(1, ch[-1])
        if self.global_context:
            # HDRNet's global path: the deepest level's mean over the whole frame, through two
            # layers, added to every position, so the brightness and colour decisions see the
            # frame and not only a receptive field (a 1/8 view of 1080p is 240x135)
            self.global_fc = nn.Sequential(nn.Linear(ch[-1], ch[-1]),
                                           nn.LeakyReLU(0.2, inplace=True),
                                           nn.Linear(ch[-1], ch[-1]))
        # ... and, as a scale and shift (FiLM), the features after the last GroupNorm: every
        # GroupNorm here has one or two channels per group and removes each map's mean, so an
        # exposure that entered earlier only as a constant would be normalized away before
        # the head (identity at initialization)
        self.exposure_film = nn.Linear(1, 2 * ch[0])
        with torch.no_grad():
            self.exposure_film.weight.zero_()
            self.exposure_film.bias.zero_()
        # 3 output logits (+ the input's, identity-initialized) and 1 eps logit
        self.head = nn.Conv2d(ch[0] + 3, 4, 1)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.weight[:3, ch[0]:, 0, 0] = torch.eye(3)
            self.head.bias.zero_()

    # -- the low-resolution part --------------------------------------------------------------
    def low_view(self, x: torch.Tensor) -> torch.Tensor:
        """The network's view: ``x`` edge-padded to a multiple of ``scale``, box-averaged."""
        return F.avg_pool2d(pad_to_multiple(x, self.scale), self.scale)

    def enhance_low(self, low: torch.Tensor, exposure: torch.Tensor) -> tuple[torch.Tensor,
                                                                               torch.Tensor]:
        """The enhanced low-resolution view ``(N, 3, h, w)`` and the per-pixel eps
        ``(N, 1, h, w)``; ``exposure`` is ``(N,)`` (``AUTO`` entries: the network chooses)."""
        h, w = low.shape[-2:]
        # a multiple of the poolings' product, plus that much more, so that even a tiny
        # frame's deepest level keeps 2x2 values for its GroupNorm
        m = 2 ** (self.levels - 1)
        pad_h, pad_w = m + (-h % m), m + (-w % m)
        x = F.pad(low, (0, pad_w, 0, pad_h), mode="replicate")
        logits = torch.logit(x.clamp(LOGIT_EPS, 1 - LOGIT_EPS))
        e = exposure.reshape(-1, 1, 1, 1).to(x.dtype)
        skips = [self.enc1(
            torch.cat([logits, e.expand(-1, 1, x.shape[2], x.shape[3])], 1))]
        for level in range(2, self.levels + 1):
            skips.append(getattr(self, f"enc{level}")(self.pool(skips[-1])))
        d = skips.pop()
        d = d + self.exposure_bias(exposure.reshape(-1, 1).to(x.dtype))[:, :, None, None]
        if self.global_context:
            d = d + self.global_fc(d.mean(dim=(2, 3)))[:, :, None, None]
        for level in range(self.levels - 1, 0, -1):
            d = getattr(self, f"up{level}")(d, skips.pop())
        scale, shift = self.exposure_film(exposure.reshape(-1, 1).to(x.dtype)).chunk(2, dim=1)
        d = d * (1.0 + scale[:, :, None, None]) + shift[:, :, None, None]
        out = self.head(torch.cat([d, logits], 1))[..., :h, :w]
        y = torch.sigmoid(out[:, :3])
        eps = EPS_SCALE * F.softplus(out[:, 3:4]) + EPS_MIN
        return y, eps

    def coefficients(self, x: torch.Tensor,
                     exposure: float | torch.Tensor | None = None) -> tuple[torch.Tensor,
                                                                            torch.Tensor]:
        """``A`` and ``B`` ``(N, 3, h, w)`` on the low-resolution grid, for ``x`` in [0, 1]."""
        return self.coefficients_low(self.low_view(x), self.low_view(luma_u8(x)), exposure)

    def coefficients_low(self, low: torch.Tensor, guide: torch.Tensor,
                         exposure: float | torch.Tensor | None = None) -> tuple[torch.Tensor,
                                                                                torch.Tensor]:
        """``A`` and ``B`` from the low views a host made itself: ``low`` ``(N, 3, h, w)`` and
        the grey ``guide`` ``(N, 1, h, w)``, both box averages of the padded frame in [0, 1]
        (``cv2.resize`` with ``INTER_AREA`` by an integer factor is exactly that)."""
        y, eps = self.enhance_low(low, self._exposure_tensor(exposure, low))
        # the guided filter in FP32 (variances of FP16 values underflow): a no-op in FP32
        y, eps, guide = y.float(), eps.float(), guide.float()
        r = self.radius
        mean_g = box(guide, r)
        mean_y = box(y, r)
        var_g = box(guide * guide, r) - mean_g * mean_g
        cov = box(guide * y, r) - mean_g * mean_y
        a = cov / (var_g.clamp(min=0.0) + eps)
        b = mean_y - a * mean_g
        return box(a, r), box(b, r)

    def forward_low(self, views: torch.Tensor) -> torch.Tensor:
        """Host-made low views ``(N, h, w, 4)`` (RGB and grey in [0, 1]) to ``A`` and ``255 * B``
        ``(N, h, w, 6)``: the graph a CPU runtime runs (the host downscales and applies)."""
        v = views.permute(0, 3, 1, 2)
        a, b = self.coefficients_low(v[:, :3], v[:, 3:4])
        return torch.cat([a, b * 255.0], 1).permute(0, 2, 3, 1)

    def _exposure_tensor(self, exposure: float | torch.Tensor | None,
                         x: torch.Tensor) -> torch.Tensor:
        if exposure is None:
            exposure = self.exposure
        if not torch.is_tensor(exposure):
            exposure = torch.full((x.shape[0],), float(exposure), dtype=x.dtype,
                                  device=x.device)
        return exposure

    # -- the full-resolution part -------------------------------------------------------------
    def apply(self, a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``A * Y + B`` at ``x``'s resolution (bilinear upsampling of the low grid; ``Y``
        deblocked by :func:`deblock_luma` when ``deblock`` is on)."""
        h, w = x.shape[-2:]
        up_a = F.interpolate(a, scale_factor=float(self.scale), mode="bilinear",
                             align_corners=False)[..., :h, :w]
        up_b = F.interpolate(b, scale_factor=float(self.scale), mode="bilinear",
                             align_corners=False)[..., :h, :w]
        y = luma_u8(x)
        if self.deblock:
            # the block means of the frame's own grey: the statistics the codec's blocks have
            means = self.low_view(y)
            if self.bilateral > 0.0:
                y = bilateral_luma(y, self.bilateral)
            y = deblock_luma(y, means, self.scale, self.denoise)
        out = (up_a.float() * y + up_b.float()).clamp(0.0, 1.0)
        return out if self.tone == 1.0 else out ** self.tone

    def forward(self, x: torch.Tensor,
                exposure: float | torch.Tensor | None = None) -> torch.Tensor:
        """Enhance ``(N, 3, H, W)`` in [0, 1]; the result is in [0, 1], same shape."""
        a, b = self.coefficients(x, exposure)
        return self.apply(a, b, x)

    def forward_supervised(self, dark: torch.Tensor, clean: torch.Tensor,
                           auto: torch.Tensor | None = None,
                           auto_share: float = 0.25) -> torch.Tensor:
        """Training forward: conditioned on each target's own mean brightness, or on ``AUTO``
        where ``auto`` ``(N,)`` is 1 (the data's choice: those targets kept their own
        brightness), or, without ``auto``, for about ``auto_share`` of the samples."""
        target = luma_u8(clean).mean(dim=(1, 2, 3))
        if auto is None:
            chosen = torch.rand(target.shape, device=target.device) < auto_share
        else:
            chosen = auto.reshape(-1) > 0.5
        exposure = torch.where(chosen, torch.full_like(target, AUTO), target)
        return self(dark, exposure)

    def forward_rows(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, H, W, 3)`` frames to the low-resolution ``A`` and ``255 * B``,
        ``(N, h, w, 6)`` float: what a host needs to apply the transform itself
        (``enhancers.neural.apply_guided``)."""
        x = frames.to(torch.float32).permute(0, 3, 1, 2) * (1.0 / 255.0)
        a, b = self.coefficients(x)
        return torch.cat([a, b * 255.0], 1).permute(0, 2, 3, 1)


def check_channels(value: object) -> list[int]:
    """Two to five levels of channel counts, each a positive integer that ``min(32, c)``
    GroupNorm groups divide; ``ConfigError`` otherwise."""
    from ..errors import ConfigError

    if not isinstance(value, (list, tuple)) or not 2 <= len(value) <= 5 or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 1 or
            (c > 32 and c % 32) for c in value):
        raise ConfigError(f"channels must be a list of 2 to 5 positive integers (above 32, "
                          f"multiples of 32), got {value!r}")
    return [int(c) for c in value]


def check_range(name: str, value: object, low: float, high: float) -> float:
    """A finite number in [``low``, ``high``] as a float; ``ConfigError`` naming ``name``
    otherwise (booleans are not numbers here)."""
    import math
    import numbers

    from ..errors import ConfigError

    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def check_denoise(value: object) -> float:
    """A share in [0, 1]; ``ConfigError`` otherwise."""
    return check_range("denoise", value, 0.0, 1.0)


def check_bilateral(value: object) -> float:
    """A bilateral filter's range sigma in [0, 20] noise sigmas; ``ConfigError`` otherwise."""
    return check_range("bilateral", value, 0.0, 20.0)


def check_tone(value: object) -> float:
    """A tone-curve exponent in [0.5, 2]; ``ConfigError`` otherwise."""
    return check_range("tone", value, 0.5, 2.0)


def check_exposure(value: object) -> float:
    """A target brightness in [0.05, 0.95], a preset name (:data:`EXPOSURE_PRESETS`) or
    ``auto`` (``AUTO``); ``ConfigError`` otherwise."""
    import math
    import numbers

    from ..errors import ConfigError

    if value is None or (isinstance(value, str) and value.lower() == "auto"):
        return AUTO
    if isinstance(value, str) and value.lower() in EXPOSURE_PRESETS:
        return EXPOSURE_PRESETS[value.lower()]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not math.isfinite(value):
        names = ", ".join(["auto", *EXPOSURE_PRESETS])
        raise ConfigError(f"exposure must be a number in [0.05, 0.95] or one of {names}, "
                          f"got {value!r}")
    if value == AUTO:
        return AUTO
    if not 0.05 <= value <= 0.95:
        raise ConfigError(f"exposure must be in [0.05, 0.95] (a mean brightness) or 'auto', "
                          f"got {value!r}")
    return float(value)
