"""The flash-to-ambient family: the VGG-16 encoder and torchvision weights, the ratio-log map
and its exact inverse, conditional discriminators, training on the FAID sample pairs, ONNX
Runtime, and the models as pipeline enhancers."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pipeline.enhancers import build_enhancer
from pipeline.errors import ConfigError
from pipeline.training.evaluate import main as eval_main
from pipeline.training.losses import AdversarialLoss, RatioLogLoss, flash_attention
from pipeline.models import create_model
from pipeline.models.discriminators import create_discriminator
from pipeline.models.ratio_log import ratio_target, recover_ambient
from pipeline.models.vgg16 import (TORCHVISION_CONV_INDICES, VGG16Encoder, conv_names,
                                   load_torchvision_vgg16)
from pipeline.training.trainer import Trainer, load_recipe
from tests.clips import make_clip, probe
from tests.common import ROOT, SHARED_DATA, run_cli
from tests.flash import FLASH_MODELS, TEST_WIDTH, flash_weights

FAID = SHARED_DATA / "flash_ambient"
needs_faid = pytest.mark.skipif(
    not FAID.is_dir(), reason=f"flash/ambient sample pairs not found at {FAID} (../shared absent)")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_vgg16_encoder_skips() -> None:
    encoder = VGG16Encoder()
    with torch.no_grad():
        feats = encoder(torch.rand(1, 3, 64, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (64, 64, 96), (128, 32, 48), (256, 16, 24), (512, 8, 12), (512, 4, 6)]
    assert all(float(f.min()) >= 0 for f in feats)  # taken after the ReLUs
    # VGG-16's convolutional part: 14,714,688 parameters
    assert sum(p.numel() for p in encoder.parameters()) == 14_714_688


def _torchvision_state(encoder: VGG16Encoder) -> dict[str, torch.Tensor]:
    """A state dict laid out as torchvision's ``vgg16().state_dict()`` (features + classifier)."""
    own = encoder.state_dict()
    state = {f"features.{i}.{part}": torch.randn_like(own[f"{name}.{part}"])
             for name, i in zip(conv_names(), TORCHVISION_CONV_INDICES)
             for part in ("weight", "bias")}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    return state


def test_torchvision_vgg16_weights_load(tmp_path: Path) -> None:
    state = _torchvision_state(VGG16Encoder())
    torch.save(state, tmp_path / "vgg16.pth")
    model = create_model("ratio_log", encoder_weights=str(tmp_path / "vgg16.pth"))
    assert torch.equal(model.encoder.conv3_2.weight, state["features.12.weight"])
    assert torch.equal(model.encoder.conv5_3.bias, state["features.28.bias"])
    # only width 1 is VGG-16: a narrower encoder says so
    with pytest.raises(ConfigError, match="wrong shape.*width 1 only"):
        create_model("guided_cgan", width=0.5, encoder_weights=str(tmp_path / "vgg16.pth"))
    del state["features.28.bias"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ConfigError, match="not a torchvision vgg16 state dict: missing "
                                          "features.28.bias"):
        create_model("pix2pix_vgg", encoder_weights=str(tmp_path / "partial.pth"))


def test_ratio_recovery_is_the_exact_inverse() -> None:
    x = torch.rand(2, 3, 16, 16)
    y = torch.rand(2, 3, 16, 16)
    r = ratio_target(x, y)
    assert float(r.min()) >= 0 and float(r.max()) <= 1
    assert torch.allclose(recover_ambient(x, r), y, atol=1e-6)
    # r = 0.5 is no change
    assert torch.allclose(recover_ambient(x, torch.full_like(x, 0.5)), x, atol=1e-6)


def test_untrained_ratio_model_starts_at_the_identity() -> None:
    model = create_model("ratio_log", width=TEST_WIDTH).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert float((model(x) - x).abs().mean()) < 0.1


def test_ratio_loss_attention_weights_large_changes() -> None:
    r = torch.tensor([0.5, 1.0]).view(1, 1, 1, 2)
    r_hat = r + 0.1
    _, plain = RatioLogLoss()(r_hat, r)
    total, parts = RatioLogLoss(attention=True)(r_hat, r)
    assert float(plain["mse"]) == pytest.approx(0.01)
    # weights exp(0)/10 and exp(4.6 * 0.5)/10
    assert float(total) == pytest.approx(0.01 * (1 + np.exp(2.3)) / 20, rel=1e-5)


def test_attention_map() -> None:
    x = torch.zeros(1, 3, 2, 2)
    y = torch.zeros(1, 3, 2, 2)
    y[..., 0, 0] = 1.0
    att = flash_attention(x, y)
    assert att.shape == (1, 1, 2, 2)
    assert float(att[0, 0, 0, 0]) == 0.0 and float(att[0, 0, 1, 1]) == 1.0


