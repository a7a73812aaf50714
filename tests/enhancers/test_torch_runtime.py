"""The PyTorch GPU runtime's logic on a CPU (``CpuOps``): pinned-slot pipelining in order,
``infer`` with batches in flight, buffers that grow with the shape, reduced precision with the
normalization in FP32, and the enhancers' ``precision``/``graphs`` settings. The same code runs
on CUDA with ``CudaOps`` (GPU tests are marked ``gpu``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.enhancers import build_enhancer
from pipeline.enhancers.torch_runtime import CpuOps, TorchRunner
from pipeline.models.common import ReducedGroupNorm, cast_model, prepare_for_gpu
from pipeline.errors import ConfigError, EnhancerError
from pipeline.models import create_model


class Invert(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 - x


def _frames(seed: int, shape=(1, 24, 32, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_pipelined_batches_come_back_in_order() -> None:
    runner = TorchRunner(Invert(), CpuOps())
    a, b = _frames(1), _frames(2, (2, 24, 32, 3))
    runner.submit(a)
    runner.submit(b)
    with pytest.raises(EnhancerError, match="both slots are busy"):
        runner.submit(a)
    assert np.array_equal(runner.collect(), 255 - a)
    assert np.array_equal(runner.collect(), 255 - b)
    with pytest.raises(EnhancerError, match="nothing submitted"):
        runner.collect()


def test_infer_returns_its_own_batch_with_others_in_flight() -> None:
    runner = TorchRunner(Invert(), CpuOps())
    first, second, third = _frames(3), _frames(4), _frames(5, (1, 40, 56, 3))
    runner.submit(first)
    runner.submit(second)
    assert np.array_equal(runner.infer(third), 255 - third)  # a larger shape: buffers grow
    assert runner.pending == 2
    assert np.array_equal(runner.collect(), 255 - first)
    assert np.array_equal(runner.collect(), 255 - second)
    runner.close()
    runner.close()


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_stays_close_to_fp32(precision: str) -> None:
    torch.manual_seed(0)
    model = create_model("unet_gn", width=0.25).eval()
    frames = (np.random.default_rng(6).random((1, 48, 64, 3)) ** 2 * 120).astype(np.uint8)
    fp32 = TorchRunner(_copy(model), CpuOps(), "fp32").infer(frames)
    low = TorchRunner(_copy(model), CpuOps(), precision).infer(frames)
    tolerance = 2 if precision == "fp16" else 6  # bf16 keeps 8 mantissa bits
    assert np.abs(low.astype(int) - fp32.astype(int)).max() <= tolerance


def _copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def test_bf16_unet_on_white_is_finite() -> None:
    """BF16 rounds the input clamp 1 - 1/512 up to 1: the logit is taken in FP32."""
    torch.manual_seed(0)
    model = create_model("unet_gn", width=0.25).eval()
    frames = np.full((1, 32, 48, 3), 255, np.uint8)
    frames[0, :16] = 3
    fp32 = TorchRunner(_copy(model), CpuOps(), "fp32").infer(frames)
    low = TorchRunner(_copy(model), CpuOps(), "bf16").infer(frames)
    assert np.abs(low.astype(int) - fp32.astype(int)).max() <= 6


@pytest.mark.parametrize("channels, groups, affine", [(16, 16, True), (64, 32, True),
                                                      (6, 3, True), (8, 4, False)])
def test_reduced_group_norm_is_group_norm(channels: int, groups: int, affine: bool) -> None:
    torch.manual_seed(channels)
    norm = nn.GroupNorm(groups, channels, affine=affine)
    if affine:
        nn.init.normal_(norm.weight)
        nn.init.normal_(norm.bias)
    x = torch.randn(2, channels, 19, 27) * 3 + 1.5
    reduced = ReducedGroupNorm(norm)
    expected = norm(x)
    torch.testing.assert_close(reduced(x), expected, atol=2e-5, rtol=1e-5)
    last = reduced(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(last, expected, atol=2e-5, rtol=1e-5)
    assert reduced.half().weight.dtype == torch.float32  # affine kept FP32 under a cast
    low = reduced(x.bfloat16()).float()
    assert torch.isfinite(low).all() and (low - expected).abs().max() < 0.1


def test_gpu_layout_keeps_the_function() -> None:
    """The layout a GPU gets (channels-last weights, split-reduction GroupNorms) computes what
    the model computed, and the runner works on a copy (the caller's model is untouched)."""
    torch.manual_seed(1)
    model = create_model("unet_gn", width=0.25).eval()
    x = torch.rand(1, 3, 48, 80)
    with torch.no_grad():
        expected = model(x)
        prepared = prepare_for_gpu(_copy(model))
        got = prepared(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not any(isinstance(m, nn.GroupNorm) for m in prepared.modules())
    assert sum(isinstance(m, ReducedGroupNorm) for m in prepared.modules()) == sum(
        isinstance(m, nn.GroupNorm) for m in model.modules())
    assert prepared.enc1[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    TorchRunner(model, CpuOps(), "fp16")
    assert next(model.parameters()).dtype == torch.float32


def test_normalization_stays_fp32() -> None:
    model = cast_model(create_model("unet_gn", width=0.25), "fp16")
    norms = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert norms and all(p.dtype == torch.float32 for m in norms for p in m.parameters())
    assert all(m.weight.dtype == torch.float16 for m in convs)
    with pytest.raises(ConfigError, match="precision must be one of"):
        cast_model(Invert(), "int4")


def test_enhancer_precision_setting() -> None:
    frames = (np.random.default_rng(7).random((2, 40, 56, 3)) ** 2 * 100).astype(np.uint8)
    fp32 = build_enhancer("zero_dce", threads=1)(frames)
    half = build_enhancer("zero_dce", threads=1, precision="bf16")
    out = half(frames)
    assert half.runner is not None and half.max_in_flight == 0  # CPU: synchronous
    assert np.abs(out.astype(int) - fp32.astype(int)).max() <= 8
    with pytest.raises(ConfigError, match="precision must be fp32, fp16 or bf16"):
        build_enhancer("unet_gn", precision="fp64")
    with pytest.raises(ConfigError, match="graphs must be true or false"):
        build_enhancer("unet_gn", graphs="yes")
    cuda = build_enhancer("zero_dce_pp", device="cuda:1")
    assert cuda.max_in_flight == 2  # pipelined where the device is a GPU


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
@pytest.mark.parametrize("graphs", [False, True])
def test_cuda_runner_matches_cpu(precision: str, graphs: bool) -> None:
    from pipeline.enhancers.torch_runtime import CudaOps

    torch.manual_seed(0)
    model = create_model("unet_gn", width=0.5).eval()
    frames = (np.random.default_rng(8).random((2, 272, 480, 3)) ** 2 * 120).astype(np.uint8)
    cpu = TorchRunner(_copy(model), CpuOps()).infer(frames)
    gpu = TorchRunner(_copy(model), CudaOps(torch.device("cuda")), precision, graphs=graphs)
    gpu.submit(frames)
    gpu.submit(frames[:, ::-1].copy())
    first, second = gpu.collect(), gpu.collect()
    tolerance = 6 if precision == "bf16" else 2  # bf16 keeps 8 mantissa bits
    assert np.abs(first.astype(int) - cpu.astype(int)).max() <= tolerance
    assert not np.array_equal(first, second)
    assert gpu.gpu_layout
    if graphs:
        assert gpu.graph_runs >= 1
