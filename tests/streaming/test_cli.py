"""``run_stream.py`` as a user runs it: exit codes, one-line errors, signals."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.clips import make_clip, probe
from tests.common import ROOT, assert_clean_error, run_cli


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("cli") / "drive.mp4", fps=15, seconds=1.0)


def test_help_documents_uri_forms() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for form in ("rtsp://", "v4l2:///dev/video0", "csi://0", "display://", "images://",
                 "null://", "file://"):
        assert form in proc.stdout


def test_list_enhancers_marks_the_default() -> None:
    proc = run_cli("--list-enhancers")
    assert proc.returncode == 0
    marked = [line for line in proc.stdout.splitlines() if "[the default" in line]
    assert len(marked) == 1 and marked[0].startswith("onnxruntime: model='lowres_guided'")


def test_cli_file_job(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    stats = tmp_path / "s.json"
    proc = run_cli("--source", str(clip), "--sink", str(out), "--enhancer", "clahe",
                   "--stats-json", str(stats), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert probe(out).frames == probe(clip).frames == json.loads(stats.read_text())["frames_out"]


def test_quiet_h265_job_prints_nothing(clip: Path, tmp_path: Path) -> None:
    """x265 writes its banner and summary to stderr itself; ``-q`` means nothing there."""
    out = tmp_path / "out.mkv"
    proc = run_cli("-i", str(clip), "-o", str(out), "--enhancer", "gamma", "-q",
                   "--no-progress", "--set", "sink.codec=libx265")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert probe(out).frames == probe(clip).frames


def test_missing_file(tmp_path: Path) -> None:
    proc = run_cli("-i", str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4"))
    assert_clean_error(proc, r"not found: .*nope\.mp4", 1)


def test_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    proc = run_cli("-i", str(bad), "-o", str(tmp_path / "o.mp4"))
    assert_clean_error(proc, r"cannot read .*notes\.mp4 as video", 1)
    assert not (tmp_path / "o.mp4").exists()


def test_truncated_video_still_finalizes_output(tmp_path: Path) -> None:
    full = make_clip(tmp_path / "full.mp4", fps=15, seconds=2.0, faststart=True)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "o.mp4"
    proc = run_cli("-i", str(cut), "-o", str(out), "--no-progress")
    assert_clean_error(proc, r"truncated", 3)
    frames = probe(out).frames
    assert 0 < frames < probe(full).frames


def test_unreachable_rtsp() -> None:
    t0 = time.monotonic()
    proc = run_cli("-i", "rtsp://127.0.0.1:9/none", "-o", "null://",
                   "--set", "source.rtsp.open_timeout_s=2")
    assert_clean_error(proc, r"cannot open rtsp://127\.0\.0\.1:9/none", 1)
    assert time.monotonic() - t0 < 20


def test_unknown_scheme(tmp_path: Path) -> None:
    proc = run_cli("-i", "foo://bar", "-o", str(tmp_path / "o.mp4"))
    assert_clean_error(proc, r"unknown source URI scheme 'foo'", 1)
    proc = run_cli("-i", "x.mp4", "-o", "ftp://host/o.mp4")
    assert_clean_error(proc, r"unknown sink URI scheme 'ftp'|not found", 1)


@pytest.mark.parametrize("uri, message", [("rtsp://", "rtsp://: no host"),
                                          ("rtsp://:554/x", "no host"),
                                          ("v4l2://", "v4l2://: no device"),
                                          ("file://", "file://: no path")])
def test_a_source_uri_without_its_host_or_path_says_so(uri: str, message: str) -> None:
    assert_clean_error(run_cli("-i", uri, "-o", "null://"), message, 1)


@pytest.mark.parametrize("uri, message", [("images://", "give the folder for the images"),
                                          ("file://", "give a file name")])
def test_a_sink_uri_without_a_path_is_refused(uri: str, message: str, clip: Path,
                                              tmp_path: Path) -> None:
    """Not the current folder by default: frames would land among whatever is there."""
    proc = run_cli("-i", str(clip), "-o", uri, cwd=tmp_path)
    assert_clean_error(proc, message, 1)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output(clip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    proc = run_cli("-i", str(clip), "-o", str(blocker / "o.mp4"))
    assert_clean_error(proc, r"cannot write .*o\.mp4", 1)
    proc = run_cli("-i", str(clip), "-o", str(tmp_path / "no" / "such" / "o.mp4"))
    assert_clean_error(proc, r"does not exist", 1)


def test_bad_config_names_file_and_key(clip: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("sink:\n  crf: 20\n  presett: fast\n")
    proc = run_cli("-c", str(cfg), "-i", str(clip), "-o", "null://")
    assert_clean_error(proc, r"bad\.yaml: sink\.presett: unknown key", 2)
    cfg.write_text("source:\n  rtsp:\n    read_timeout_s: soon\n")
    proc = run_cli("-c", str(cfg), "-i", str(clip), "-o", "null://")
    assert_clean_error(proc, r"bad\.yaml: source\.rtsp\.read_timeout_s: expected a number", 2)
    cfg.write_text("enhancer:\n  type: clahe\n  clip: 3\n")
    proc = run_cli("-c", str(cfg), "-i", str(clip), "-o", "null://")
    assert_clean_error(proc, r"bad\.yaml: enhancer\.clip: unknown parameter .*clip_limit", 2)
    proc = run_cli("-i", str(clip), "-o", "null://", "--set", "sink.crf=high")
    assert_clean_error(proc, r"--set sink\.crf: expected a number", 2)
    proc = run_cli("-i", str(clip), "-o", "null://", "-e", "nosuch")
    assert_clean_error(proc, r"unknown enhancer 'nosuch'; valid: .*clahe", 2)
    proc = run_cli("-c", str(tmp_path / "missing.yaml"), "-i", str(clip), "-o", "null://")
    assert_clean_error(proc, r"config file not found", 2)


def test_sigint_leaves_playable_file_with_all_frames_written(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "long.mp4", fps=15, seconds=6.0)
    out = tmp_path / "o.mp4"
    stats = tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "run_stream.py"), "-i", str(src), "-o", str(out),
         "--set", "enhancer={type: passthrough, delay_ms: 40}", "--stats-json", str(stats),
         "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(2.5)  # start-up plus some frames; the whole clip needs > 3.6 s
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    written = json.loads(stats.read_text())["frames_out"]
    info = probe(out)
    assert 0 < written < 90
    assert info.frames == written
    assert info.audio_packets > 0


def test_camera_errors(tmp_path: Path) -> None:
    proc = run_cli("-i", "v4l2:///dev/video99", "-o", str(tmp_path / "o.mp4"))
    assert_clean_error(proc, r"camera not found: /dev/video99", 1)
    from pipeline.streaming.sources import _has_gstreamer

    if not _has_gstreamer():
        proc = run_cli("-i", "csi://0", "-o", str(tmp_path / "o.mp4"))
        assert_clean_error(proc, r"csi://0: CSI cameras need OpenCV built with GStreamer", 1)


def test_display_without_screen_is_a_clear_error(clip: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "-i", str(clip),
                           "-o", "display://"], capture_output=True, text=True, env=env,
                          timeout=60, cwd=ROOT)
    assert_clean_error(proc, r"display:// needs a screen", 1)


def test_periodic_stats_lines(clip: Path) -> None:
    proc = run_cli("-i", str(clip), "-o", "null://", "--no-progress",
                   "--set", "run.stats_interval_s=0.3",
                   "--set", "enhancer={type: passthrough, delay_ms: 40}")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "dropped" in ln and "latency" in ln]
    assert len(lines) >= 2  # at least one periodic line plus the final summary
    assert "in 15 out 15 dropped 0" in lines[-1]
