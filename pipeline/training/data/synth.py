"""Low-light synthesis: (dark, clean) training pairs from well-exposed frames.

A night frame is, to first order, a well-exposed frame seen with far less light and a sensor
that adds noise in linear light. :func:`synthesize` runs that model, deterministic for a given
random generator:

1. linearize sRGB (the exact sRGB transfer curve, not a 2.2 power);
2. optionally add light sources (street lamps, headlights: warm/white glows) to the *scene*, so
   they are in both the clean target and the dark input, their glow at full strength in both;
3. scale the exposure by a log-uniform factor in ``[exposure_min, exposure_max]`` (down to
   ~1/30); pixels near saturation in any channel — light sources — keep their brightness instead,
   as a real lamp stays bright in a short exposure;
4. optional Gaussian blur (motion and defocus of a slow night exposure);
5. signal-dependent shot noise (variance ``k * signal``) and read noise (variance
   ``sigma_r ** 2``), both in linear light and per channel (a Gaussian approximation of the
   Poisson-Gaussian sensor model);
6. back to sRGB, optionally histogram matched toward a night reference frame (its sodium-lamp
   colour and tone distribution), blended by a random strength;
7. 8-bit quantization, an optional black-level crush (a dashcam's tone curve clips the
   darkest levels to 0), and optional compression: JPEG, or H.264 at a low bit rate (libx264,
   4:2:0, CRF 30-45 by default) — what a dashcam's encoder does to dark, noisy frames: 8x8 and
   16x16 blocks in the flat dark sky, smeared chroma. The encode is single-threaded, so the
   same generator state gives the same bytes.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import cv2
import numpy as np

from ...errors import ConfigError


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (IEC 61966-2-1)."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to sRGB encoding (inverse of :func:`srgb_to_linear`)."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92,
                    1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


@dataclass(frozen=True)
class SynthConfig:
    """Parameters of :func:`synthesize` (ranges are sampled per image)."""

    #: relative exposure, log-uniform in [min, max]
    exposure_min: float = 1 / 30
    exposure_max: float = 1 / 3
    #: shot noise: variance = k * linear signal, k log-uniform in [min, max]
    shot_min: float = 1e-4
    shot_max: float = 2e-3
    #: read noise standard deviation in linear light, log-uniform in [min, max]
    read_min: float = 2e-4
    read_max: float = 2e-3
    #: probability and largest sigma (pixels) of a Gaussian blur
    blur_prob: float = 0.2
    blur_sigma_max: float = 1.2
    #: linear level of the brightest channel above which a pixel counts as a light source and
    #: keeps its brightness
    light_threshold: float = 0.95
    #: probability of adding synthetic lamps/headlights, and their largest count
    lamp_prob: float = 0.5
    lamp_max: int = 4
    #: histogram matching toward the night reference: strength uniform in [0, match_max]
    match_max: float = 0.6
    #: probability and quality range of JPEG compression
    jpeg_prob: float = 0.5
    jpeg_quality_min: int = 50
    jpeg_quality_max: int = 95
    #: probability and CRF range of an H.264 encode (libx264, 4:2:0) instead of the JPEG
    h264_prob: float = 0.0
    h264_crf_min: int = 30
    h264_crf_max: int = 45
    #: probability and largest black level (8-bit levels) clipped to 0 before compression
    crush_prob: float = 0.0
    crush_max: int = 6
    #: probability of a night sky: the scene above a random horizon (15-50% of the height,
    #: soft edge) darkened to ``sky_gain`` (log-uniform in [min, max]) in linear light in the
    #: target as in the input, so near-black regions are taught to stay dark, not to be lifted
    #: to grey as an under-exposed wall would be
    sky_prob: float = 0.0
    sky_gain_min: float = 0.01
    sky_gain_max: float = 0.08

    def __post_init__(self) -> None:
        checks = [
            (0 < self.exposure_min <= self.exposure_max <= 1, "0 < exposure_min <= exposure_max <= 1"),
            (0 <= self.shot_min <= self.shot_max, "0 <= shot_min <= shot_max"),
            (0 <= self.read_min <= self.read_max, "0 <= read_min <= read_max"),
            (0 <= self.blur_prob <= 1, "0 <= blur_prob <= 1"),
            (self.blur_sigma_max >= 0, "blur_sigma_max >= 0"),
            (0 < self.light_threshold <= 1, "0 < light_threshold <= 1"),
            (0 <= self.lamp_prob <= 1 and self.lamp_max >= 0, "0 <= lamp_prob <= 1, lamp_max >= 0"),
            (0 <= self.match_max <= 1, "0 <= match_max <= 1"),
            (0 <= self.jpeg_prob <= 1, "0 <= jpeg_prob <= 1"),
            (1 <= self.jpeg_quality_min <= self.jpeg_quality_max <= 100,
             "1 <= jpeg_quality_min <= jpeg_quality_max <= 100"),
            (0 <= self.h264_prob <= 1, "0 <= h264_prob <= 1"),
            (0 <= self.h264_crf_min <= self.h264_crf_max <= 51,
             "0 <= h264_crf_min <= h264_crf_max <= 51"),
            (0 <= self.crush_prob <= 1 and 0 <= self.crush_max < 128,
             "0 <= crush_prob <= 1, 0 <= crush_max < 128"),
            (0 <= self.sky_prob <= 1 and 0 < self.sky_gain_min <= self.sky_gain_max <= 1,
             "0 <= sky_prob <= 1, 0 < sky_gain_min <= sky_gain_max <= 1"),
        ]
        for ok, rule in checks:
            if not ok:
                raise ConfigError(f"synthesis settings break the rule {rule}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "synth") -> "SynthConfig":
        """Build from a recipe's mapping; unknown keys are a ``ConfigError`` naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key; valid keys: "
                              f"{', '.join(sorted(names))}")
        return cls(**values)


