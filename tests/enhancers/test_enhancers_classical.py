"""Tests of the classical enhancers (gamma, CLAHE, retinex) and of every registered enhancer's
basic contract: shape, dtype, odd sizes, determinism, parameter validation."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline import ENHANCERS, ConfigError, build_enhancer
from tests.flash import enhancer_kwargs

CLASSICAL = ["gamma", "clahe", "retinex"]


def _has_tensorrt() -> bool:
    try:
        import tensorrt  # noqa: F401
    except Exception:
        return False
    return True


#: every registered enhancer; ``tensorrt`` needs the library, an NVIDIA GPU and a built engine
REGISTERED = [
    pytest.param(name, marks=[pytest.mark.trt, pytest.mark.skipif(
        not _has_tensorrt(), reason="TensorRT is not installed (needs an NVIDIA GPU; "
                                    "build an engine with build_engine.py first)")])
    if name == "tensorrt" else name
    for name in ENHANCERS.names()
]

#: (N, H, W) of the batches every enhancer must handle: odd, tiny and degenerate sizes
#: (211, 317) is large enough for retinex to shrink its luma before blurring
SHAPES = [(1, 1, 1), (1, 1, 7), (1, 40, 1), (1, 5, 200), (1, 16, 16), (3, 33, 17), (2, 17, 33),
          (1, 211, 317)]


def _random_batch(n: int, h: int, w: int, seed: int = 0, high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, (n, h, w, 3), dtype=np.uint8)


def _textured(h: int, w: int, low: float, high: float, seed: int = 0) -> np.ndarray:
    """A ``(1, H, W, 3)`` frame: a diagonal ramp from ``low`` to ``high`` plus noise, tinted."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.linspace(0, 1, h), np.linspace(0, 1, w)) / 2
    grey = low + (high - low) * ramp + rng.normal(0, (high - low) * 0.05, (h, w))
    tint = np.array([1.0, 0.9, 0.75])
    return np.clip(grey[None, :, :, None] * tint, 0, 255).round().astype(np.uint8)


