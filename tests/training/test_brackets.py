"""Exposure brackets: scenes found from file order and image content alone, real pairs drawn
from them, held-out scenes kept out of training, and the real paired test of tools/eval.py."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from pipeline.training.data import (MixedPairDataset, PairListDataset, SyntheticPairDataset,
                           build_training_data, find_brackets, list_images, split_brackets)
from pipeline.training.data.brackets import natural_key
from pipeline.errors import ConfigError
from pipeline.training.evaluate import bracket_samples, main as eval_main
from pipeline.training.trainer import load_recipe

#: relative exposures of each generated scene: two dark frames, a well-exposed one, a bright one
EXPOSURES = (0.08, 0.2, 1.0, 1.8)


def _write_brackets(folder: Path, scenes: int, size: int = 48) -> list[list[Path]]:
    """``scenes`` different textured scenes, each at :data:`EXPOSURES`, numbered like SICE
    (1.png, 2.png, ... 10.png, so plain string order would break the scenes apart)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    out, n = [], 1
    for _ in range(scenes):
        base = cv2.GaussianBlur(rng.uniform(0, 1, (size, size, 3)).astype(np.float32), (0, 0), 2)
        base = (base - base.min()) / (base.max() - base.min()) * 0.6 + 0.1
        files = []
        for e in EXPOSURES:
            image = np.clip(base * e * 1.1 * 255, 0, 255).astype(np.uint8)
            files.append(folder / f"{n}.png")
            cv2.imwrite(str(files[-1]), image)
            n += 1
        out.append(files)
    return out


def test_natural_order() -> None:
    names = [Path(f"{i}.jpg") for i in (10, 2, 1, 100)]
    assert [p.stem for p in sorted(names, key=natural_key)] == ["1", "2", "10", "100"]


def test_scenes_are_found_and_paired(tmp_path: Path) -> None:
    truth = _write_brackets(tmp_path / "sice", 4)
    brackets = find_brackets(list_images(tmp_path / "sice"))
    assert [list(b.files) for b in brackets] == truth
    for b, files in zip(brackets, truth):
        pairs = b.pairs()
        # both dark frames against the well-exposed one; the bright frame is never a target
        assert pairs == [(files[0], files[2]), (files[1], files[2])]
        assert b.means[0] < b.means[1] < 0.2 < 0.35 <= b.means[2] <= 0.65


def test_held_out_scenes_are_whole_and_fixed(tmp_path: Path) -> None:
    _write_brackets(tmp_path / "sice", 6)
    brackets = find_brackets(list_images(tmp_path / "sice"))
    train, held = split_brackets(brackets, 2, seed=7)
    assert len(held) == 2 and len(train) == 4
    assert not {f for b in held for f in b.files} & {f for b in train for f in b.files}
    assert [b.files for b in split_brackets(brackets, 2, seed=7)[1]] == [b.files for b in held]
    with pytest.raises(ConfigError, match="cannot hold out 7"):
        split_brackets(brackets, 7, seed=7)


def _bracket_recipe(folder: Path, tmp_path: Path, **data: object) -> Path:
    raw = {
        "model": {"type": "unet_gn", "width": 0.25},
        "data": {"mode": "synthetic", "train": str(folder), "crop": 32, "val_crop": 32,
                 "val_count": 1, "workers": 0, "brackets": 0.5, "holdout_scenes": 2, **data},
        "loss": {"type": "restoration"},
        "train": {"out": str(tmp_path / "run")},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_training_mixes_real_pairs_and_never_sees_held_out_scenes(tmp_path: Path) -> None:
    _write_brackets(tmp_path / "sice", 6)
    recipe = load_recipe(_bracket_recipe(tmp_path / "sice", tmp_path))
    train, _ = build_training_data(recipe.data)
    assert isinstance(train, MixedPairDataset)
    assert isinstance(train.synthetic, SyntheticPairDataset)
    assert isinstance(train.real, PairListDataset)
    held_files = {s.name for s in bracket_samples(str(tmp_path / "recipe.yaml"))}
    assert len(held_files) == 4  # 2 scenes x 2 dark frames
    seen = {Path(p).stem for p in train.synthetic.images}
    seen |= {p.stem for pair in train.real.pairs for p in pair}
    assert seen and not seen & held_files
    # 3 synthetic targets of the 4 training scenes (one is the validation image) + as many real
    assert len(train) == len(train.synthetic) + train.extra == 6
    dark, clean = train[len(train) - 1]
    assert dark.shape == clean.shape == (3, 32, 32) and float(dark.mean()) < float(clean.mean())


def test_eval_scores_the_held_out_real_pairs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _write_brackets(tmp_path / "sice", 6)
    recipe = _bracket_recipe(tmp_path / "sice", tmp_path)
    assert eval_main(["--bracket-val", str(recipe), "--enhancer", "gamma",
                      "--out", str(tmp_path / "eval")]) == 0
    out = capsys.readouterr().out
    assert "4 images (paired)" in out and "| gamma |" in out


def test_bracket_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _write_brackets(tmp_path / "sice", 3)
    with pytest.raises(ConfigError, match="data.brackets"):
        load_recipe(_bracket_recipe(tmp_path / "sice", tmp_path, brackets=1.5))
    recipe = _bracket_recipe(tmp_path / "sice", tmp_path, holdout_scenes=0)
    assert eval_main(["--bracket-val", str(recipe), "--enhancer", "gamma"]) == 2
    assert "holds out no exposure-bracket scenes" in capsys.readouterr().err


def test_eval_synthetic_set_is_the_trainers(tmp_path: Path) -> None:
    """With held-out scenes, eval's --synthetic-val must use the trainer's validation images."""
    from pipeline.training.evaluate import synthetic_samples

    _write_brackets(tmp_path / "sice", 6)
    recipe = _bracket_recipe(tmp_path / "sice", tmp_path)
    _, val_batches = build_training_data(load_recipe(recipe).data)
    samples = synthetic_samples(str(recipe))
    trainer_dark = val_batches[0][0]
    assert len(samples) == trainer_dark.shape[0] == 1
    eval_dark = np.asarray(samples[0].low, np.float32) / 255
    assert np.allclose(trainer_dark[0].permute(1, 2, 0).numpy(), eval_dark, atol=1e-6)