class NightReference:
    """Per-channel tone curves that histogram-match an image toward a night reference frame."""

    def __init__(self, image: np.ndarray) -> None:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ConfigError("night reference must be an RGB uint8 image")
        # Cumulative distributions of the reference's channels over the 256 levels.
        self.cdf = np.stack([
            np.cumsum(np.bincount(image[..., c].ravel(), minlength=256)) / image[..., c].size
            for c in range(3)
        ]).astype(np.float64)

    @classmethod
    def from_file(cls, path: str | Path) -> "NightReference":
        """Read an image file (any format OpenCV reads)."""
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ConfigError(f"night reference {str(path)!r} is not a readable image")
        return cls(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def match(self, image: np.ndarray) -> np.ndarray:
        """``image`` (uint8 RGB) histogram matched channel by channel to the reference."""
        out = np.empty_like(image)
        for c in range(3):
            counts = np.bincount(image[..., c].ravel(), minlength=256)
            cdf = np.cumsum(counts) / image[..., c].size
            # For each source level, the reference level of the same cumulative share.
            lut = np.searchsorted(self.cdf[c], cdf, side="left").clip(0, 255).astype(np.uint8)
            out[..., c] = lut[image[..., c]]
        return out


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    if lo <= 0 or lo == hi:
        return float(rng.uniform(lo, hi)) if lo != hi else float(lo)
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def add_lamps(linear: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """Add ``count`` glowing light sources (a saturated core and a soft halo) to a linear
    image, mostly in its upper half where street lamps are, some low where headlights are."""
    h, w = linear.shape[:2]
    out = linear.copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(count):
        cy = rng.uniform(0.05, 0.55) * h if rng.random() < 0.7 else rng.uniform(0.55, 0.9) * h
        cx = rng.uniform(0, w)
        radius = rng.uniform(0.01, 0.04) * min(h, w) + 1.0
        warm = rng.random() < 0.6  # sodium/halogen orange, else LED white
        colour = np.array([1.0, 0.75, 0.4] if warm else [1.0, 1.0, 1.0], np.float32)
        d2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / (radius ** 2)
        core = np.clip(1.5 - d2, 0.0, 1.0)
        halo = 0.3 * np.exp(-d2 / 12.0)
        out = np.maximum(out, (core + halo)[..., None] * colour)
    return np.clip(out, 0.0, 1.0)


def synthesize(
    clean: np.ndarray,
    rng: np.random.Generator,
    config: SynthConfig | None = None,
    reference: NightReference | None = None,
    exposure: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A (dark, clean) pair, both uint8 RGB of ``clean``'s shape.

    Args:
        clean: well-exposed uint8 RGB image ``(H, W, 3)``.
        rng: the generator every random choice is drawn from (same state, same pair).
        config: synthesis settings (defaults: :class:`SynthConfig`).
        reference: night reference for histogram matching; ``None`` skips that step.
        exposure: a fixed relative exposure instead of a random one (for tests and sweeps).

    Returns:
        ``(dark, target)``: the synthesized night frame and the clean target, which differs
        from ``clean`` only where lamps were added.
    """
    cfg = config or SynthConfig()
    if clean.dtype != np.uint8 or clean.ndim != 3 or clean.shape[2] != 3:
        raise ConfigError(f"clean image must be uint8 (H, W, 3), got {clean.dtype} "
                          f"{tuple(clean.shape)}")
    linear = srgb_to_linear(clean.astype(np.float32) / 255.0)
    target = clean
    if cfg.sky_prob > 0 and rng.random() < cfg.sky_prob:
        linear = night_sky(linear, rng, _loguniform(rng, cfg.sky_gain_min, cfg.sky_gain_max))
        target = np.rint(linear_to_srgb(linear) * 255.0).astype(np.uint8)
    glow = None
    if cfg.lamp_max > 0 and rng.random() < cfg.lamp_prob:
        lit = add_lamps(linear, rng, int(rng.integers(1, cfg.lamp_max + 1)))
        # The lamps' own light, halo included, does not dim with the scene's exposure: a
        # street lamp glows as brightly in a night frame as in a day one. Without this the
        # dark frame has bare cores and the model learns to paint halos around every light.
        glow = lit - linear
        linear = lit
        target = np.rint(linear_to_srgb(linear) * 255.0).astype(np.uint8)

    e = float(exposure) if exposure is not None else _loguniform(
        rng, cfg.exposure_min, cfg.exposure_max)
    # A light source saturates the sensor in at least one channel: the brightest channel, not
    # the luminance, decides (a sodium lamp's luminance is only ~0.78 of white).
    peak = linear.max(axis=-1)
    # 0 below the threshold, 1 at full saturation, smooth in between.
    t = np.clip((peak - cfg.light_threshold) / max(1e-6, 1.0 - cfg.light_threshold), 0, 1)
    keep = (t * t * (3 - 2 * t))[..., None]
    dark = linear * (e * (1 - keep) + keep)
    if glow is not None:
        dark = dark + glow * (1 - keep) * (1 - e)  # the lamp light back at full strength

    if cfg.blur_sigma_max > 0 and rng.random() < cfg.blur_prob:
        sigma = rng.uniform(0.3, cfg.blur_sigma_max)
        dark = cv2.GaussianBlur(dark, (0, 0), sigma)

    k = _loguniform(rng, cfg.shot_min, cfg.shot_max)
    sigma_r = _loguniform(rng, cfg.read_min, cfg.read_max)
    std = np.sqrt(k * np.maximum(dark, 0.0) + sigma_r ** 2)
    dark = dark + std * rng.standard_normal(dark.shape, dtype=np.float32)

    out = np.rint(linear_to_srgb(dark) * 255.0).astype(np.uint8)
    if reference is not None and cfg.match_max > 0:
        strength = rng.uniform(0.0, cfg.match_max)
        matched = reference.match(out).astype(np.float32)
        out = np.rint(out * (1 - strength) + matched * strength).astype(np.uint8)

    if cfg.crush_max > 0 and rng.random() < cfg.crush_prob:
        out = crush_blacks(out, int(rng.integers(1, cfg.crush_max + 1)))
    if cfg.h264_prob > 0 and rng.random() < cfg.h264_prob:
        return h264_roundtrip(out, int(rng.integers(cfg.h264_crf_min, cfg.h264_crf_max + 1))), \
            target
    if rng.random() < cfg.jpeg_prob:
        quality = int(rng.integers(cfg.jpeg_quality_min, cfg.jpeg_quality_max + 1))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out, target


def night_sky(linear: np.ndarray, rng: np.random.Generator, gain: float) -> np.ndarray:
    """``linear`` with everything above a random horizon (15-50% of the height down, a soft
    edge of 5-15%) scaled by ``gain``: a dark sky over a lit scene."""
    h = linear.shape[0]
    horizon = rng.uniform(0.15, 0.5) * h
    soft = max(1.0, rng.uniform(0.05, 0.15) * h)
    t = np.clip((np.arange(h, dtype=np.float32) - (horizon - soft)) / soft, 0.0, 1.0)
    lit = (t * t * (3 - 2 * t))[:, None, None]  # 0 in the sky, 1 below the horizon
    return (linear * (gain + (1.0 - gain) * lit)).astype(np.float32)


def crush_blacks(image: np.ndarray, level: int) -> np.ndarray:
    """Levels up to ``level`` become 0 and the rest are stretched back to full range: the
    black clip of a camera's tone curve, which leaves night skies flat black."""
    lut = np.clip((np.arange(256, dtype=np.float32) - level) * 255.0 / (255.0 - level), 0, 255)
    return cv2.LUT(image, np.rint(lut).astype(np.uint8))


def h264_roundtrip(image: np.ndarray, crf: int) -> np.ndarray:
    """``image`` (uint8 RGB) encoded as one H.264 intra frame (libx264, yuv420p, ``crf``,
    one thread: deterministic) and decoded back, at the same size (odd sides edge-padded)."""
    h, w = image.shape[:2]
    padded = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return h264_roundtrip_frames([padded], crf)[0][:h, :w]


def h264_roundtrip_frames(frames: list[np.ndarray], crf: int) -> list[np.ndarray]:
    """``frames`` (uint8 RGB, one size, even sides) encoded as one H.264 clip (libx264,
    yuv420p, ``veryfast``, ``crf``; I- and P-frames; one thread: deterministic) and decoded
    back."""
    import av

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = frames[0].shape[1], frames[0].shape[0]
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = encoder.framerate = 25
    encoder.thread_count = 1
    encoder.options = {"crf": str(crf), "preset": "veryfast"}
    packets = [p for image in frames for p in encoder.encode(
        av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"))]
    packets += list(encoder.encode(None))
    decoder = av.CodecContext.create("h264", "r")
    decoded = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    return [f.to_ndarray(format="rgb24") for f in decoded]
