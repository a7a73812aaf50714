"""Training losses on cases with known answers, and against ports of the official Zero-DCE code."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.errors import ConfigError
from pipeline.training.losses import (RestorationLoss, ZeroReferenceLoss, charbonnier, colour_constancy,
                             exposure_control, illumination_smoothness, ms_ssim_torch,
                             spatial_consistency, ssim_torch)
from pipeline.training.metrics import ssim


def _official_spa(org: torch.Tensor, enhance: torch.Tensor) -> torch.Tensor:
    """``L_spa`` of Li-Chongyi/Zero-DCE ``Myloss.py``, as the training script reduces it."""
    def kernel(values: list[list[float]]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 3, 3)

    left = kernel([[0, 0, 0], [-1, 1, 0], [0, 0, 0]])
    right = kernel([[0, 0, 0], [0, 1, -1], [0, 0, 0]])
    up = kernel([[0, -1, 0], [0, 1, 0], [0, 0, 0]])
    down = kernel([[0, 0, 0], [0, 1, 0], [0, -1, 0]])
    o = F.avg_pool2d(org.mean(1, keepdim=True), 4)
    e = F.avg_pool2d(enhance.mean(1, keepdim=True), 4)
    total = 0
    for k in (left, right, up, down):
        total = total + (F.conv2d(o, k, padding=1) - F.conv2d(e, k, padding=1)) ** 2
    return total.mean()


def test_spatial_consistency_matches_official_form() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 48)
    y = (x * 1.7 + 0.1 * torch.rand_like(x)).clamp(0, 1)
    assert torch.allclose(spatial_consistency(x, y), _official_spa(x, y), atol=1e-7)


def test_spatial_consistency_known_answers() -> None:
    x = torch.rand(1, 3, 16, 16)
    assert float(spatial_consistency(x, x)) == 0.0
    # Two 4x4 regions, grey 0 and 1: the right region's left-difference is 1, its right one
    # (against the zero padding) 1; halving y halves both; squared changes 0.25 each. The left
    # region: right-difference -1 -> -0.5. Mean over the 2 regions of the summed changes:
    x = torch.zeros(1, 3, 4, 8)
    x[..., 4:] = 1.0
    # left region: right diff 0-1 = -1 vs -0.5 -> 0.25; right region: left diff 1 vs 0.5 ->
    # 0.25, right/up/down diffs (vs padding 0) 1 vs 0.5 -> 0.25 each
    expected = (0.25 + 4 * 0.25) / 2
    assert math.isclose(float(spatial_consistency(x, 0.5 * x)), expected, rel_tol=1e-6)


@pytest.mark.parametrize("level", [0.0, 0.3, 0.6, 0.9])
def test_exposure_control_of_flat_image(level: float) -> None:
    y = torch.full((2, 3, 32, 32), level)
    assert math.isclose(float(exposure_control(y)), (level - 0.6) ** 2, rel_tol=1e-4, abs_tol=1e-7)


def test_exposure_control_patches() -> None:
    y = torch.zeros(1, 3, 16, 32)
    y[..., 16:] = 0.6  # two 16x16 patches: one at the level, one 0.6 below it
    assert math.isclose(float(exposure_control(y)), 0.36 / 2, rel_tol=1e-6)


def test_colour_constancy_known_answers() -> None:
    grey = torch.full((1, 3, 8, 8), 0.4)
    assert float(colour_constancy(grey)) < 1e-5
    tinted = torch.stack([torch.full((8, 8), v) for v in (0.5, 0.3, 0.3)])[None]
    assert math.isclose(float(colour_constancy(tinted)), math.sqrt(2 * 0.2 ** 4), rel_tol=1e-4)


def test_illumination_smoothness_known_answers() -> None:
    flat = torch.full((2, 3, 6, 6), 0.3)
    assert float(illumination_smoothness(flat)) == 0.0
    ramp = (torch.arange(5.0) * 0.1).expand(1, 1, 4, 5)
    # 4 rows x 4 steps of 0.1 along w: sum 0.16 over count_w 16; nothing along h; x2 / batch 1
    assert math.isclose(float(illumination_smoothness(ramp)), 0.02, rel_tol=1e-5)


def test_zero_reference_loss_weights_and_validation() -> None:
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32) * 0.3
    maps = torch.rand(2, 24, 32, 32) - 0.5
    y = x.sqrt()
    loss = ZeroReferenceLoss(w_spa=1, w_exp=10, w_col=5, w_tv=200)
    total, parts = loss(x, y, maps)
    expected = (spatial_consistency(x, y) + 10 * exposure_control(y) + 5 * colour_constancy(y)
                + 200 * illumination_smoothness(maps))
    assert torch.allclose(total, expected)
    assert set(parts) == {"spa", "exp", "col", "tv"}
    with pytest.raises(ConfigError, match="w_tv"):
        ZeroReferenceLoss(w_tv=-1)
    with pytest.raises(ConfigError, match="exposure_level"):
        ZeroReferenceLoss(exposure_level=1.5)


def test_charbonnier() -> None:
    x = torch.rand(1, 3, 8, 8)
    assert math.isclose(float(charbonnier(x, x, eps=1e-3)), 1e-3, rel_tol=1e-4)
    assert math.isclose(float(charbonnier(x, x + 0.5, eps=1e-3)), math.sqrt(0.25 + 1e-6),
                        rel_tol=1e-4)


def test_ssim_torch_equals_metric_and_ms_ssim_orders_quality() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    a = np.clip(a.astype(float) * 0.3 + np.linspace(0, 170, 52)[None, :, None], 0, 255)
    a = a.astype(np.uint8)
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)

    def t(im: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(im).permute(2, 0, 1)[None].double() / 255

    assert math.isclose(float(ssim_torch(t(a), t(b))), ssim(a, b), abs_tol=1e-6)
    assert math.isclose(float(ssim_torch(t(a), t(a))), 1.0, abs_tol=1e-9)
    x = torch.rand(1, 3, 64, 64)
    slightly = (x + 0.02 * torch.randn_like(x)).clamp(0, 1)
    badly = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    assert math.isclose(float(ms_ssim_torch(x, x)), 1.0, abs_tol=1e-5)
    assert 1.0 > float(ms_ssim_torch(x, slightly)) > float(ms_ssim_torch(x, badly)) > 0


def test_restoration_loss() -> None:
    x = torch.rand(2, 3, 32, 32)
    y = (x + 0.1).clamp(0, 1)
    loss = RestorationLoss(pixel="l1", w_ssim=0.5)
    total, parts = loss(y, x)
    assert torch.allclose(total, (y - x).abs().mean() + 0.5 * (1 - ssim_torch(y, x)))
    assert float(RestorationLoss()(x, x)[0]) < 2e-3
    with pytest.raises(ConfigError, match="pixel"):
        RestorationLoss(pixel="l2")
    with pytest.raises(ConfigError, match="ssim"):
        RestorationLoss(ssim="psnr")