def _luma(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


# --- every registered enhancer ---------------------------------------------------------------


@pytest.mark.parametrize("name", REGISTERED)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_shape_dtype_and_determinism(name: str, shape: tuple[int, int, int]) -> None:
    frames = _random_batch(*shape, seed=1)
    original = frames.copy()
    out = build_enhancer(name, **enhancer_kwargs(name))(frames)
    assert out.shape == frames.shape
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(frames, original, err_msg="input was modified")
    # A fresh instance is stateless until its first call: the same input gives the same output.
    np.testing.assert_array_equal(build_enhancer(name, **enhancer_kwargs(name))(frames), out)


@pytest.mark.parametrize("name", REGISTERED)
def test_extreme_and_non_contiguous_input(name: str) -> None:
    for value in (0, 255):
        frames = np.full((2, 9, 11, 3), value, np.uint8)
        out = build_enhancer(name, **enhancer_kwargs(name))(frames)
        assert out.shape == frames.shape and out.dtype == np.uint8
    base = _random_batch(2, 20, 30, seed=2)
    view = base[:, ::2, 1::2]  # a strided view, as a cropping source might hand over
    out = build_enhancer(name, **enhancer_kwargs(name))(view)
    fresh = build_enhancer(name, **enhancer_kwargs(name))  # retinex smooths over time
    np.testing.assert_array_equal(out, fresh(np.ascontiguousarray(view)))


# --- brightness -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSICAL)
def test_dark_frame_gets_brighter(name: str) -> None:
    dark = _textured(48, 64, 3, 40)
    out = build_enhancer(name)(dark)
    assert _luma(out).mean() > 1.5 * _luma(dark).mean() + 10


@pytest.mark.parametrize("name", CLASSICAL)
def test_mid_grey_frame_is_not_blown_out(name: str) -> None:
    grey = _textured(48, 64, 90, 170)
    out = build_enhancer(name)(grey)
    assert 80 < _luma(out).mean() < 180
    assert (out.max(axis=-1) == 255).mean() < 0.05


# --- gamma ------------------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [0.3, 0.5, 1.0, 1.7])
def test_fixed_gamma_matches_closed_form(gamma: float) -> None:
    frames = _random_batch(2, 33, 17, seed=3)
    out = build_enhancer("gamma", gamma=gamma)(frames)
    expected = 255.0 * (frames / 255.0) ** gamma
    assert np.abs(out - expected).max() <= 1.0


def test_adaptive_gamma_reaches_the_target_mean() -> None:
    frame = _textured(48, 64, 3, 40)
    enhancer = build_enhancer("gamma", target_mean=0.4)
    out = enhancer(frame)
    gamma = enhancer.current_gamma
    assert gamma is not None and 0.25 <= gamma < 1.0
    # The curve applied is exactly the closed form at the chosen gamma ...
    assert np.abs(out - 255.0 * (frame / 255.0) ** gamma).max() <= 1.0
    # ... and it puts the mean luma near the target (not exactly: the mean of x**g is not
    # (mean x)**g).
    assert abs(_luma(out).mean() / 255.0 - 0.4) < 0.08


def test_adaptive_gamma_respects_its_clamp() -> None:
    black = np.zeros((1, 8, 8, 3), np.uint8)
    enhancer = build_enhancer("gamma", min_gamma=0.5)
    enhancer(black)
    assert enhancer.current_gamma == 0.5
    bright = np.full((1, 8, 8, 3), 230, np.uint8)
    np.testing.assert_array_equal(build_enhancer("gamma")(bright), bright)  # never darkens


@pytest.mark.parametrize("params", [{}, {"gamma": 0.5}], ids=["adaptive", "fixed"])
def test_gamma_tone_curve_is_monotonic(params: dict[str, float]) -> None:
    # One hue at 256 brightness levels, plus dark noise so the adaptive gamma is < 1.
    levels = np.arange(256, dtype=np.float64)[:, None] / 255.0
    ramp = np.round(levels * np.array([200.0, 120.0, 40.0])).astype(np.uint8)
    frame = _random_batch(1, 16, 32, seed=4, high=30)
    frame[0, :8] = ramp.reshape(8, 32, 3)
    out = build_enhancer("gamma", **params)(frame)[0, :8].reshape(256, 3).astype(int)
    assert (np.diff(out, axis=0) >= 0).all()
    assert out[-1].sum() > ramp[-1].astype(int).sum()  # and it did brighten


def test_adaptive_gamma_smoothing_avoids_jumps() -> None:
    # The left half is a static object (level 60); the right half jumps from 10 to 120 at frame
    # 10, as when headlights come on. The object's output brightness follows the gamma.
    frames = np.full((60, 16, 32, 3), 60, np.uint8)
    frames[:10, :, 16:] = 10
    frames[10:, :, 16:] = 120

    def static_patch(smoothing: float) -> np.ndarray:
        enhancer = build_enhancer("gamma", smoothing=smoothing)
        return np.array([enhancer(f[None])[0, :, :16].mean() for f in frames])

    instant, smooth = static_patch(0.0), static_patch(0.9)
    assert np.abs(np.diff(instant)).max() > 30  # the jump without smoothing
    assert np.abs(np.diff(smooth)).max() < 0.5 * np.abs(np.diff(instant)).max()
    assert abs(smooth[-1] - instant[-1]) <= 2  # and it settles on the same gamma
    # State carries across frames inside one batch just as across calls.
    batch = build_enhancer("gamma", smoothing=0.9)(frames)
    np.testing.assert_allclose(batch[:, :, :16].mean(axis=(1, 2, 3)), smooth)


# --- CLAHE ------------------------------------------------------------------------------------


def _chroma_angle(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angle (degrees) and magnitude of each pixel's (Cb, Cr) chroma vector."""
    rgb = frames.astype(np.float64)
    y = _luma(frames)
    cb, cr = (rgb[..., 2] - y) * 0.564, (rgb[..., 0] - y) * 0.713
    return np.degrees(np.arctan2(cr, cb)), np.hypot(cb, cr)


@pytest.mark.parametrize("params", [{}, {"gamma": 0.5}], ids=["plain", "pre-gamma"])
def test_clahe_keeps_hue(params: dict[str, float]) -> None:
    # Hue sweeps across the columns, brightness ramps down the rows (dark to mid).
    h, w = 40, 90
    hsv = np.empty((h, w, 3), np.uint8)
    hsv[..., 0] = np.linspace(0, 179, w)[None, :]
    hsv[..., 1] = 200
    hsv[..., 2] = np.linspace(30, 140, h)[:, None]
    frame = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[None]
    out = build_enhancer("clahe", **params)(frame)
    assert _luma(out).mean() > _luma(frame).mean()
    angle_in, chroma_in = _chroma_angle(frame)
    angle_out, _ = _chroma_angle(out)
    # Compare where the hue is well defined and no channel clipped.
    valid = (chroma_in > 15) & (out.max(axis=-1) < 255) & (out.min(axis=-1) > 0)
    assert valid.mean() > 0.5
    diff = np.abs((angle_out - angle_in + 180) % 360 - 180)[valid]
    assert np.median(diff) < 2.0
    assert np.percentile(diff, 99) < 8.0


# --- retinex ----------------------------------------------------------------------------------


def _lamp_scene(h: int = 72, w: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dark road with a street lamp: the frame, the lamp mask and the far-from-lamp mask."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:h, 0:w]
    dist = np.hypot(yy - h * 0.15, xx - w * 0.5)
    glow = 240.0 * np.exp(-((dist / (h * 0.08)) ** 2))
    road = np.where(yy > h / 2, 14.0, 6.0) + 4.0 * np.sin(xx / 3.0) + rng.normal(0, 1.5, (h, w))
    grey = np.clip(road + glow, 0, 255)
    frame = np.clip(grey[..., None] * np.array([1.0, 0.92, 0.7]), 0, 255).round()
    return frame.astype(np.uint8)[None], dist < h * 0.05, dist > h * 0.4


def test_retinex_lifts_the_dark_road_next_to_a_lamp() -> None:
    frame, lamp, dark = _lamp_scene()
    out = build_enhancer("retinex")(frame)
    lum_in, lum_out = _luma(frame)[0], _luma(out)[0]
    assert lum_out[dark].mean() > 2.0 * lum_in[dark].mean()
    assert lum_out[lamp].mean() > 180  # the lamp stays bright
    # Gains are per pixel on all three channels: the road's tint (R > G > B) is kept.
    mean_rgb = out[0][dark].mean(axis=0)
    assert mean_rgb[0] > mean_rgb[1] > mean_rgb[2]


def test_retinex_range_is_smoothed_across_frames() -> None:
    dark, _, _ = _lamp_scene()
    bright = _textured(72, 128, 90, 170)

    def ranges(smoothing: float) -> tuple[np.ndarray, np.ndarray]:
        """The stretch range after the dark frame, and after the bright one that follows."""
        enhancer = build_enhancer("retinex", smoothing=smoothing)
        enhancer(dark)
        first = np.array(enhancer.stretch_range)
        enhancer(bright)
        return first, np.array(enhancer.stretch_range)

    dark_range, bright_range = ranges(0.0)
    first, second = ranges(0.9)
    np.testing.assert_allclose(first, dark_range)  # no history: the first frame's own range
    np.testing.assert_allclose(second, 0.9 * dark_range + 0.1 * bright_range)
    assert np.abs(bright_range - dark_range).max() > 0.1  # the scenes do differ


def test_retinex_accepts_a_sigma_list() -> None:
    frame, _, _ = _lamp_scene()
    out = build_enhancer("retinex", sigmas=[10, 60])(frame)
    assert out.shape == frame.shape


# --- parameters -------------------------------------------------------------------------------


def test_unknown_parameter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="foo"):
        build_enhancer("clahe", foo=1)


@pytest.mark.parametrize(
    ("name", "params", "mentions"),
    [
        ("gamma", {"gamma": 0}, "gamma"),
        ("gamma", {"gamma": -0.5}, "gamma"),
        ("gamma", {"gamma": "high"}, "gamma"),
        ("gamma", {"gamma": float("nan")}, "gamma"),
        ("gamma", {"target_mean": 1.5}, "target_mean"),
        ("gamma", {"smoothing": 1.0}, "smoothing"),
        ("gamma", {"min_gamma": 0.8, "max_gamma": 0.5}, "max_gamma"),
        ("clahe", {"gamma": 0}, "gamma"),
        ("clahe", {"tiles": 0}, "tiles"),
        ("clahe", {"tiles": 2.5}, "tiles"),
        ("clahe", {"tiles": True}, "tiles"),
        ("clahe", {"clip_limit": 0}, "clip_limit"),
        ("clahe", {"clip_limit": -1.0}, "clip_limit"),
        ("retinex", {"sigmas": []}, "sigmas"),
        ("retinex", {"sigmas": [15, -1]}, "sigmas"),
        ("retinex", {"sigmas": "15"}, "sigmas"),
        ("retinex", {"low_clip": 0.5, "high_clip": 0.4}, "high_clip"),
        ("retinex", {"smoothing": -0.1}, "smoothing"),
        ("retinex", {"max_gain": 0}, "max_gain"),
    ],
)
def test_invalid_values_are_config_errors(
    name: str, params: dict[str, object], mentions: str
) -> None:
    with pytest.raises(ConfigError, match=mentions):
        build_enhancer(name, **params)
