"""The neural enhancers as the pipeline runs them: shipped weights, official checkpoints brought
by the user, the Zero-DCE++ lookup-table path, argument checks, and a real file job."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.enhancers import build_enhancer
from pipeline.enhancers.neural import default_weights
from pipeline.errors import ConfigError, EnhancerError
from pipeline.models import create_model
from tests.clips import make_clip, probe
from tests.common import SHARED_DATA, assert_clean_error, run_cli

NEURAL = ["unet_gn", "zero_dce", "zero_dce_pp"]
OFFICIAL = SHARED_DATA / "official"
needs_official = pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason=f"official checkpoints not found at {OFFICIAL} (../shared absent)")


def _night_frame(h: int = 72, w: int = 128, seed: int = 0) -> np.ndarray:
    """A dark ``(1, H, W, 3)`` frame: dim road gradient, noise, one bright lamp."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.linspace(4, 40, h), np.linspace(0, 12, w))
    frame = ramp[..., None] * np.array([1.0, 0.85, 0.6]) + rng.normal(0, 3, (h, w, 3))
    cv2.circle(frame, (w // 4, h // 4), max(2, h // 12), (255, 230, 180), -1)
    return np.clip(frame, 0, 255).astype(np.uint8)[None]


def _luma(frames: np.ndarray) -> float:
    return float((frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])).mean())


@pytest.mark.parametrize("name", NEURAL)
def test_shipped_weights_exist_with_a_model_card(name: str) -> None:
    weights = default_weights(name)
    assert weights.is_file(), f"{weights} missing"
    card = weights.with_suffix(".md")
    assert card.is_file(), f"model card {card} missing"
    text = card.read_text()
    for needed in ("configs/train_", "licen", "PSNR" if name == "unet_gn" else "loss"):
        assert needed.lower() in text.lower(), f"{card.name} does not mention {needed!r}"


