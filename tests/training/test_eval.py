"""``tools/eval.py``: paired and unpaired folders, the table, JSON and montage it writes, and
its errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.training.evaluate import main, parse_enhancer_spec
from pipeline.errors import ConfigError
from pipeline.training.metrics import psnr
from tests.common import ROOT



def _paired_folder(root: Path, count: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("low", "high"):
        (root / sub).mkdir(parents=True)
    for i in range(count):
        ramp = np.add.outer(np.linspace(60, 200, 40), np.linspace(0, 30, 56))
        high = np.clip(ramp[..., None] * np.array([1.0, 0.9, 0.8]) + rng.normal(0, 4, (40, 56, 3)),
                       0, 255).astype(np.uint8)
        low = (high.astype(np.float64) * 0.2).astype(np.uint8)
        cv2.imwrite(str(root / "high" / f"p{i}.png"), high)
        cv2.imwrite(str(root / "low" / f"p{i}.png"), low)
    return root


def test_parse_enhancer_spec() -> None:
    assert parse_enhancer_spec("gamma") == ("gamma", "gamma", {})
    assert parse_enhancer_spec("bright:gamma,gamma=0.5") == ("bright", "gamma", {"gamma": 0.5})
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_enhancer_spec("gamma,0.5")


def test_paired_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _paired_folder(tmp_path / "data")
    out = tmp_path / "eval"
    assert main([str(data), "--enhancer", "gamma", "--enhancer", "lift:gamma,gamma=0.5",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["paired"] is True and results["images"] == 3
    # each image's own scores too, under its name, with the output's mean grey
    per = results["per_image"]
    assert [r["image"] for r in per["lift"]] == ["p0", "p1", "p2"]
    assert np.mean([r["psnr"] for r in per["gamma"]]) == pytest.approx(
        results["results"]["gamma"]["psnr"])
    assert all(r["mean_grey"] > q["mean_grey"] for r, q in zip(per["gamma"], per["input"]))
    rows = results["results"]
    assert list(rows) == ["input", "gamma", "lift"]
    low = cv2.imread(str(data / "low" / "p0.png"))
    high = cv2.imread(str(data / "high" / "p0.png"))
    assert rows["input"]["psnr"] < 15 and abs(rows["input"]["psnr"] - psnr(low, high)) < 2
    # brightening a 5x-darkened image brings it closer to the target
    assert rows["gamma"]["psnr"] > rows["input"]["psnr"]
    # the GT-mean variant takes the global brightness out: the input scores far better there
    assert rows["input"]["psnr_gtmean"] > rows["input"]["psnr"] + 5
    montage = cv2.imread(str(out / "montage.png"))
    assert montage is not None and montage.shape[0] > 3 * 40
    table = capsys.readouterr().out
    assert "| method | psnr | ssim | psnr_gtmean | ssim_gtmean |" in table


def test_unpaired_folder_no_reference_stats(tmp_path: Path) -> None:
    folder = tmp_path / "night"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        cv2.imwrite(str(folder / f"n{i}.jpg"), rng.integers(0, 50, (30, 40, 3), dtype=np.uint8))
    out = tmp_path / "eval"
    assert main([str(folder), "--enhancer", "clahe", "--out", str(out)]) == 0
    rows = json.loads((out / "results.json").read_text())["results"]
    assert set(rows["input"]) == {"brightness", "noise", "colour_cast", "dark_clip",
                                  "bright_clip", "L_spa", "L_exp", "L_col", "L_img"}
    assert rows["input"]["L_spa"] == 0.0  # the input is perfectly consistent with itself
    assert rows["clahe"]["brightness"] > rows["input"]["brightness"]


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "image folder .* does not exist"),
    (["{data}", "--enhancer", "nosuch"], "unknown enhancer 'nosuch'"),
    ([], "give one of DATA, --synthetic-val RECIPE, --bracket-val RECIPE, "
         "--zero-reference-val RECIPE, --codec-clip CRF or --codec-source FILE"),
    (["--codec-clip", "80"], "CRF must be an integer in 0..51"),
    (["--codec-source", "{missing}"], "--codec-source: .*missing' is not a file"),
    (["--codec-source", "{garbage}"], "cannot read .*garbage.mp4' as an image or a video: "
                                      "Invalid data found"),
    (["--codec-source", "{data}/low/p0.png", "--codec-clip", "52"],
     "CRF must be an integer in 0..51"),
    (["{data}", "--limit", "-1"], "--limit must be >= 1, got -1"),
    (["{data}", "--max-side", "0"], "--max-side must be at least 16 pixels, got 0"),
    (["{big}"], "big.png: 8200x8 is larger than 8192 on a side; pass --max-side"),
])
def test_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    data = _paired_folder(tmp_path / "data", 1)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    big = tmp_path / "big"
    big.mkdir()
    cv2.imwrite(str(big / "big.png"), np.zeros((8, 8200, 3), np.uint8))
    args = [a.format(missing=tmp_path / "missing", data=data, garbage=garbage, big=big)
            for a in args]
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "eval.py"), *args,
                           "--out", str(tmp_path / "o")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert __import__("re").search(message, proc.stderr), proc.stderr


def test_zero_reference_val_scores_held_out_images(tmp_path: Path) -> None:
    """A zero-reference recipe's held-out images, scored without reference (the Zero-DCE
    objective's image terms)."""
    images = tmp_path / "train"
    images.mkdir()
    rng = np.random.default_rng(2)
    for i in range(6):
        cv2.imwrite(str(images / f"i{i}.png"), rng.integers(0, 60, (32, 32, 3), dtype=np.uint8))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"model: {{type: zero_dce}}\nloss: {{type: zero_reference}}\n"
                      f"data: {{mode: zero_reference, train: {images}, val_count: 2}}\n")
    out = tmp_path / "eval"
    assert main(["--zero-reference-val", str(recipe), "--enhancer", "gamma",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["images"] == 2 and results["paired"] is False
    rows = results["results"]
    # brightening a dark image toward 0.6 lowers the exposure term
    assert rows["gamma"]["L_exp"] < rows["input"]["L_exp"]
    assert rows["gamma"]["L_img"] == pytest.approx(
        rows["gamma"]["L_spa"] + 10 * rows["gamma"]["L_exp"] + 5 * rows["gamma"]["L_col"])


def test_codec_clip_scores_blocks_and_near_black(tmp_path: Path) -> None:
    """The input row is the source's block ratio; an enhancer that brightens raises dark_luma."""
    out = tmp_path / "codec"
    assert main(["--codec-clip", "40", "--enhancer", "gamma,gamma=0.4", "--limit", "3",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())["results"]
    assert results["input"]["block_ratio"] > 1.0  # H.264 at CRF 40 shows its blocks
    assert results["gamma"]["dark_luma"] > results["input"]["dark_luma"]


def test_codec_source_scores_a_recording_as_it_is_or_re_encoded(tmp_path: Path) -> None:
    """A recording of one's own: scored as recorded (every 3rd frame, at its own size) or
    after a second H.264 generation at a low bit rate, which shows more blocks."""
    from pipeline.sample import write_night_clip

    clip = write_night_clip(tmp_path / "drive.mp4", 320, 176, fps=30, seconds=0.4, audio=False,
                            crf=18, seed=5).path
    runs = {}
    for name, extra in (("asis", []), ("crf45", ["--codec-clip", "45"])):
        out = tmp_path / name
        assert main(["--codec-source", str(clip), *extra, "--enhancer", "gamma,gamma=0.4",
                     "--out", str(out)]) == 0
        runs[name] = json.loads((out / "results.json").read_text())
    assert runs["asis"]["images"] == runs["crf45"]["images"] == 4  # 12 frames, every 3rd
    assert runs["crf45"]["data"].endswith("re-encoded at CRF 45")
    asis, crf45 = runs["asis"]["results"], runs["crf45"]["results"]
    assert crf45["input"]["block_ratio"] > asis["input"]["block_ratio"]
    assert asis["gamma"]["dark_luma"] > asis["input"]["dark_luma"]


def test_block_ratio_sees_blocks() -> None:
    from pipeline.training.metrics import block_ratio

    rng = np.random.default_rng(0)
    smooth = (rng.random((64, 64, 3)) * 40 + 100).astype(np.uint8)
    blocky = smooth.copy()
    for y in range(0, 64, 8):
        for x in range(0, 64, 8):
            blocky[y:y + 8, x:x + 8] = rng.integers(60, 200)
    assert block_ratio(blocky) > 3 * block_ratio(smooth)
    assert 0.8 < block_ratio(smooth) < 1.2
