"""Low-light synthesis: deterministic for a seed, darker and noisier as exposure falls, light
sources kept bright, histogram matching toward a night reference, validated settings."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.training.data import (NightReference, SynthConfig, linear_to_srgb, srgb_to_linear,
                           synthesize)
from pipeline.errors import ConfigError

#: synthesis without the optional random steps, so one property is measured at a time
PLAIN = SynthConfig(lamp_prob=0.0, blur_prob=0.0, jpeg_prob=0.0, match_max=0.0)


def _scene(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.linspace(60, 190, h), np.linspace(-20, 20, w))
    image = ramp[..., None] * np.array([1.0, 0.95, 0.85]) + rng.normal(0, 6, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def test_srgb_round_trip() -> None:
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.abs(linear_to_srgb(srgb_to_linear(x)) - x).max() < 1e-5
    # the exact sRGB curve, not a 2.2 power: mid grey 0.5 is 0.214 in linear light
    assert abs(float(srgb_to_linear(np.float32(0.5))) - 0.2140) < 1e-3


def test_deterministic_for_a_seed() -> None:
    clean = _scene()
    a = synthesize(clean, np.random.default_rng(7))
    b = synthesize(clean, np.random.default_rng(7))
    c = synthesize(clean, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_darker_and_noisier_as_exposure_falls() -> None:
    clean = np.full((128, 128, 3), 150, np.uint8)
    means, relative_noise = [], []
    for exposure in (1 / 3, 1 / 10, 1 / 30):
        dark, target = synthesize(clean, np.random.default_rng(1), PLAIN, exposure=exposure)
        np.testing.assert_array_equal(target, clean)
        linear = srgb_to_linear(dark.astype(np.float32) / 255)
        means.append(float(dark.mean()))
        relative_noise.append(float(linear.std() / linear.mean()))
    assert means[0] > means[1] > means[2]
    assert means[2] < 0.35 * float(clean.mean())
    assert relative_noise[0] < relative_noise[1] < relative_noise[2]


def test_light_sources_stay_bright() -> None:
    clean = _scene(64, 64)
    clean[20:30, 20:30] = 255  # a lamp: saturated in the well-exposed frame
    dark, _ = synthesize(clean, np.random.default_rng(2), PLAIN, exposure=1 / 30)
    assert dark[22:28, 22:28].mean() > 235
    assert dark[40:, 40:].mean() < 80


def test_added_lamps_are_in_both_frames() -> None:
    cfg = SynthConfig(lamp_prob=1.0, lamp_max=3, blur_prob=0.0, jpeg_prob=0.0, match_max=0.0)
    clean = np.full((96, 96, 3), 90, np.uint8)
    dark, target = synthesize(clean, np.random.default_rng(3), cfg, exposure=1 / 20)
    bright = target.max(axis=2) >= 250
    assert bright.any() and not np.array_equal(target, clean)
    assert dark[bright].mean() > 200  # the lamps are bright in the dark frame too


def test_histogram_matching_moves_toward_the_reference() -> None:
    reference_image = np.zeros((64, 64, 3), np.uint8)
    reference_image[...] = (60, 40, 15)  # dim sodium orange
    reference_image[:8] = (250, 200, 120)
    ref = NightReference(reference_image)
    clean = _scene()
    cfg = SynthConfig(lamp_prob=0.0, blur_prob=0.0, jpeg_prob=0.0, match_max=1.0)
    plain, _ = synthesize(clean, np.random.default_rng(4), PLAIN, exposure=0.2)
    matched, _ = synthesize(clean, np.random.default_rng(4), cfg, ref, exposure=0.2)
    target_rg = reference_image[..., 0].mean() / reference_image[..., 2].mean()
    ratio = lambda im: im[..., 0].mean() / max(1.0, im[..., 2].mean())  # noqa: E731
    assert abs(ratio(matched) - target_rg) < abs(ratio(plain) - target_rg)


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"data\.synth\.exposure: unknown key"):
        SynthConfig.from_mapping({"exposure": 0.1}, "data.synth")
    with pytest.raises(ConfigError, match="exposure_min <= exposure_max"):
        SynthConfig(exposure_min=0.5, exposure_max=0.1)
    with pytest.raises(ConfigError, match="uint8"):
        synthesize(np.zeros((8, 8, 3), np.float32), np.random.default_rng(0))


def test_pairs_from_a_video(tmp_path) -> None:
    """Users train on their own daytime footage: frames are sampled from a real encoded video
    and turned into deterministic (dark, clean) pairs."""
    from pipeline.training.data import SyntheticPairDataset, video_frames
    from tests.clips import make_clip

    clip = make_clip(tmp_path / "day.mp4", width=64, height=48, fps=10, seconds=1.0, audio=False)
    frames = video_frames(clip, every=3)
    assert len(frames) == 4 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    data = SyntheticPairDataset(frames, crop=32, config=PLAIN, seed=5)
    dark, clean = data[1]
    again = SyntheticPairDataset(frames, crop=32, config=PLAIN, seed=5)[1]
    assert dark.shape == clean.shape == (3, 32, 32)
    assert torch.equal(dark, again[0]) and torch.equal(clean, again[1])
    assert float(dark.mean()) < float(clean.mean())
    data.set_epoch(1)
    assert not torch.equal(data[1][0], dark)  # a new epoch draws new darkness and noise


def test_lamp_glow_is_not_dimmed_with_the_scene() -> None:
    """A lamp's halo is as bright in the night frame as in the clean one (it is the lamp's
    light, not the scene's), so a model never learns to paint halos around lights."""
    cfg = SynthConfig(lamp_prob=1.0, lamp_max=1, blur_prob=0.0, jpeg_prob=0.0, match_max=0.0,
                      shot_min=0.0, shot_max=0.0, read_min=0.0, read_max=0.0)
    clean = np.full((96, 96, 3), 60, np.uint8)
    dark, target = synthesize(clean, np.random.default_rng(5), cfg, exposure=1 / 20)
    halo = (target.max(axis=2) > 90) & (target.max(axis=2) < 240)  # glow, not the core
    assert halo.sum() > 20
    # the halo keeps its added light: dark >= target minus the dimmed scene underneath
    assert dark[halo].mean() > 0.8 * (target[halo].mean() - 60)
    assert dark[~halo & (target.max(axis=2) < 70)].mean() < 25  # the scene itself is dark