@pytest.mark.parametrize("name", NEURAL)
def test_shipped_weights_brighten_a_night_frame(name: str) -> None:
    frame = _night_frame()
    with build_enhancer(name) as enhancer:
        out = enhancer(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert _luma(out) > 1.8 * _luma(frame)
    # the lamp stays bright: no inversion or clipping to grey of the highlights
    assert out[0, 15:21, 29:35].mean() > 200


def test_zero_dce_pp_lut_matches_the_exact_curve() -> None:
    frames = np.concatenate([_night_frame(seed=1), _night_frame(seed=2)])
    for scale in (12.0, 1.0, 5.0):
        fast = build_enhancer("zero_dce_pp", scale=scale, lut=True)(frames).astype(int)
        exact = build_enhancer("zero_dce_pp", scale=scale, lut=False)(frames).astype(int)
        assert np.abs(fast - exact).max() <= 1, scale


def test_unet_width_comes_from_the_weights_file(tmp_path: Path) -> None:
    model = create_model("unet_gn", width=0.25)
    path = tmp_path / "quarter.pt"
    torch.save(model.state_dict(), path)
    enhancer = build_enhancer("unet_gn", weights=str(path))
    assert enhancer.model.channels == (8, 16, 32, 64, 128)
    assert enhancer.model.input_skip
    # weights of the variant without the input skip load too
    torch.save(create_model("unet_gn", width=0.25, input_skip=False).state_dict(), path)
    assert not build_enhancer("unet_gn", weights=str(path)).model.input_skip
    frame = _night_frame(20, 30)
    with enhancer:
        assert enhancer(frame).shape == frame.shape


def test_argument_and_weights_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_enhancer("zero_dce", weights=str(tmp_path / "nope.pth"))
    # a device never ends and a FIFO blocks its reader: refused by name, not read
    os.mkfifo(tmp_path / "fifo.pth")
    for special in ("/dev/zero", str(tmp_path / "fifo.pth")):
        with pytest.raises(ConfigError, match="is not a regular file .a device, FIFO or socket"):
            build_enhancer("zero_dce", weights=special)
    other = tmp_path / "pp.pt"
    torch.save(create_model("zero_dce_pp").state_dict(), other)
    with pytest.raises(ConfigError, match="does not fit model ZeroDCE: missing keys"):
        build_enhancer("zero_dce", weights=str(other))
    with pytest.raises(ConfigError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
        build_enhancer("zero_dce_pp", device="gpu")
    with pytest.raises(ConfigError, match="threads must be an integer in 1..256"):
        build_enhancer("unet_gn", threads=0)
    with pytest.raises(ConfigError, match="scale must be a finite number >= 1"):
        build_enhancer("zero_dce_pp", scale=0.5)
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) width"):
        build_enhancer("unet_gn", width=0.5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where there is no GPU")
def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    enhancer = build_enhancer("zero_dce_pp", device="cuda")
    with pytest.raises(EnhancerError, match="torch sees no CUDA device"):
        enhancer.start()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")
@pytest.mark.parametrize("name", [*NEURAL, "lowres_guided"])
def test_cuda_matches_cpu(name: str) -> None:
    frame = _night_frame()
    cpu = build_enhancer(name)(frame).astype(int)
    with build_enhancer(name, device="cuda") as enhancer:
        gpu = enhancer(frame).astype(int)
    assert np.abs(cpu - gpu).max() <= 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA")
def test_cuda_fp16_batches_through_pipeline_and_batch_job(tmp_path: Path) -> None:
    """The production threads on a GPU: FP16, CUDA graphs and batches of 4 over a clip whose
    length is not a multiple of 4 (a short last batch), then the batch job; nothing lost."""
    from pipeline.batch.cli import main as batch_main
    from pipeline.config import load_config
    from pipeline.streaming.runner import Pipeline

    clip = make_clip(tmp_path / "night.mp4", seconds=1.0, fps=30)
    enhancer = "{type: unet_gn, device: cuda, precision: fp16, graphs: true}"
    cfg = load_config(None, [f"source.uri={clip}", f"sink.uri={tmp_path / 'o.mp4'}",
                             f"enhancer={enhancer}", "enhancer.batch_size=4",
                             "run.progress=false"])
    result = Pipeline(cfg).run()
    assert result.error is None and result.stats.frames_out == probe(clip).frames == 30
    drives = tmp_path / "drives"
    drives.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(drives / name, seconds=0.5)
    assert batch_main([str(drives), "-o", str(tmp_path / "out"), "--no-progress",
                       "--set", f"enhancer={enhancer}", "--batch-size", "4"]) == 0
    assert probe(tmp_path / "out" / "b.mp4").frames == probe(drives / "b.mp4").frames


@needs_official
@pytest.mark.parametrize("name, checkpoint, suffix, kwargs", [
    ("zero_dce", "zero_dce_epoch99.pth", "zero_dce", {}),
    ("zero_dce_pp", "zero_dce_pp_epoch99.pth", "zero_dce_pp_s12", {"scale": 12}),
])
def test_official_checkpoint_through_the_enhancer(name: str, checkpoint: str, suffix: str,
                                                  kwargs: dict) -> None:
    """A user's official checkpoint, unchanged, gives the authors' output to one level."""
    image = cv2.cvtColor(cv2.imread(str(OFFICIAL / "reference" / "street.png")),
                         cv2.COLOR_BGR2RGB)
    ref = np.load(OFFICIAL / "reference" / f"street.{suffix}.npy").astype(np.float64)
    ref_u8 = np.clip(np.rint(ref * 255), 0, 255)
    enhancer = build_enhancer(name, weights=str(OFFICIAL / checkpoint), **kwargs)
    out = enhancer(image[None])[0].astype(np.float64)
    # float16 storage of the reference (<= 2e-3) plus the LUT's one level
    assert np.abs(out - ref_u8).max() <= 2


def test_file_job_with_a_neural_enhancer(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", width=96, height=64, fps=15, seconds=1.0)
    out = tmp_path / "out.mp4"
    proc = run_cli("-i", str(clip), "-o", str(out), "--enhancer", "zero_dce_pp",
                   "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert probe(out).frames == probe(clip).frames


def test_cli_bad_weights_is_one_line(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", seconds=0.5)
    proc = run_cli("-i", str(clip), "-o", str(tmp_path / "o.mp4"), "--enhancer", "zero_dce",
                   "--set", f"enhancer.weights={tmp_path / 'missing.pth'}")
    assert_clean_error(proc, r"weights file .*missing\.pth.* does not exist", 2)


@pytest.mark.parametrize("small, size", [((5, 9), (60, 107)), ((1, 1), (4, 6)), ((3, 4), (1, 1)),
                                         ((60, 106), (720, 1280)), ((7, 7), (7, 7))])
def test_upsample_align_corners_equals_torch(small: tuple[int, int], size: tuple[int, int]) -> None:
    from pipeline.enhancers.neural import upsample_align_corners
    from pipeline.models.zero_dce_pp import upsample

    r = torch.rand(1, 3, *small) * 4095
    ref = upsample(r, size)[0].permute(1, 2, 0).numpy()
    out = upsample_align_corners(np.ascontiguousarray(r[0].permute(1, 2, 0).numpy()), *size)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 4095 * 1e-5
