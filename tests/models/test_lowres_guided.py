"""lowres_guided, the real-time quality model: shapes and odd sizes, uint8 in and out through
both CPU runtimes (PyTorch and ONNX Runtime, host-applied transform) within two levels of the
model's own full-resolution path, the exposure knob, temporal smoothing and its reset on a cut,
and a few training steps from its recipe."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.enhancers import build_enhancer
from pipeline.enhancers.neural import (DEFAULT_EXPOSURE, TemporalSmoother, apply_guided,
                                       default_weights, low_views)
from pipeline.errors import ConfigError
from pipeline.models import create_model
from pipeline.models.lowres_guided import (AUTO, EXPOSURE_PRESETS, LowResGuided,
                                           check_exposure, luma_u8)
from tests.clips import make_clip, probe
from tests.common import ROOT, run_cli


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A perturbed (not identity) network: every part of the transform does something."""
    torch.manual_seed(0)
    model = create_model("lowres_guided", width=0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("lg") / "lg.pt"
    torch.save(model.state_dict(), path)
    return path


def _frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, h, w, 3)) ** 2 * 120).astype(np.uint8)


def _reference(model: torch.nn.Module, frames: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
        y = model(x)
    return (y * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_luma_is_opencvs_grey() -> None:
    import cv2

    frame = _frames(1, 17, 23)[0]
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    ours = (luma_u8(x)[0, 0] * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(ours, cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))


@pytest.mark.parametrize("shape", [(1, 16, 16), (2, 17, 23), (1, 75, 131), (3, 64, 96)])
def test_torch_enhancer_host_path_matches_the_model(weights: Path, shape) -> None:
    enhancer = build_enhancer("lowres_guided", weights=str(weights), temporal=0.0)
    frames = _frames(*shape)
    out = enhancer(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    # the host views are box averages like the graph's: within two levels of the model itself
    diff = np.abs(out.astype(int) - _reference(enhancer.model, frames)).max()
    assert diff <= 2, diff
    assert not np.array_equal(out, frames)


def test_onnxruntime_enhancer_matches_torch(weights: Path) -> None:
    torch_enh = build_enhancer("lowres_guided", weights=str(weights), temporal=0.0)
    ort_enh = build_enhancer("onnxruntime", model="lowres_guided", weights=str(weights),
                             model_args={"temporal": 0.0})
    frames = _frames(2, 75, 131, seed=3)
    a, b = torch_enh(frames), ort_enh(frames)
    assert ort_enh.io == "low"
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    full = build_enhancer("onnxruntime", model="lowres_guided", weights=str(weights),
                          host_lut=False)
    assert np.abs(full(frames).astype(int) - _reference(torch_enh.model, frames)).max() <= 1


def test_no_nan_on_black_white_and_flat_frames(weights: Path) -> None:
    enhancer = build_enhancer("lowres_guided", weights=str(weights))
    for value in (0, 255, 37):
        frames = np.full((1, 40, 56, 3), value, np.uint8)
        with torch.no_grad():
            x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
            a, b = enhancer.model.coefficients(x)
        assert torch.isfinite(a).all() and torch.isfinite(b).all()
        assert enhancer(frames).shape == frames.shape


def test_apply_guided_is_a_multiply_add() -> None:
    frames = _frames(1, 24, 32)
    rows = np.zeros((1, 3, 4, 6), np.float32)
    rows[..., :3] = 2.0     # A: twice the grey
    rows[..., 3:] = 10.0    # 255 * B: ten levels
    out = apply_guided(frames, rows, 8, deblock=False)
    import cv2

    grey = cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY).astype(int)
    assert np.array_equal(out[0, ..., 1], np.clip(2 * grey + 10, 0, 255))


def test_deblocking_smooths_flat_block_steps_and_keeps_edges() -> None:
    """A dark sky of flat 8x8 blocks one or two levels apart (an H.264 frame at a low bit
    rate) above a strong edge: after a 4x gain the host's deblocked output has far smaller
    steps at the block edges of the sky, the edge is kept, and the host (OpenCV) and the
    model (torch, what the ONNX/TensorRT graphs run) agree."""
    import cv2

    from pipeline.models.lowres_guided import deblock_luma
    from pipeline.training.metrics import block_ratio

    rng = np.random.default_rng(0)
    sky = 6 + rng.integers(0, 3, (4, 8)).repeat(8, 0).repeat(8, 1)
    ground = np.full((16, 64), 60)
    grey = np.concatenate([sky, ground]).astype(np.uint8)
    frames = np.repeat(grey[None, ..., None], 3, axis=3)
    rows = np.zeros((1, 6, 8, 6), np.float32)
    rows[..., :3] = 4.0
    plain = apply_guided(frames, rows, 8, deblock=False)[0]
    smooth = apply_guided(frames, rows, 8)[0]
    assert block_ratio(smooth[:32]) < 0.5 * block_ratio(plain[:32])
    assert smooth[36:].min() == 240 and smooth[:26].max() < 60  # the edge stays an edge
    y = torch.from_numpy(grey).float()[None, None] / 255
    means = torch.nn.functional.avg_pool2d(y, 8)
    ours = (4 * deblock_luma(y, means, 8) * 255).round().clamp(0, 255)[0, 0].numpy()
    assert np.abs(ours - smooth[..., 1]).max() <= 1
    assert np.array_equal(cv2.cvtColor(plain, cv2.COLOR_RGB2GRAY),
                          np.clip(4 * grey.astype(int), 0, 255))
    # denoise: flat blocks lose that share of their inner variation (noise), the edge stays
    noisy = grey.astype(int)
    noisy[:24] += rng.integers(-2, 3, (24, 64))
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    frames = np.repeat(noisy[None, ..., None], 3, axis=3)
    from pipeline.enhancers.neural import GuidedApplier
    from pipeline.training.metrics import noise_sigma

    kept = GuidedApplier(True, 0.0)(frames, rows, 8)[0]
    cleaned = GuidedApplier(True, 0.8)(frames, rows, 8)[0]
    assert noise_sigma(cleaned[:24]) < 0.5 * noise_sigma(kept[:24])
    assert cleaned[36:].min() == 240
    y = torch.from_numpy(noisy).float()[None, None] / 255
    ours = (4 * deblock_luma(y, torch.nn.functional.avg_pool2d(y, 8), 8, 0.8) * 255)
    assert np.abs(ours.round().clamp(0, 255)[0, 0].numpy() - cleaned[..., 1]).max() <= 1


def _whole_frame_apply(frame: np.ndarray, rows: np.ndarray, scale: int,
                       denoise: float, bilateral: float = 0.0) -> np.ndarray:
    """The guided transform on the frame padded to a multiple of the scale, cropped at the
    end, plainly: the reference the applier's cropped views must equal."""
    import cv2

    from pipeline.enhancers.neural import low_views
    from pipeline.models.lowres_guided import (BILATERAL_MIN_SIGMA, DEBLOCK_FLOOR,
                                               DEBLOCK_SLOPE, bilateral_luma)

    height, width = frame.shape[:2]
    h, w = rows.shape[:2]
    full = (w * scale, h * scale)

    def up(small: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(small), full,
                          interpolation=interpolation)[:height, :width]

    means = low_views(frame[None], scale)[0, ..., 3] * np.float32(255.0)
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if bilateral:
        y = torch.from_numpy(grey)[None, None] / 255.0
        grey = (bilateral_luma(y, bilateral) * 255.0)[0, 0].numpy()
    near, smooth = up(means, cv2.INTER_AREA), up(means)
    padded = np.pad(means, 1, mode="edge")
    step = np.max(np.abs(np.stack([padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1],
                                   padded[2:, 1:-1]]) - means), axis=0)
    weight = up(np.clip(1 - step / (DEBLOCK_FLOOR * 255 + DEBLOCK_SLOPE * means), 0, 1)
                .astype(np.float32))
    y = grey + weight * (smooth - (1.0 - denoise) * near - denoise * grey)
    out = up(rows[..., :3]) * y[..., None] + up(rows[..., 3:])
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("denoise,bilateral", [(0.8, 0.0), (0.3, 5.0)])
@pytest.mark.parametrize("shape", [(16, 16), (64, 64), (72, 64), (75, 131), (137, 200),
                                   (200, 57), (261, 35), (384, 24)])
def test_the_applier_equals_the_plain_transform(shape: tuple[int, int], denoise: float,
                                                bilateral: float) -> None:
    """The applier works in strips of 128 rows (two and three here for the tallest frames),
    upsamples into padded buffers and works on views of them, reusing them between strips and
    frames; every pixel is what the plain transform on the whole frame (with the model's own
    bilateral filter) gives, within the float rounding of a different order of operations
    (one level)."""
    import cv2

    from pipeline.enhancers.neural import GuidedApplier, low_views

    rng = np.random.default_rng(5)
    frame = rng.integers(0, 90, (*shape, 3), dtype=np.uint8)
    h, w = low_views(frame[None], 8).shape[1:3]
    rows = rng.random((h, w, 6)).astype(np.float32) * np.float32([3, 3, 3, 40, 40, 40])
    applier = GuidedApplier(True, denoise, 1.0, bilateral)
    ref = _whole_frame_apply(frame, rows, 8, denoise, bilateral)
    for _ in range(2):  # the second frame reuses the buffers
        out = applier(frame[None], rows[None], 8)[0]
        diff = np.abs(out.astype(int) - ref)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.001, (diff.max(), (diff > 0).mean())
    # the grey images and low views the enhancers hand over: the same result
    greys = applier.grey_buffer(frame[None])
    views = low_views(frame[None], 8, greys)
    assert np.array_equal(greys[0], cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
    assert np.array_equal(applier(frame[None], rows[None], 8, views[..., 3], greys)[0], out)


def test_the_plain_applier_in_strips_equals_the_whole_frame() -> None:
    """Without deblocking the guide is the grey image itself; in strips (a 300-row frame is
    three) every pixel is the whole frame's bilinear A times grey plus B, and the tone curve
    is applied to every strip."""
    import cv2

    from pipeline.enhancers.neural import GuidedApplier, low_views

    rng = np.random.default_rng(9)
    frame = rng.integers(0, 90, (300, 40, 3), dtype=np.uint8)
    h, w = low_views(frame[None], 8).shape[1:3]
    rows = rng.random((h, w, 6)).astype(np.float32) * np.float32([3, 3, 3, 40, 40, 40])
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def up(small: np.ndarray) -> np.ndarray:
        return cv2.resize(np.ascontiguousarray(small), (w * 8, h * 8))[:300, :40]

    ref = np.clip(np.rint(up(rows[..., :3]) * grey[..., None] + up(rows[..., 3:])), 0, 255)
    out = GuidedApplier(False)(frame[None], rows[None], 8)[0]
    diff = np.abs(out.astype(int) - ref)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.001
    toned = GuidedApplier(False, tone=1.5)(frame[None], rows[None], 8)[0]
    lut = np.rint(255.0 * (np.arange(256) / 255.0) ** 1.5).astype(np.uint8)
    assert np.array_equal(toned, lut[out])


@pytest.mark.parametrize("shape", [(1, 5), (2, 2), (3, 3), (16, 16), (37, 61), (90, 160)])
def test_bilateral_filter_is_opencvs(shape: tuple[int, int]) -> None:
    """The model's bilateral filter of the guide and its noise estimate are what the host
    computes with OpenCV (``cv2.bilateralFilter``, 3x3, space sigma 1, edges replicated) and
    what ``tools/eval.py`` reports as noise."""
    import cv2

    from pipeline.enhancers.neural import noise_sigma_u8
    from pipeline.models.lowres_guided import bilateral_luma, noise_sigma_levels
    from pipeline.training.metrics import noise_sigma

    rng = np.random.default_rng(1)
    grey = np.clip(40 + rng.normal(0, 3, shape), 0, 255).astype(np.uint8)
    grey[:, shape[1] // 2:] += 60  # an edge
    y = torch.from_numpy(grey).float()[None, None] / 255.0
    sigma = noise_sigma_u8(grey)
    assert noise_sigma_levels(y)[0].item() == pytest.approx(sigma, rel=1e-5, abs=1e-6)
    if min(shape) >= 16:
        assert sigma > 1.0
    if min(shape) >= 90:  # every 8th row, edges replicated: close to the interior's estimate
        assert sigma == pytest.approx(noise_sigma(grey), rel=0.15)
    ours = (bilateral_luma(y, 5.0) * 255.0)[0, 0].numpy()
    theirs = cv2.bilateralFilter(grey.astype(np.float32), 3, max(5.0 * sigma, 0.5), 1.0,
                                 borderType=cv2.BORDER_REPLICATE)
    assert np.abs(ours - theirs).max() < 0.01


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (1, 5), (7, 1), (3, 3)])
def test_whole_frame_graph_takes_tiny_frames(shape: tuple[int, int], tmp_path: Path) -> None:
    """The uint8 frame graph (what TensorRT builds, with the noise estimate and the bilateral
    filter inside) runs on frames down to 1x1 and gives the model's output: the estimate works
    on the edge-replicated frame, so no convolution meets an input smaller than its kernel."""
    import onnxruntime as ort

    from pipeline.deploy.export import export_onnx

    model = create_model("lowres_guided", channels=[8, 16], global_context=True).eval()
    path = tmp_path / "lg.onnx"
    export_onnx(model, path, name="lowres_guided", io="uint8", check_shapes=((1, 24, 40),))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    frames = _frames(1, *shape, seed=3)
    out = session.run(None, {session.get_inputs()[0].name: frames})[0]
    with torch.inference_mode():
        ref = model(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0)
    ref = (ref * 255.0).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    assert out.shape == frames.shape
    assert np.abs(out.astype(int) - ref).max() <= 2


def test_bilateral_filter_removes_noise_and_keeps_edges() -> None:
    """On a noisy step, the filtered guide's noise is well under the input's and the step is
    as high as before; a noiseless frame is left within a tenth of a level."""
    from pipeline.models.lowres_guided import bilateral_luma
    from pipeline.training.metrics import noise_sigma

    rng = np.random.default_rng(2)
    clean = np.full((48, 64), 20.0)
    clean[:, 32:] = 120.0
    noisy = np.clip(clean + rng.normal(0, 2.0, clean.shape), 0, 255).round()
    y = torch.from_numpy(noisy).float()[None, None] / 255.0
    out = (bilateral_luma(y, 5.0) * 255.0)[0, 0].numpy()
    assert noise_sigma(out) < 0.6 * noise_sigma(noisy)
    assert out[:, 33:].mean() - out[:, :31].mean() == pytest.approx(100.0, abs=1.0)
    assert np.abs(out[:, 31:33] - noisy[:, 31:33]).max() < 8.0  # not blurred across the edge
    ramp = torch.linspace(0, 1, 64).repeat(48, 1)[None, None]
    flat = torch.round(ramp * 255.0) / 255.0
    assert (bilateral_luma(flat, 5.0) - flat).abs().max().item() * 255.0 < 0.1


def test_low_views_are_box_averages() -> None:
    frames = _frames(1, 16, 24)
    views = low_views(frames, 8)
    assert views.shape == (1, 2, 3, 4)
    expected = frames[0, :8, :8].reshape(-1, 3).mean(axis=0) / 255
    assert np.allclose(views[0, 0, 0, :3], expected, atol=1e-5)


def test_exposure_values() -> None:
    assert check_exposure("auto") == AUTO and check_exposure(0.4) == 0.4
    assert check_exposure("Dusk") == EXPOSURE_PRESETS["dusk"]
    assert check_exposure("night") < check_exposure("dusk") < check_exposure("daylight")
    for bad in (0.0, 1.2, float("nan"), True):
        with pytest.raises(ConfigError):
            check_exposure(bad)
    with pytest.raises(ConfigError, match="one of auto, night, dusk, daylight, got 'bright'"):
        check_exposure("bright")
    with pytest.raises(ConfigError):
        build_enhancer("lowres_guided", exposure=2.0)


shipped = pytest.mark.skipif(not default_weights("lowres_guided").is_file(),
                             reason="the shipped lowres_guided weights are not built")


@shipped
def test_exposure_knob_is_monotonic() -> None:
    frames = _frames(2, 96, 160, seed=5)
    means = [build_enhancer("lowres_guided", exposure=e, temporal=0.0)(frames).mean()
             for e in (0.2, 0.3, 0.4, 0.5)]
    assert all(b > a + 1 for a, b in zip(means, means[1:])), means
    named = [build_enhancer("lowres_guided", exposure=e, temporal=0.0)(frames).mean()
             for e in ("night", "dusk", "daylight")]
    assert named[0] + 1 < named[1] < named[2] - 1, named
    assert build_enhancer("lowres_guided").model.exposure == check_exposure(DEFAULT_EXPOSURE)


def test_temporal_smoothing_and_cut_reset() -> None:
    smoother = TemporalSmoother(strength=0.5, cut_threshold=0.1)
    scene = np.full((1, 36, 64, 3), 40, np.uint8)
    other = np.full((1, 36, 64, 3), 200, np.uint8)
    ones = np.ones((1, 2, 3, 6), np.float32)
    assert np.allclose(smoother(ones, scene), 1.0)
    # the same scene, the coefficients jump: only half the jump passes
    assert np.allclose(smoother(3 * ones, scene), 2.0)
    assert smoother.cuts == 0
    # a cut: the new coefficients at once, counted
    assert np.allclose(smoother(5 * ones, other), 5.0)
    assert smoother.cuts == 1
    off = TemporalSmoother(strength=0.0)
    assert off(3 * ones, scene) is not None and np.allclose(off(3 * ones, scene), 3.0)
    with pytest.raises(ConfigError):
        TemporalSmoother(strength=1.0)


def test_temporal_smoothing_holds_only_where_the_picture_stands_still() -> None:
    """A block whose content changes (a moving light) takes its new coefficients at once, and
    so do its neighbours in the guided filter's 3x3 window; far from it the coefficients are
    smoothed; the low views a caller passes give the same result as the frames alone."""
    smoother = TemporalSmoother(strength=0.5, cut_threshold=0.5)
    scene = np.full((1, 48, 96, 3), 30, np.uint8)
    moved = scene.copy()
    moved[:, :8, 80:88] = 230  # one 8x8 block lights up in the top-right corner
    ones = np.ones((1, 6, 12, 6), np.float32)
    smoother(ones, scene)
    out = smoother(3 * ones, moved)
    assert np.allclose(out[0, :2, 9:], 3.0)   # the block and its neighbours: followed
    assert np.allclose(out[0, 3:, :8], 2.0)   # still content: half the jump
    again = TemporalSmoother(strength=0.5, cut_threshold=0.5)
    views = low_views(np.concatenate([scene, moved]), 8)[..., 3]
    again(ones, scene, views[:1])
    assert np.allclose(again(3 * ones, moved, views[1:]), out)


def test_a_few_training_steps_from_the_recipe(tmp_path: Path) -> None:
    from pipeline.training.trainer import Trainer, load_recipe
    from tests.training.test_training import _write_images

    images = _write_images(tmp_path / "img", 6, (0.4, 0.6))
    recipe = load_recipe(ROOT / "configs" / "train_lowres_guided.yaml", [
        f"data.train={images}", "data.crop=48", "data.val_crop=48", "data.val_count=2",
        "data.brackets=0.0", "data.holdout_scenes=0", "data.workers=0",
        "optim.batch_size=2", "optim.steps=3", f"train.out={tmp_path / 'run'}",
        "train.val_every=3", "train.ckpt_every=3"])
    trainer = Trainer(recipe)
    metrics = trainer.fit(progress=False)
    assert np.isfinite(metrics["psnr"])
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    path = tmp_path / "w.pt"
    torch.save(state, path)
    assert build_enhancer("lowres_guided", weights=str(path))(_frames(1, 48, 48)).shape == \
        (1, 48, 48, 3)


def test_runs_in_the_pipeline(weights: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", seconds=0.6)
    out = tmp_path / "o.mp4"
    proc = run_cli("-i", str(clip), "-o", str(out), "--set",
                   f"enhancer={{type: lowres_guided, weights: '{weights}'}}",
                   "--set", "enhancer.batch_size=2")
    assert proc.returncode == 0, proc.stderr
    assert probe(out).frames == probe(clip).frames


def test_target_gain_items_say_which_targets_kept_their_brightness() -> None:
    """A quarter of the items keep their target (``auto`` 1: trained without the knob); the
    rest are brightened or darkened (``auto`` 0: trained told the target's brightness)."""
    from pipeline.training.data.datasets import TargetGainDataset

    class Pairs(torch.utils.data.Dataset):
        seed = 0

        def set_epoch(self, epoch: int) -> None:
            """One fixed set of pairs: nothing to reseed."""

        def __len__(self) -> int:
            return 64

        def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.full((3, 8, 8), 0.1), torch.full((3, 8, 8), 0.5)

    data = TargetGainDataset(Pairs(), 0.4, 1.6, auto_share=0.25)
    items = [data[i] for i in range(64)]
    auto = [bool(a) for _, _, a in items]
    assert 8 <= sum(auto) <= 26
    for (_, target, _), kept in zip(items, auto):
        if kept:
            assert torch.equal(target, torch.full((3, 8, 8), 0.5))
    gained = [float(t.mean()) for (_, t, a) in items if not a]
    assert min(gained) < 0.45 and max(gained) > 0.55
    assert all(torch.equal(x[1], y[1]) for x, y in zip(items, [data[i] for i in range(64)]))
    model = LowResGuided(width=0.25)
    dark, clean = torch.rand(2, 3, 32, 32) * 0.2, torch.rand(2, 3, 32, 32)
    flags = torch.tensor([1.0, 0.0])
    got = model.forward_supervised(dark, clean, flags)
    want = model(dark, torch.stack([torch.tensor(-1.0),
                                    luma_u8(clean[1:]).mean()]))
    assert torch.allclose(got, want, atol=1e-6)


def test_more_levels_and_the_global_path_load_from_their_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = LowResGuided(channels=[8, 16, 32, 64], global_context=True)
    path = tmp_path / "v2.pt"
    torch.save(model.state_dict(), path)
    enhancer = build_enhancer("lowres_guided", weights=str(path), temporal=0.0)
    frames = _frames(1, 70, 133)
    out = enhancer(frames)
    assert enhancer.model.channels == (8, 16, 32, 64) and enhancer.model.global_context
    assert out.shape == frames.shape and out.dtype == np.uint8
    with pytest.raises(ConfigError, match="channels"):
        LowResGuided(channels=[8, 48])
    with pytest.raises(ConfigError, match="global_context"):
        LowResGuided(global_context="yes")


def test_reset_starts_a_new_stream(weights: Path) -> None:
    """Without ``reset`` a frame after a similar one is smoothed toward it (the same scene for
    the cut detector, no block moved); ``reset`` (a batch's next file, an evaluation's next image)
    makes the result what the frame alone gives, for the PyTorch and ONNX Runtime enhancers."""
    rng = np.random.default_rng(5)
    first = (rng.random((1, 48, 64, 3)) * 30).astype(np.uint8)
    second = first + 2  # the same scene a little brighter: smoothed toward the first
    for spec in ({"type": "lowres_guided"}, {"type": "onnxruntime", "model": "lowres_guided"}):
        name = spec.pop("type")
        alone = build_enhancer(name, **spec)(second)
        enhancer = build_enhancer(name, **spec)
        enhancer(first)
        assert not np.array_equal(enhancer(second), alone)
        enhancer(first)
        enhancer.reset()
        assert np.array_equal(enhancer(second), alone)


def test_tone_curve_darkens_mid_tones_keeps_black_and_white(weights: Path) -> None:
    frames = _frames(2, 40, 64, seed=9)
    plain = build_enhancer("lowres_guided", weights=str(weights), temporal=0.0, tone=1.0)
    night = build_enhancer("lowres_guided", weights=str(weights), temporal=0.0, tone=1.3)
    a, b = plain(frames), night(frames)
    assert b.mean() < a.mean() - 5
    assert np.array_equal(b[a == 255], a[a == 255]) and np.array_equal(b[a == 0], a[a == 0])
    diff = np.abs(b.astype(int) - _reference(night.model, frames)).max()
    assert diff <= 2, diff  # the host's table lookup against the model's power
    with pytest.raises(ConfigError, match="tone"):
        build_enhancer("lowres_guided", weights=str(weights), tone=3.0)