@pytest.mark.parametrize("name, patches", [("guided", (2, 3)), ("patchgan", (6, 10))])
def test_discriminators_are_conditional(name: str, patches: tuple[int, int]) -> None:
    d = create_discriminator(name, width=0.25).eval()
    flash, image = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    logits = d(flash, image)
    assert tuple(logits.shape) == (2, 1, *patches)
    # the condition matters: another flash image, other logits
    assert not torch.allclose(logits, d(torch.rand(2, 3, 64, 96), image))
    first = next(m for m in d.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == 6  # channels, not the batch axis


def test_adversarial_loss_updates_the_discriminator_only_when_asked() -> None:
    loss = AdversarialLoss({"type": "patchgan", "width": 0.25}, reconstruction="attention_l1")
    gen = create_model("guided_cgan", width=TEST_WIDTH)
    flash, ambient = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    before = [p.detach().clone() for p in loss.discriminator.parameters()]
    total, parts = loss.generator_loss(flash, gen(flash), ambient)
    assert set(parts) == {"d", "rec", "adv"}
    assert any(not torch.equal(a, b) for a, b in zip(before, loss.discriminator.parameters()))
    total.backward()
    assert all(p.grad is not None for p in gen.parameters())
    frozen = [p.detach().clone() for p in loss.discriminator.parameters()]
    _, parts = loss.generator_loss(flash, gen(flash), ambient, update_discriminator=False)
    assert "d" not in parts
    assert all(torch.equal(a, b) for a, b in zip(frozen, loss.discriminator.parameters()))


def _recipe(name: str, tmp_path: Path) -> str:
    text = (ROOT / "configs" / f"train_{name}.yaml").read_text()
    path = tmp_path / f"train_{name}.yaml"
    path.write_text(text)
    return str(path)


def _measure(trainer: Trainer, batch: object, key: str) -> float:
    trainer.model.eval()
    with torch.no_grad():
        value = trainer.compute_loss(batch)[1][key]
    trainer.model.train()
    return value


@needs_faid
@pytest.mark.parametrize("name, key", [("ratio_log", "mse"), ("guided_cgan", "rec"),
                                       ("pix2pix_vgg", "rec")])
def test_a_few_steps_on_the_faid_pairs_lower_the_loss(name: str, key: str,
                                                      tmp_path: Path) -> None:
    recipe = load_recipe(_recipe(name, tmp_path), [
        f"model.width={TEST_WIDTH}", "data.crop=64", "optim.batch_size=4", "optim.steps=30",
        "optim.lr=0.002", f"train.out={tmp_path / 'run'}", "train.val_every=1000",
        "train.ckpt_every=1000"])
    trainer = Trainer(recipe)
    batch = next(iter(trainer.loader))
    before = _measure(trainer, batch, key)
    trainer.fit(progress=False)
    assert _measure(trainer, batch, key) < 0.8 * before
    assert (tmp_path / "run" / "weights.pt").is_file()


@pytest.mark.parametrize("name", FLASH_MODELS)
def test_enhancer_width_from_weights_and_onnx_runtime_agrees(name: str) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (1, 45, 70, 3), dtype=np.uint8)
    with build_enhancer(name, weights=flash_weights(name)) as torch_enhancer:
        assert torch_enhancer.model.width == TEST_WIDTH
        ref = torch_enhancer(frames)
    with build_enhancer("onnxruntime", model=name, weights=flash_weights(name),
                        threads=1) as ort_enhancer:
        out = ort_enhancer(frames)
    assert out.shape == frames.shape
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_flash_enhancers_ship_no_weights() -> None:
    for name in FLASH_MODELS:
        with pytest.raises(ConfigError, match=f"{name}.* no shipped weights.*weights=PATH"):
            build_enhancer(name)
    with pytest.raises(ConfigError, match="no encoder.conv1_1.weight"):
        from pipeline.enhancers.neural import default_weights
        build_enhancer("ratio_log", weights=str(default_weights("zero_dce")))


def test_selectable_in_run_stream(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "flash.mp4", width=64, height=48, fps=10, seconds=0.5)
    out = tmp_path / "out.mp4"
    proc = run_cli("-i", str(clip), "-o", str(out), "--no-progress", "--enhancer",
                   "pix2pix_vgg", "--set", f"enhancer.weights={flash_weights('pix2pix_vgg')}")
    assert proc.returncode == 0, proc.stderr
    assert probe(out).frames == probe(clip).frames


def test_eval_reads_the_faid_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rng = np.random.default_rng(0)
    for sub in ("flash", "ambient"):
        (tmp_path / "faid" / sub).mkdir(parents=True)
    for i in range(2):
        ambient = rng.integers(0, 120, (32, 48, 3), dtype=np.uint8)
        flash = np.clip(ambient.astype(int) * 2, 0, 255).astype(np.uint8)
        cv2.imwrite(str(tmp_path / "faid" / "flash" / f"p{i}.png"), flash)
        cv2.imwrite(str(tmp_path / "faid" / "ambient" / f"p{i}.png"), ambient)
    assert eval_main([str(tmp_path / "faid"), "--enhancer",
                      f"ratio_log,weights={flash_weights('ratio_log')}",
                      "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    assert "2 images (paired)" in out and "| ratio_log |" in out