def test_dashcam_compression_is_deterministic_and_blocky() -> None:
    """The H.264 round trip and black crush of the synthesis: same seed, same bytes; the
    crush leaves near-black at 0; the encode at a high CRF leaves 8x8 block edges."""
    import numpy as np

    from pipeline.training.data.synth import crush_blacks, h264_roundtrip
    from pipeline.training.metrics import block_ratio

    rng = np.random.default_rng(4)
    clean = (rng.random((64, 96, 3)) * 200 + 30).astype(np.uint8)
    config = SynthConfig(h264_prob=1.0, crush_prob=1.0, crush_max=5, jpeg_prob=0.0)
    a = synthesize(clean, np.random.default_rng(11), config)[0]
    b = synthesize(clean, np.random.default_rng(11), config)[0]
    c = synthesize(clean, np.random.default_rng(12), config)[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    dark = np.full((32, 32, 3), 4, np.uint8)
    assert crush_blacks(dark, 5).max() == 0 and crush_blacks(dark, 2).min() > 0
    import cv2

    ramp = np.add.outer(np.linspace(10, 50, 64), np.linspace(0, 30, 64))
    texture = cv2.GaussianBlur(rng.normal(0, 12, (64, 64)), (0, 0), 2)
    dusk = np.clip(ramp + texture, 0, 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    assert block_ratio(h264_roundtrip(dusk, 42)) > block_ratio(dusk) + 0.2
    assert h264_roundtrip(dusk[:33, :47], 30).shape == (33, 47, 3)  # odd sides
    with pytest.raises(ConfigError):
        SynthConfig(h264_crf_min=40, h264_crf_max=30)


def test_night_sky_stays_dark_in_the_target_too() -> None:
    """The night-sky step darkens the top of the target and of the input alike (deterministic
    per seed); the rest of the target is the clean image."""
    clean = _scene(96, 64)
    config = SynthConfig(lamp_prob=0.0, blur_prob=0.0, jpeg_prob=0.0, match_max=0.0,
                         sky_prob=1.0, sky_gain_min=0.02, sky_gain_max=0.02)
    dark, target = synthesize(clean, np.random.default_rng(3), config, exposure=0.2)
    again = synthesize(clean, np.random.default_rng(3), config, exposure=0.2)
    assert np.array_equal(dark, again[0]) and np.array_equal(target, again[1])
    assert target[:10].mean() < 0.35 * clean[:10].mean()  # the sky: 2% of the light
    np.testing.assert_array_equal(target[-10:], clean[-10:])  # below the horizon: untouched
    assert dark[:10].mean() < 0.5 * dark[-10:].mean()
    plain = synthesize(clean, np.random.default_rng(3), PLAIN, exposure=0.2)[1]
    np.testing.assert_array_equal(plain, clean)
    with pytest.raises(ConfigError):
        SynthConfig(sky_prob=0.5, sky_gain_min=0.0)
