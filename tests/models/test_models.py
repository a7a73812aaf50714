"""The neural models: registry-wide forward contract, architecture facts, official checkpoint
parity, the fast curve lookup table, and the weights loader's errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.models import MODELS, count_parameters, create_model
from pipeline.models.checkpoints import load_state, load_weights
from pipeline.models.curves import CurveLUT, apply_curves, apply_curves_uint8
from pipeline.models.zero_dce_pp import downscale, downscale_frames
from tests.common import SHARED_DATA

SHARED = SHARED_DATA / "official"
needs_official = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"official checkpoints not found at {SHARED} (../shared absent)")

#: (N, H, W): odd, tiny and non-multiple-of-16 sizes
SIZES = [(1, 16, 16), (2, 17, 33), (1, 1, 1), (1, 5, 40), (1, 37, 23)]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_forward_shape_range_finite(name: str, size: tuple[int, int, int]) -> None:
    model = create_model(name).eval()
    x = torch.rand(size[0], 3, size[1], size[2])
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


@pytest.mark.parametrize("name", MODELS.names())
def test_backward_gives_finite_gradients(name: str) -> None:
    model = create_model(name).train()
    y = model(torch.rand(2, 3, 32, 32))
    y.mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)


def test_unknown_model_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'unet'; valid names: guided_cgan, "
                                          r"lowres_guided, pix2pix_vgg, ratio_log, unet_gn, zero_dce, "
                                          r"zero_dce_pp"):
        create_model("unet")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) depth"):
        create_model("unet_gn", depth=3)


def test_official_parameter_counts() -> None:
    assert count_parameters(create_model("zero_dce")) == 79_416
    assert count_parameters(create_model("zero_dce_pp")) == 10_561


@pytest.mark.parametrize("width, channels", [(1.0, (32, 64, 128, 256, 512)),
                                             (0.5, (16, 32, 64, 128, 256)),
                                             (0.25, (8, 16, 32, 64, 128))])
def test_unet_width_multiplier(width: float, channels: tuple[int, ...]) -> None:
    model = create_model("unet_gn", width=width)
    assert model.channels == channels
    # GroupNorm before every activation, groups = min(32, channels)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and all(n.num_groups == min(32, n.num_channels) for n in norms)
    # level 2-5: a 3x3 then a 1x1 convolution
    assert model.enc3[0][0].kernel_size == (3, 3) and model.enc3[1][0].kernel_size == (1, 1)


def test_unet_input_skip_starts_at_the_identity_and_keeps_colour() -> None:
    x = torch.rand(1, 3, 24, 40) * 0.2
    x[:, 2] += 0.5  # a blue image
    model = create_model("unet_gn", width=0.25).eval()
    without = create_model("unet_gn", width=0.25, input_skip=False).eval()
    with torch.no_grad():
        y, plain = model(x), without(x)
    assert float((y - x).abs().mean()) < 0.02
    assert float(y[:, 2].mean() - y[:, 0].mean()) > 0.4  # still blue
    # without the skip the last GroupNorm has removed the colour: nothing of it is left
    assert abs(float(plain[:, 2].mean() - plain[:, 0].mean())) < 0.2
    assert model.head[2].in_channels == without.head[2].in_channels + 3


def test_unet_smaller_widths_are_cheaper() -> None:
    counts = [count_parameters(create_model("unet_gn", width=w)) for w in (1.0, 0.5, 0.25)]
    assert counts[0] > 3 * counts[1] > 9 * counts[2]


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "wide", True])
def test_unet_bad_width(bad: object) -> None:
    with pytest.raises(ConfigError, match="width"):
        create_model("unet_gn", width=bad)


@pytest.mark.parametrize("bad", [0.5, 0, "x", float("inf")])
def test_zero_dce_pp_bad_scale(bad: object) -> None:
    with pytest.raises(ConfigError, match="scale"):
        create_model("zero_dce_pp", scale=bad)


# --- curves -----------------------------------------------------------------------------------


def test_curve_keeps_unit_interval_and_fixed_points() -> None:
    x = torch.linspace(0, 1, 101).reshape(1, 1, 1, 101).expand(1, 3, 1, 101)
    for value in (-1.0, -0.3, 0.0, 0.5, 1.0):
        y = apply_curves(x, torch.full((1, 3, 1, 101), value))
        assert float(y.min()) >= -1e-6 and float(y.max()) <= 1 + 1e-6
        assert abs(float(y[..., 0].max())) < 1e-7 and abs(float(y[..., -1].min()) - 1) < 1e-6
    # r < 0 brightens, r > 0 darkens, r = 0 is the identity
    mid = x[..., 50:51]
    assert float(apply_curves(mid, torch.full_like(mid, -0.5)).mean()) > 0.5
    assert float(apply_curves(mid, torch.full_like(mid, 0.5)).mean()) < 0.5
    assert torch.equal(apply_curves(x, torch.zeros_like(x)), x)


def test_curve_per_step_maps_are_used_in_order() -> None:
    x = torch.full((1, 3, 1, 1), 0.3)
    maps = torch.zeros(1, 24, 1, 1)
    maps[:, :3] = -1.0  # only the first step acts
    expected = 0.3 - 1.0 * (0.09 - 0.3)
    assert torch.allclose(apply_curves(x, maps), torch.full_like(x, expected))
    with pytest.raises(ConfigError, match="curve maps have 5 channels"):
        apply_curves(x, torch.zeros(1, 5, 1, 1))


@pytest.mark.parametrize("interpolate", [False, True])
def test_lut_equals_iterative_curve_within_one_level(interpolate: bool) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    r = rng.uniform(-1, 1, frames.shape).astype(np.float32)
    # the extremes and exact table rows too
    r[0, 0, :3] = [[-1, -1, -1], [1, 1, 1], [0, 0, 0]]
    exact = apply_curves_uint8(frames, r).astype(int)
    lut = CurveLUT()
    out = lut.apply(frames, r, interpolate=interpolate).astype(int)
    assert np.abs(out - exact).max() <= 1
    torch_out = lut.apply_torch(torch.from_numpy(frames), torch.from_numpy(r),
                                interpolate=interpolate).numpy().astype(int)
    assert np.abs(torch_out - exact).max() <= 1
    # and the uint8 float model path (iterative in float32) agrees too
    model_out = apply_curves(torch.from_numpy(frames).float() / 255, torch.from_numpy(r))
    model_u8 = (model_out * 255).round().clamp(0, 255).numpy().astype(int)
    assert np.abs(out - model_u8).max() <= 1


def test_lut_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="levels"):
        CurveLUT(levels=1)
    lut = CurveLUT(levels=16)
    with pytest.raises(ConfigError, match="does not match"):
        lut.apply(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 3, 3), np.float32))
    with pytest.raises(ConfigError, match="uint8"):
        lut.apply(np.zeros((2, 2, 3), np.float32), np.zeros((2, 2, 3), np.float32))


@pytest.mark.parametrize("size, scale", [((396, 600), 12.0), ((17, 33), 4.0), ((5, 7), 12.0),
                                         ((64, 64), 1.0)])
def test_downscale_frames_equals_float_downscale(size: tuple[int, int], scale: float) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (2, *size, 3), dtype=np.uint8)
    ref = downscale(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255, scale)
    fast = downscale_frames(frames, scale)
    assert fast.shape == ref.shape
    assert torch.allclose(fast, ref, atol=1e-5)


# --- official checkpoints ---------------------------------------------------------------------

#: the official outputs are stored as float16: about 2e-3 of rounding
OFFICIAL_TOLERANCE = 2e-3


def _read_png(path: Path) -> np.ndarray:
    import cv2

    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@needs_official
@pytest.mark.parametrize("model, kwargs, checkpoint, suffix", [
    ("zero_dce", {}, "zero_dce_epoch99.pth", "zero_dce"),
    ("zero_dce_pp", {"scale": 12}, "zero_dce_pp_epoch99.pth", "zero_dce_pp_s12"),
    ("zero_dce_pp", {"scale": 1}, "zero_dce_pp_epoch99.pth", "zero_dce_pp_s1"),
])
@pytest.mark.parametrize("image", ["street", "dicm_01", "phone_frame"])
def test_official_checkpoint_reproduces_authors_output(model: str, kwargs: dict, checkpoint: str,
                                                       suffix: str, image: str) -> None:
    net = create_model(model, **kwargs).eval()
    missing, unexpected = load_weights(net, SHARED / checkpoint)
    assert missing == [] and unexpected == []
    x = _read_png(SHARED / "reference" / f"{image}.png")
    with torch.no_grad():
        y = net(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255)[0]
    ref = np.load(SHARED / "reference" / f"{image}.{suffix}.npy").astype(np.float32)
    diff = np.abs(y.permute(1, 2, 0).numpy() - ref)
    assert diff.max() <= OFFICIAL_TOLERANCE, f"max difference {diff.max():.2e}"


@needs_official
def test_official_checkpoint_does_not_fit_the_other_model() -> None:
    with pytest.raises(ConfigError, match=r"does not fit model ZeroDCEPP: missing keys .*"
                                          r"e_conv1\.depth_conv\.weight.*unexpected keys"):
        load_weights(create_model("zero_dce_pp"), SHARED / "zero_dce_epoch99.pth")


# --- the weights loader ---------------------------------------------------------------------


def test_weights_round_trip_with_wrappers(tmp_path: Path) -> None:
    model = create_model("zero_dce_pp")
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / "ckpt.pt"
    torch.save({"model": state, "step": 3}, path)
    other = create_model("zero_dce_pp")
    load_weights(other, path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, other.state_dict()[key])


def test_weights_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_state(tmp_path / "nope.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ConfigError, match=r"junk\.pt.*not a readable torch checkpoint"):
        load_state(junk)
    partial = tmp_path / "partial.pt"
    state = create_model("zero_dce").state_dict()
    state.pop("e_conv7.bias")
    state["e_conv1.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(state, partial)
    with pytest.raises(ConfigError, match=r"partial\.pt.*missing keys \(1\): e_conv7\.bias.*"
                                          r"shape mismatches \(1\): e_conv1\.weight"):
        load_weights(create_model("zero_dce"), partial)


def test_damaged_or_foreign_weights_files_are_one_clear_error(tmp_path: Path) -> None:
    """A text file whose bytes the unpickler trips over in its own way (an IndexError from
    /etc/passwd-like lines), a folder, and weights with NaN or infinite values (a flipped
    exponent bit) are each a ``ConfigError`` naming the file."""
    text = tmp_path / "passwd.pt"
    text.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/nologin\n")
    with pytest.raises(ConfigError, match=r"passwd\.pt.*not a readable torch checkpoint"):
        load_state(text)
    with pytest.raises(ConfigError, match="is a folder"):
        load_state(tmp_path)
    for bad in (float("nan"), float("inf")):
        state = create_model("zero_dce").state_dict()
        state["e_conv3.weight"][0, 0, 0, 0] = bad
        path = tmp_path / "damaged.pt"
        torch.save(state, path)
        with pytest.raises(ConfigError, match=r"damaged\.pt.*damaged: 'e_conv3\.weight' holds NaN"):
            load_state(path)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "whole_model.pt"
    torch.save(create_model("zero_dce_pp"), path)  # the whole module, not a state dict
    with pytest.raises(ConfigError, match="pickled objects other than tensors"):
        load_state(path)
