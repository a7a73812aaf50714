"""The batch job against hostile inputs: an output folder that is the input folder (refused),
one inside it (skipped as input, so reruns never enhance their own outputs), and drives whose
content is damaged (broken audio timestamps, size changes, truncated or key-frame-less MKVs):
each is reported on its own row and the batch always completes and reports."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.batch.cli import main
from pipeline.batch.job import EXIT_FAILED, EXIT_OK, EXIT_TRUNCATED, EXIT_USAGE
from tests import damage
from tests.clips import make_clip, probe


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "batch_report.csv", newline="") as f:
        return {Path(r["input"]).name: r for r in csv.DictReader(f)}


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_output_folder_that_is_the_input_folder_is_refused(tmp_path: Path, capsys) -> None:
    drives = tmp_path / "drives"
    drives.mkdir()
    make_clip(drives / "a.mp4", seconds=0.4)
    before = _tree(drives)
    assert main([str(drives), "-o", str(drives), "-e", "gamma", "--no-progress"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "would replace the originals" in err
    assert _tree(drives) == before


def test_an_output_that_is_a_file_is_refused(tmp_path: Path, capsys) -> None:
    clip = make_clip(tmp_path / "a.mp4", seconds=0.4)
    before = clip.read_bytes()
    assert main([str(clip), "-o", str(clip), "-e", "gamma", "--no-progress"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "is a file, not a folder" in err
    assert clip.read_bytes() == before


def test_output_inside_the_input_is_never_an_input(tmp_path: Path) -> None:
    drives = tmp_path / "drives"
    (drives / "day1").mkdir(parents=True)
    make_clip(drives / "day1" / "a.mp4", seconds=0.4)
    make_clip(drives / "b.mp4", seconds=0.4)
    out = drives / "enhanced"
    for _ in range(2):  # the rerun must not find the first run's outputs as new inputs
        assert main([str(drives), "-o", str(out), "-e", "gamma", "--no-progress"]) == EXIT_OK
    outputs = sorted(str(p.relative_to(out)) for p in out.rglob("*.mp4"))
    assert outputs == ["b.mp4", "day1/a.mp4"]
    assert not (out / "enhanced").exists()
    assert {r["status"] for r in _rows(out).values()} == {"skipped"}


def test_a_list_whose_outputs_would_be_the_inputs_is_refused(tmp_path: Path, capsys) -> None:
    clip = make_clip(tmp_path / "a.mp4", seconds=0.4)
    listing = tmp_path / "drives.txt"
    listing.write_text("a.mp4\n")
    before = clip.read_bytes()
    assert main(["--list", str(listing), "-o", str(tmp_path), "--no-progress"]) == EXIT_USAGE
    assert "would replace the originals" in capsys.readouterr().err
    assert clip.read_bytes() == before


@pytest.fixture(scope="module")
def damaged_drives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("damaged_drives")
    work = tmp_path_factory.mktemp("damaged_work")
    drives = folder / "drives"
    drives.mkdir()
    make_clip(drives / "good.mp4", seconds=1.0)
    base_mp4 = damage.base_clip(work, "mp4")
    base_mkv = damage.base_clip(work, "mkv")
    (drives / "audio_dts0.mp4").write_bytes(damage.audio_at_dts_zero(base_mp4.read_bytes()))
    damage.repeated_audio_dts(base_mkv, drives / "audio_repeat.mkv")
    data = base_mkv.read_bytes()
    (drives / "cut.mkv").write_bytes(data[: len(data) // 2])
    damage.without_key_frames(base_mkv, drives / "nokey.mkv")
    damage.size_change(drives / "sizes.mkv")
    return drives


def test_damaged_content_never_ends_the_batch(damaged_drives: Path, tmp_path: Path,
                                              capsys) -> None:
    out = tmp_path / "out"
    args = [str(damaged_drives), "-o", str(out), "-e", "gamma", "--no-progress",
            "--set", "enhancer.batch_size=4"]
    assert main(args) == EXIT_FAILED  # one file cannot be decoded at all
    rows = _rows(out)
    status = {name: row["status"] for name, row in rows.items()}
    assert status == {"good.mp4": "done", "audio_dts0.mp4": "done", "audio_repeat.mkv": "done",
                      "cut.mkv": "truncated", "nokey.mkv": "failed", "sizes.mkv": "done"}
    assert "no video frame could be decoded" in rows["nokey.mkv"]["error"]
    assert "Errno" not in "".join(r["error"] for r in rows.values())
    assert probe(out / "audio_dts0.mp4").frames == damage.FRAMES
    assert probe(out / "sizes.mkv").frames == 16
    assert not [p for p in out.rglob("*") if "nocturne-partial" in p.name]
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # a rerun redoes nothing that finished (done or truncated) and still reports
    assert main(args) == EXIT_FAILED
    rerun = {name: row["status"] for name, row in _rows(out).items()}
    assert rerun["cut.mkv"] == "skipped" and rerun["good.mp4"] == "skipped"


def test_truncated_mkv_alone_exits_3(damaged_drives: Path, tmp_path: Path) -> None:
    assert main([str(damaged_drives / "cut.mkv"), "-o", str(tmp_path / "o"), "-e", "gamma",
                 "--no-progress"]) == EXIT_TRUNCATED
