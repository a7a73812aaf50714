"""The batch job over real encoded drives (H.264 + AAC + a GPS subtitle track) in nested
folders: outputs mirror the inputs with their tracks and creation time, reruns skip, corrupt
files are reported while the others complete, killed or interrupted runs leave no final-named
partial file, and the Ray path gives the same frames as the local one."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.batch.cli import main
from pipeline.batch.job import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Job, Manifest,
                                choose_container, discover, plan_jobs, settings_fingerprints)
from pipeline.config import load_config
from pipeline.errors import ConfigError
from tests.clips import make_clip, make_drive, probe
from tests.common import ROOT

CREATED = "2026-11-20T21:15:00.000000Z"


def _drives(root: Path) -> dict[str, Path]:
    """Two days of drives: an MP4 with a mov_text GPS track, an MKV with an SRT one."""
    return {
        "day1/front.mp4": make_drive(_mk(root / "day1" / "front.mp4"), "mov_text"),
        "day2/cam/rear.mkv": make_drive(_mk(root / "day2" / "cam" / "rear.mkv"), "subrip",
                                        seconds=0.6),
    }


def _mk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _report(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "batch_report.csv", newline="") as f:
        return {Path(r["input"]).name: r for r in csv.DictReader(f)}


def test_nested_drives_keep_tracks_and_creation_time(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    drives = _drives(tmp_path / "in")
    os.utime(drives["day1/front.mp4"], (1_700_000_000, 1_700_000_000))
    out = tmp_path / "out"
    assert main([str(tmp_path / "in"), "-o", str(out), "-e", "gamma", "--no-progress"]) == EXIT_OK
    assert "2 files: 2 done" in capsys.readouterr().out
    for rel, src in drives.items():
        dst = out / rel
        assert dst.is_file()
        a, b = probe(src), probe(dst)
        assert b.frames == a.frames and b.audio_packets == a.audio_packets
        assert [s.split(":")[0] for s in b.streams] == ["video", "audio", "subtitle"]
        with av.open(str(dst)) as c:
            assert c.metadata.get("creation_time") == CREATED
            assert sum(1 for p in c.demux(c.streams.subtitles[0]) if p.size) >= 1
        assert dst.stat().st_mtime_ns == src.stat().st_mtime_ns
    assert not list(out.rglob("*nocturne-partial*"))
    rows = _report(out)
    assert rows["front.mp4"]["status"] == "done" and rows["front.mp4"]["frames"] == "15"
    assert rows["rear.mkv"]["container"] == "mkv"
    assert json.loads((out / "batch_report.json").read_text())[0]["enhancer"] == "gamma"


def test_rerun_skips_and_changed_settings_redo(tmp_path: Path) -> None:
    make_clip(_mk(tmp_path / "in" / "a" / "x.mp4"))
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "-o", str(out), "-e", "gamma", "--no-progress"]
    assert main(args) == EXIT_OK
    first = (out / "a" / "x.mp4").stat().st_mtime_ns, (out / "a" / "x.mp4").stat().st_ino
    os.utime(tmp_path / "in" / "a" / "x.mp4")  # touched, same bytes: still done
    assert main(args) == EXIT_OK
    assert _report(out)["x.mp4"]["status"] == "skipped"
    assert ((out / "a" / "x.mp4").stat().st_mtime_ns, (out / "a" / "x.mp4").stat().st_ino) \
        == first
    assert main(args[:-3] + ["-e", "clahe", "--no-progress"]) == EXIT_OK
    assert _report(out)["x.mp4"]["status"] == "done"
    # an output deleted by hand is made again
    (out / "a" / "x.mp4").unlink()
    assert main(args[:-3] + ["-e", "clahe", "--no-progress"]) == EXIT_OK
    assert _report(out)["x.mp4"]["status"] == "done"


def test_corrupt_drive_is_reported_and_the_others_complete(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    make_clip(_mk(tmp_path / "in" / "good.mp4"))
    (tmp_path / "in" / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4000))
    good = (tmp_path / "in" / "good.mp4").read_bytes()
    _mk(tmp_path / "in" / "cut" / "half.mp4").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out"
    code = main([str(tmp_path / "in"), "-o", str(out), "-e", "gamma", "--no-progress"])
    assert code == EXIT_FAILED
    rows = _report(out)
    assert rows["good.mp4"]["status"] == "done"
    assert rows["bad.mp4"]["status"] == "failed" and rows["bad.mp4"]["error"]
    assert rows["half.mp4"]["status"] == "failed"  # no index: nothing decodable
    assert probe(out / "good.mp4").frames == probe(tmp_path / "in" / "good.mp4").frames
    assert not (out / "bad.mp4").exists() and not (out / "cut" / "half.mp4").exists()
    err = capsys.readouterr().err
    assert "failed: " in err and "bad.mp4" in err and "Traceback" not in err


def test_containers() -> None:
    mp4, mkv, ts = Path("a.mp4"), Path("a.mkv"), Path("a.ts")
    assert choose_container(mp4, [("audio", "aac"), ("subtitle", "mov_text")], "auto") == \
        ("mp4", "same as the input")
    chosen, reason = choose_container(mp4, [("audio", "aac"), ("data", "bin_data")], "auto")
    assert chosen == "mkv" and "MP4 cannot hold data (bin_data)" in reason
    assert choose_container(ts, [], "auto")[0] == "mkv"
    assert choose_container(mkv, [("subtitle", "srt")], "auto")[0] == "mkv"
    assert choose_container(mkv, [("subtitle", "srt")], "mp4") == ("mp4", "asked for")


def test_forced_mp4_drops_and_names_the_srt_track(tmp_path: Path) -> None:
    make_drive(_mk(tmp_path / "in" / "d.mkv"), "subrip")
    out = tmp_path / "out"
    assert main([str(tmp_path / "in"), "-o", str(out), "-e", "gamma", "--container", "mp4",
                 "--no-progress"]) == EXIT_OK
    assert [s.split(":")[0] for s in probe(out / "d.mp4").streams] == ["video", "audio"]
    assert "subtitle (srt)" in _report(out)["d.mkv"]["dropped_streams"]


def test_inputs_from_a_list_file_and_clear_errors(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    a = make_clip(_mk(tmp_path / "v" / "one" / "a.mp4"))
    b = make_clip(_mk(tmp_path / "v" / "two" / "b.mp4"))
    listing = tmp_path / "drives.txt"
    listing.write_text(f"# tonight\n{a}\nv/two/b.mp4\n\n")
    found = discover([], [str(listing)])
    assert [rel.as_posix() for _, rel in found] == ["one/a.mp4", "two/b.mp4"]
    assert found[1][0] == b.resolve()
    listing.write_text("missing.mp4\n")
    with pytest.raises(ConfigError, match=r"drives.txt:1: 'missing.mp4' is not a file"):
        discover([], [str(listing)])
    assert main([str(tmp_path / "nowhere"), "-o", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["-o", str(tmp_path / "o")]) == 2
    # two inputs that would write one output
    make_clip(_mk(tmp_path / "w" / "c.mov"))
    make_clip(_mk(tmp_path / "w" / "c.mkv"))
    jobs, failed = plan_jobs(discover([str(tmp_path / "w")]), tmp_path / "o", "mkv")
    assert len(jobs) == 1 and "already writes" in failed[0].error


def test_manifest_survives_damage(tmp_path: Path) -> None:
    (tmp_path / ".nocturne-manifest.json").write_text("{not json")
    assert Manifest(tmp_path).entries == {}
    job = Job(tmp_path / "x.mp4", Path("x.mp4"), tmp_path / "x.mp4", "mp4")
    cfg = load_config(None, ["enhancer={type: gamma}"])
    settings = settings_fingerprints(cfg)
    assert settings["mp4"] != settings["mkv"]
    assert settings != settings_fingerprints(load_config(None, ["enhancer={type: clahe}"]))
    assert not Manifest(tmp_path).is_done(job, settings["mp4"])


def _start_batch(src: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "batch.py"), str(src), "-o", str(out), "-e",
         "retinex", "--no-progress", "-q"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def _wait_for_partial(out: Path, proc: subprocess.Popen, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partial = list(out.rglob("*nocturne-partial*")) if out.is_dir() else []
        if partial:
            return partial[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("no partial output appeared")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_or_interrupted_run_leaves_no_final_named_partial(tmp_path: Path,
                                                                 sig: int) -> None:
    make_clip(_mk(tmp_path / "in" / "long.mp4"), width=320, height=240, seconds=4.0)
    out = tmp_path / "out"
    proc = _start_batch(tmp_path / "in", out)
    partial = _wait_for_partial(out, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert not (out / "long.mp4").exists()
    if sig == signal.SIGINT:
        assert proc.returncode == EXIT_INTERRUPTED, err
        assert not partial.exists()  # a graceful stop removes its temporary
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    # the next run cleans up and completes
    proc = _start_batch(tmp_path / "in", out)
    proc.communicate(timeout=120)
    assert proc.returncode == EXIT_OK
    assert not list(out.rglob("*nocturne-partial*"))
    assert probe(out / "long.mp4").frames == 60


def test_ray_missing_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture) -> None:
    make_clip(_mk(tmp_path / "in" / "x.mp4"), seconds=0.2)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    assert main([str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--ray"]) == 2
    assert "pip install 'nocturne[ray]'" in capsys.readouterr().err


try:
    import ray
except ImportError:  # an optional extra
    ray = None


@pytest.fixture(scope="module")
def local_ray() -> object:
    if ray is None:
        pytest.skip("Ray is not installed (pip install 'nocturne[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_gives_the_same_frames_as_local(tmp_path: Path, local_ray: object) -> None:
    drives = _drives(tmp_path / "in")
    make_clip(_mk(tmp_path / "in" / "day3" / "extra.mp4"), seconds=0.4)
    # lossless x264 (CRF 0): the decoded output is exactly what was enhanced, whatever the
    # encoder's threads and rate control do in each process
    base = [str(tmp_path / "in"), "-e", "clahe", "--no-progress", "--set", "sink.crf=0"]
    assert main(base + ["-o", str(tmp_path / "local")]) == EXIT_OK
    assert main(base + ["-o", str(tmp_path / "ray"), "--ray", "--workers", "2",
                        "--cpus-per-worker", "1"]) == EXIT_OK
    rels = list(drives) + ["day3/extra.mp4"]
    for rel in rels:
        local, remote = _frames(tmp_path / "local" / rel), _frames(tmp_path / "ray" / rel)
        assert len(local) == len(remote) > 0
        diffs = [int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(local, remote)]
        assert not any(diffs), (rel, diffs)  # largest difference per frame
        assert probe(tmp_path / "ray" / rel).streams == probe(tmp_path / "local" / rel).streams
    rows = _report(tmp_path / "ray")
    assert {r["status"] for r in rows.values()} == {"done"}
    assert len({r["worker"] for r in rows.values()}) == 2  # both actors took files
    # a cluster run's manifest is the local path's: a local rerun skips everything
    assert main(base + ["-o", str(tmp_path / "ray")]) == EXIT_OK
    assert {r["status"] for r in _report(tmp_path / "ray").values()} == {"skipped"}


def test_ray_retries_a_failing_file_then_reports_it(tmp_path: Path, local_ray: object) -> None:
    from pipeline.batch.ray_backend import run_ray

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    job = Job(bad, Path("bad.mp4"), tmp_path / "out" / "bad.mp4", "mp4")
    cfg = load_config(None, ["enhancer={type: gamma}"])
    summary = run_ray([job], cfg, Manifest(tmp_path / "out"), {"mp4": "s"}, retries=2,
                      progress=False)
    (rec,) = summary.records
    assert rec.status == "failed" and rec.attempts == 3 and rec.error
    assert summary.exit_code() == EXIT_FAILED
