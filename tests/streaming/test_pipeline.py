"""End-to-end pipeline tests on real encoded clips (PyAV, libx264, AAC)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.config import load_config
from pipeline.streaming.runner import DropOldestQueue, Pipeline
from tests.clips import frame_time_tolerance, make_clip, probe


def _cfg(source: Path | str, sink: Path | str, *sets: str, enhancer: str = "passthrough"):
    return load_config(raw={
        "source": {"uri": str(source)},
        "sink": {"uri": str(sink)},
        "enhancer": {"type": enhancer},
        "run": {"stats_interval_s": 0, "progress": False},
    }, overrides=list(sets))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "drive.mp4", fps=15, seconds=2.0)


def test_drop_oldest_queue_keeps_newest() -> None:
    q = DropOldestQueue(maxsize=2)
    evicted = [q.put_latest(i) for i in range(5)]
    assert evicted == [None, None, 0, 1, 2]
    assert [q.get_nowait(), q.get_nowait()] == [3, 4]
    assert q.empty()


def test_queues_hold_two_batches(clip: Path, tmp_path: Path) -> None:
    """With batches the stages overlap: each queue holds two, whatever queue_size says."""
    cfg = _cfg(clip, tmp_path / "o.mp4", "enhancer.batch_size=4", "source.queue_size=2",
               "sink.queue_size=3")
    pipe = Pipeline(cfg)
    assert (pipe._q_in.maxsize, pipe._q_out.maxsize) == (8, 8)
    pipe = Pipeline(_cfg(clip, tmp_path / "o.mp4", "source.queue_size=2", "sink.queue_size=3"))
    assert (pipe._q_in.maxsize, pipe._q_out.maxsize) == (2, 3)
    result = Pipeline(cfg).run()
    assert result.error is None and result.stats.frames_out == probe(clip).frames


def test_file_job_keeps_every_frame_timestamps_and_audio(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = Pipeline(_cfg(clip, out, enhancer="passthrough")).run()
    src, dst = probe(clip), probe(out)
    assert result.stats.frames_in == src.frames == 30
    assert result.stats.frames_out == dst.frames == src.frames
    assert result.stats.dropped == 0 and not result.truncated
    tol = frame_time_tolerance(clip)
    assert np.max(np.abs(np.array(dst.times) - np.array(src.times))) < tol
    assert src.audio_packets > 0
    assert dst.audio_packets == src.audio_packets
    assert "audio:aac" in dst.streams


def test_variable_frame_rate_timestamps_kept(tmp_path: Path) -> None:
    """Irregular source timestamps come out as they went in (no CFR resampling)."""
    src = tmp_path / "vfr.mkv"
    times_ms = [0, 40, 70, 150, 160, 300, 310, 500]
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = s.time_base = __import__("fractions").Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), "rgb24")
            f.pts = t
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    out = tmp_path / "vfr_out.mp4"
    Pipeline(_cfg(src, out)).run()
    got = [round(t * 1000) for t in probe(out).times]
    assert got == times_ms


def test_enhancer_changes_frames_and_side_by_side(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "sbs.mkv"
    Pipeline(_cfg(clip, out, "sink.side_by_side=true", "enhancer.gamma=0.5",
                  enhancer="gamma")).run()
    info = probe(out)
    assert (info.width, info.height) == (2 * 96, 64)
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    left, right = frame[:, :96], frame[:, 96:]
    assert right.mean() > left.mean() + 10  # the enhanced half is brighter


def test_slow_enhancer_on_file_loses_nothing(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "slow.mp4"
    result = Pipeline(_cfg(clip, out, "enhancer.delay_ms=15", "source.queue_size=2",
                           "sink.queue_size=1")).run()
    assert result.stats.dropped == 0
    assert result.stats.frames_out == probe(out).frames == probe(clip).frames


def test_slow_enhancer_on_live_source_drops_oldest(tmp_path: Path) -> None:
    """A live source (a file played in real time) behind a 100 ms/frame enhancer at 30 fps."""
    src = make_clip(tmp_path / "live.mp4", width=64, height=48, fps=30, seconds=2.0,
                    audio=False)
    frames_dir = tmp_path / "frames"
    delay_s = 0.1
    queue_in, queue_out = 2, 1
    result = Pipeline(_cfg(src, f"images://{frames_dir}", "source.realtime=true",
                           f"enhancer.delay_ms={delay_s * 1000}",
                           f"source.queue_size={queue_in}", f"sink.queue_size={queue_out}")).run()
    s = result.stats
    assert s.frames_in == 60
    assert s.dropped > 30                      # it cannot keep up: most frames are dropped
    assert s.frames_out + s.dropped == s.frames_in
    written = sorted(int(p.stem) for p in frames_dir.glob("*.png"))
    assert len(written) == s.frames_out
    # the newest frame always survives: dropping takes the oldest
    assert written[-1] == s.frames_in - 1
    # latency is bounded by the queues, not by how far behind the enhancer is: a frame waits
    # at most for the frames ahead of it in both queues plus the one being enhanced
    bound = (queue_in + queue_out + 2) * delay_s + 0.15
    p95 = s.end_to_end.percentile_ms(95)
    assert p95 is not None and p95 / 1000 < bound, (p95, bound)


def test_target_fps_holds_live_output_rate(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "live30.mp4", width=64, height=48, fps=30, seconds=2.0,
                    audio=False)
    result = Pipeline(_cfg(src, tmp_path / "o.mp4", "source.realtime=true",
                           "run.target_fps=10")).run()
    s = result.stats
    assert s.skipped > 0
    # 2 s at 10 fps: about 20 frames out of 60
    assert 17 <= s.frames_out <= 23, s.frames_out
    assert s.frames_out + s.skipped + s.dropped == s.frames_in


def test_max_frames_stops_and_finalizes(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "first10.mp4"
    result = Pipeline(_cfg(clip, out, "run.max_frames=10")).run()
    assert result.stopped
    info = probe(out)
    assert info.frames == 10 == result.stats.frames_out
    # the audio kept goes with the frames kept (10 frames at 15 fps ≈ 0.67 s), not the whole clip
    assert 0 < info.audio_packets < probe(clip).audio_packets


def test_image_folder_source_to_video(tmp_path: Path) -> None:
    import cv2

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in (1, 2, 10):  # natural order: 1, 2, 10
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((32, 48, 3), 10 * i, np.uint8))
    out = tmp_path / "imgs.mp4"
    result = Pipeline(_cfg(folder, out, "source.fps=5")).run()
    info = probe(out)
    assert info.frames == 3 == result.stats.frames_out
    assert [round(t, 3) for t in info.times] == [0.0, 0.2, 0.4]
    with av.open(str(out)) as c:
        means = [f.to_ndarray(format="rgb24").mean() for f in c.decode(video=0)]
    assert means[0] < means[1] < means[2]


def test_stats_json(clip: Path, tmp_path: Path) -> None:
    path = tmp_path / "stats.json"
    Pipeline(_cfg(clip, "null://", f"run.stats_json={path}")).run()
    data = json.loads(path.read_text())
    assert data["frames_in"] == data["frames_out"] == 30
    for stage in ("capture", "enhance", "write"):
        st = data["stages"][stage]
        assert st["frames"] == 30 and st["fps"] > 0
        assert 0 <= st["latency_ms_p50"] <= st["latency_ms_p95"]
    assert data["latency"]["latency_ms_p95"] >= data["latency"]["latency_ms_p50"] > 0
    assert data["config"]["enhancer"]["type"] == "passthrough"


def test_start_up_failure_closes_source(clip: Path, tmp_path: Path) -> None:
    """If the sink cannot open, the already opened source is closed again."""
    from pipeline.errors import SinkError

    p = Pipeline(_cfg(clip, tmp_path / "missing_dir" / "o.mp4"))
    with pytest.raises(SinkError, match="does not exist"):
        p.open()
    assert p.source is not None and getattr(p.source, "container") is None


def test_fd_hygiene(clip: Path, tmp_path: Path) -> None:
    """Repeated runs do not leak open files (containers are closed)."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc")
    Pipeline(_cfg(clip, tmp_path / "a.mp4")).run()
    before = len(os.listdir("/proc/self/fd"))
    for i in range(3):
        Pipeline(_cfg(clip, tmp_path / f"b{i}.mp4")).run()
    assert len(os.listdir("/proc/self/fd")) <= before


def test_stats_line_format(clip: Path) -> None:
    result = Pipeline(_cfg(clip, "null://")).run()
    assert re.search(r"in 30 out 30 dropped 0", result.stats.line())
