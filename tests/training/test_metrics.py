"""Image metrics against scikit-image (the reference implementation) and on known images."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.errors import ConfigError
from pipeline.training.metrics import gt_mean_correct, grey, no_reference_stats, noise_sigma, psnr, ssim

skimage_metrics = pytest.importorskip("skimage.metrics")


def _pair(seed: int, shape: tuple[int, ...] = (48, 64, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.add.outer(np.linspace(20, 200, shape[0]), np.linspace(0, 40, shape[1]))
    if len(shape) == 3:
        base = base[..., None] * np.array([1.0, 0.8, 0.6])
    a = np.clip(base + rng.normal(0, 10, shape), 0, 255).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 15, shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_equals_skimage(seed: int) -> None:
    a, b = _pair(seed)
    assert math.isclose(psnr(a, b), skimage_metrics.peak_signal_noise_ratio(a, b, data_range=255),
                        rel_tol=1e-9)
    assert psnr(a, a) == math.inf


@pytest.mark.parametrize("shape", [(48, 64, 3), (33, 41), (11, 11, 3)])
def test_ssim_equals_skimage(shape: tuple[int, ...]) -> None:
    a, b = _pair(3, shape)
    ref = skimage_metrics.structural_similarity(
        a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        channel_axis=2 if len(shape) == 3 else None)
    assert math.isclose(ssim(a, b), ref, abs_tol=1e-9)
    assert math.isclose(ssim(a, a), 1.0, abs_tol=1e-12)


def test_metric_input_errors() -> None:
    a, b = _pair(0)
    with pytest.raises(ConfigError, match="differ in shape"):
        psnr(a, b[:-1])
    with pytest.raises(ConfigError, match="uint8"):
        ssim(a.astype(np.float32), b.astype(np.float32))
    with pytest.raises(ConfigError, match="smaller than the 11-pixel"):
        ssim(a[:5, :5], b[:5, :5])


def test_gt_mean_correction() -> None:
    target, _ = _pair(4)
    dark = (target * 0.3).astype(np.uint8)
    corrected = gt_mean_correct(dark, target)
    assert abs(grey(corrected).mean() - grey(target).mean()) < 1.0
    # a pure brightness error is (nearly) taken out of the comparison
    assert psnr(corrected, target) > psnr(dark, target) + 10


@pytest.mark.parametrize("sigma", [2.0, 5.0, 12.0])
def test_noise_estimate_on_known_noise(sigma: float) -> None:
    rng = np.random.default_rng(5)
    flat = 120 + rng.normal(0, sigma, (256, 256))
    image = np.repeat(np.clip(flat, 0, 255)[..., None], 3, axis=2).round().astype(np.uint8)
    assert abs(noise_sigma(image) - sigma) < 0.1 * sigma + 0.3


def test_no_reference_stats() -> None:
    neutral = np.full((32, 32, 3), 100, np.uint8)
    stats = no_reference_stats(neutral)
    assert math.isclose(stats["brightness"], 100, abs_tol=0.5)
    assert stats["colour_cast"] < 0.5 and stats["noise"] < 0.1
    assert stats["dark_clip"] == 0 and stats["bright_clip"] == 0
    sodium = np.zeros((32, 32, 3), np.uint8)
    sodium[...] = (200, 120, 30)
    assert no_reference_stats(sodium)["colour_cast"] > 30
    black = np.zeros((32, 32, 3), np.uint8)
    assert no_reference_stats(black)["dark_clip"] == 1.0


def test_zero_reference_terms_equal_the_training_losses() -> None:
    """The eval tool's no-reference Zero-DCE terms are the training losses, on uint8 images."""
    import torch

    from pipeline.training.losses import colour_constancy, exposure_control, spatial_consistency
    from pipeline.training.metrics import zero_reference_terms

    low, _ = _pair(6, (48, 64, 3))
    low = (low * 0.3).astype(np.uint8)
    out = np.clip(low.astype(float) * 2.5 + 10, 0, 255).astype(np.uint8)
    terms = zero_reference_terms(low, out)

    def t(im: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(im).permute(2, 0, 1)[None].double() / 255

    assert math.isclose(terms["L_spa"], float(spatial_consistency(t(low), t(out))), rel_tol=1e-9)
    assert math.isclose(terms["L_exp"], float(exposure_control(t(out))), rel_tol=1e-9)
    assert math.isclose(terms["L_col"], float(colour_constancy(t(out))), rel_tol=1e-6)
    assert zero_reference_terms(low, low)["L_spa"] == 0.0
