"""The RTSP source against a real GStreamer RTSP server on loopback."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.streaming.runner import Pipeline
from pipeline.streaming.sources import open_source
from tests.clips import probe

pytestmark = pytest.mark.rtsp


def _cfg(url: str, sink: str, *sets: str):
    return load_config(raw={
        "source": {"uri": url, "rtsp": {"open_timeout_s": 5, "read_timeout_s": 2,
                                        "backoff_initial_s": 0.2, "backoff_max_s": 1.0}},
        "sink": {"uri": sink},
        "enhancer": {"type": "passthrough"},
        "run": {"stats_interval_s": 0, "progress": False},
    }, overrides=list(sets))


def test_rtsp_source_reads_frames_with_timestamps(rtsp_server) -> None:
    cfg = _cfg(rtsp_server.url, "null://")
    with open_source(rtsp_server.url, cfg.source) as src:
        assert src.live
        assert (src.width, src.height) == (320, 240)
        frames = [src.read() for _ in range(10)]
    assert all(f is not None for f in frames)
    # FFmpeg's RTSP demuxer gives the first frame of a connection no pts; the rest have one
    times = [f.time for f in frames[1:]]
    assert all(t is not None for t in times)
    assert all(b > a for a, b in zip(times, times[1:]))
    caps = [f.capture_time for f in frames]
    assert all(b >= a for a, b in zip(caps, caps[1:]))
    assert [f.index for f in frames] == list(range(10))


def test_rtsp_to_file(rtsp_server, tmp_path: Path) -> None:
    out = tmp_path / "live.mp4"
    result = Pipeline(_cfg(rtsp_server.url, str(out), "run.max_frames=20",
                           "enhancer.type=gamma")).run()
    assert result.stats.frames_in == 20
    info = probe(out)
    assert info.frames == result.stats.frames_out > 0
    # live timestamps come from the capture clock: increasing, about 30 fps apart
    gaps = [b - a for a, b in zip(info.times, info.times[1:])]
    assert all(g > 0 for g in gaps)
    assert 0.01 < sum(gaps) / len(gaps) < 0.2


def test_rtsp_source_survives_server_restart(rtsp_server, tmp_path: Path) -> None:
    out = tmp_path / "restart.mp4"
    pipe = Pipeline(_cfg(rtsp_server.url, str(out)))
    pipe.open()
    seen_before = threading.Event()

    def restart_then_stop() -> None:
        deadline = time.monotonic() + 20
        while pipe.stats.frames_out < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        seen_before.set()
        rtsp_server.restart(down_s=1.0)
        start = pipe.stats.frames_in
        while pipe.stats.frames_in < start + 20 and time.monotonic() < deadline + 20:
            time.sleep(0.05)
        pipe.stop()

    t = threading.Thread(target=restart_then_stop)
    t.start()
    result = pipe.run()
    t.join()
    assert seen_before.is_set()
    s = result.stats
    assert s.reconnects >= 1
    assert s.reconnect_downtime_s >= 0.5   # the server was down for 1 s
    assert s.frames_out >= 35
    assert probe(out).frames == s.frames_out
