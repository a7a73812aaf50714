"""The training loop on a tiny generated image set: the loss falls, checkpoints resume, the
weights it writes load into the pipeline's enhancers, and bad recipes are named precisely."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.training.trainer import Trainer, load_recipe, main


def _write_images(folder: Path, count: int, level: tuple[float, float], seed: int = 0) -> Path:
    """``count`` textured 48x48 images with a mean grey level in ``level``."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        mean = rng.uniform(*level) * 255
        ramp = np.add.outer(np.linspace(-40, 40, 48), np.linspace(-30, 30, 48))
        blobs = cv2.GaussianBlur(rng.normal(0, 60, (48, 48)), (0, 0), 3)
        tint = rng.uniform(0.8, 1.1, 3)
        image = np.clip((mean + ramp + blobs)[..., None] * tint, 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"im{i:02d}.png"), image)
    return folder


def _recipe(images: Path, out: Path, **blocks: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "model": {"type": "zero_dce_pp", "scale": 1},
        "data": {"mode": "zero_reference", "train": str(images), "crop": 32, "val_crop": 32,
                 "val_count": 2, "workers": 0},
        "loss": {"type": "zero_reference", "w_tv": 1600.0},
        "optim": {"lr": 3e-3, "batch_size": 4, "steps": 40, "grad_clip": 1.0},
        "train": {"threads": 1, "out": str(out), "log_every": 5, "val_every": 1000,
                  "ckpt_every": 1000},
    }
    for key, value in blocks.items():
        # model and loss blocks are replaced whole: their keys depend on their type
        raw[key] = value if key in ("model", "loss") else {**raw[key], **value}
    return raw


def _loss_on(trainer: Trainer, batch: Any) -> float:
    with torch.no_grad():
        return float(trainer.compute_loss(batch)[0])


@pytest.mark.parametrize("model, mode, loss, level", [
    ({"type": "zero_dce_pp", "scale": 1}, "zero_reference", {"type": "zero_reference"},
     (0.05, 0.3)),
    ({"type": "zero_dce"}, "zero_reference", {"type": "zero_reference"}, (0.05, 0.3)),
    ({"type": "unet_gn", "width": 0.25}, "synthetic",
     {"type": "restoration", "pixel": "charbonnier", "w_ssim": 0.2}, (0.4, 0.6)),
])
def test_a_few_steps_lower_the_loss(tmp_path: Path, model: dict, mode: str, loss: dict,
                                    level: tuple[float, float]) -> None:
    images = _write_images(tmp_path / "images", 10, level)
    raw = _recipe(images, tmp_path / "run", model=model, data={"mode": mode}, loss=loss)
    trainer = Trainer(load_recipe(None, raw=raw))
    torch.manual_seed(1)
    fixed = next(iter(trainer.loader))
    before = _loss_on(trainer, fixed)
    trainer.fit(progress=False)
    after = _loss_on(trainer, fixed)
    assert np.isfinite(after) and after < 0.9 * before, (before, after)
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("val" in rec for rec in logged) and logged[0]["step"] == 5


def test_checkpoint_resume_and_weights_load_in_enhancer(tmp_path: Path) -> None:
    from pipeline.enhancers import build_enhancer

    images = _write_images(tmp_path / "images", 8, (0.05, 0.3))
    raw = _recipe(images, tmp_path / "run", optim={"steps": 8},
                  train={"ckpt_every": 4, "val_every": 4})
    first = Trainer(load_recipe(None, raw=raw))
    first.fit(steps=4, progress=False)
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "best.pt").is_file()
    second = Trainer(load_recipe(None, raw=raw))
    second.resume(tmp_path / "run" / "last.pt")
    assert second.step == 4
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key])
    second.fit(progress=False)
    assert second.step == 8
    enhancer = build_enhancer("zero_dce_pp", weights=str(tmp_path / "run" / "weights.pt"))
    frames = np.random.default_rng(0).integers(0, 60, (1, 24, 40, 3), dtype=np.uint8)
    with enhancer:
        out = enhancer(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8


@pytest.mark.parametrize("change, message", [
    ({"model": {"type": "unet"}},
     r"model\.type: unknown model 'unet'; valid: guided_cgan, lowres_guided, pix2pix_vgg, ratio_log, unet_gn"),
    ({"model": {"type": "unet_gn", "depth": 3}}, r"model\.depth: unknown parameter"),
    ({"loss": {"type": "perceptual"}}, r"loss\.type: unknown loss 'perceptual'"),
    ({"optim": {"steps": 0}}, r"optim\.steps: must be >= 1"),
    ({"optim": {"lr": "fast"}}, r"optim\.lr: expected a number"),
    ({"optim": {"lr": -1.0}}, r"optim\.lr: must be > 0, got -1\.0"),
    ({"optim": {"beta2": 1.0}}, r"optim\.beta2: must be in \[0, 1\)"),
    ({"optim": {"grad_clip": 0.0}}, r"optim\.grad_clip: must be > 0 or null"),
    ({"train": {"log_every": 0}}, r"train\.log_every: must be >= 1, got 0"),
    ({"data": {"train": "x", "crop": 100000}}, r"data\.crop: must be at most 4096"),
    ({"train": {"devise": "cpu"}}, r"train\.devise: unknown key"),
])
def test_bad_recipes_name_the_key(tmp_path: Path, change: dict, message: str) -> None:
    raw = _recipe(tmp_path, tmp_path / "run")
    raw.update(change)
    with pytest.raises(ConfigError, match=message):
        load_recipe(None, raw=raw)


def test_train_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the recipe's default run folder is runs/train, relative
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: {type: zero_dce}\nloss: {type: zero_reference}\n"
                      "data: {train: " + str(tmp_path / "missing") + "}\n")
    assert main([str(recipe), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "train.py: error:" in err and "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists(), "a failed start left a run folder behind"
    assert main([str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_a_batch_larger_than_the_training_set_is_refused(tmp_path: Path) -> None:
    """The loader drops the last partial batch, so such a run looped for ever on nothing."""
    images = _write_images(tmp_path / "images", 6, (0.05, 0.3))
    raw = _recipe(images, tmp_path / "run", optim={"batch_size": 100})
    with pytest.raises(ConfigError, match=r"optim\.batch_size 100 is larger than the training "
                                          r"set \(4 samples in .*images\)"):
        Trainer(load_recipe(None, raw=raw))
