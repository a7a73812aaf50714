"""The RTSP output with real clients on loopback: PyAV over TCP decodes the frames the file
sink recorded (PSNR > 35 dB), two clients at once, a client that connects and stops reading
does not slow the recording, and a port in use is one line."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.streaming.cli import main
from pipeline.training.metrics import psnr
from tests.clips import make_clip, probe
from tests.common import refused_on_busy_port
from tests.rtsp import free_port, rtsp_available

pytestmark = pytest.mark.rtsp


@pytest.fixture(scope="module", autouse=True)
def _needs_gstreamer() -> None:
    reason = rtsp_available()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("rtsp_out") / "drive.mp4", width=160, height=96,
                     fps=15, seconds=4.0)


def _serve(clip: Path, out: Path, url: str) -> tuple[threading.Thread, dict]:
    result: dict = {}
    args = ["-i", str(clip), "-o", str(out), "-o", url, "-q", "--set", "source.realtime=true",
            "--set", "enhancer={type: gamma}", "--set", "sink.crf=0"]
    thread = threading.Thread(target=lambda: result.setdefault("code", main(args)))
    thread.start()
    return thread, result


def _read(url: str, count: int) -> list[np.ndarray]:
    deadline = time.monotonic() + 10
    while True:
        try:
            container = av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 5))
            break
        except av.error.FFmpegError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    frames = []
    with container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= count:
                break
    return frames


def _recorded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_two_clients_get_the_enhanced_frames(clip: Path, tmp_path: Path) -> None:
    port = free_port()
    url = f"rtsp://127.0.0.1:{port}/live"
    out = tmp_path / "o.mp4"
    thread, result = _serve(clip, out, f"rtsp://localhost:{port}/live")
    got: dict[int, list[np.ndarray]] = {}
    clients = [threading.Thread(target=lambda i=i: got.setdefault(i, _read(url, 8)))
               for i in range(2)]
    time.sleep(0.5)
    for c in clients:
        c.start()
    for c in clients:
        c.join(timeout=30)
    thread.join(timeout=60)
    assert result["code"] == 0
    recorded = _recorded(out)  # lossless (CRF 0): exactly the enhanced frames
    assert len(recorded) == probe(clip).frames
    for frames in got.values():
        assert len(frames) == 8
        # each streamed frame is one of the enhanced frames, through x264 at 4 Mbit/s
        best = [max(psnr(f, r) for r in recorded) for f in frames[2:]]
        assert min(best) > 35, best


def test_a_client_that_stops_reading_does_not_slow_the_recording(clip: Path,
                                                                  tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "o.mp4"
    thread, result = _serve(clip, out, f"rtsp://localhost:{port}/live")
    time.sleep(0.5)
    stalled = av.open(f"rtsp://127.0.0.1:{port}/live", options={"rtsp_transport": "tcp"},
                      timeout=(5, 5))
    next(stalled.decode(video=0))  # one frame, then never again
    silent = socket.create_connection(("127.0.0.1", port))  # connects, says nothing
    thread.join(timeout=60)
    silent.close()
    stalled.close()
    assert not thread.is_alive() and result["code"] == 0
    assert probe(out).frames == probe(clip).frames


def test_port_in_use_is_one_line(clip: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, err, port = refused_on_busy_port(main, clip, tmp_path / "o.mp4", "rtsp", capsys)
    assert code == 1 and err.count("error:") == 1 and f"port {port}" in err, err
    assert not (tmp_path / "o.mp4").exists()


def test_the_stats_count_the_clients() -> None:
    """The server reports each client that connects and goes; the sink's stats show how many
    are connected now and the most at once."""
    from fractions import Fraction

    from pipeline.config import SinkConfig
    from pipeline.streaming.frame import Frame
    from pipeline.streaming.rtsp_out import RtspSink
    from pipeline.streaming.sink_base import StreamInfo

    port = free_port()
    sink = RtspSink(f"rtsp://127.0.0.1:{port}/live", "127.0.0.1", port, "/live", SinkConfig())
    sink.open(StreamInfo(64, 48, Fraction(15), None, live=True))
    stop = threading.Event()

    def feed() -> None:
        i = 0
        while not stop.is_set():
            image = np.full((48, 64, 3), (i * 7) % 256, np.uint8)
            sink.write(Frame(image, i, None, None, time.monotonic()))
            i += 1
            time.sleep(1 / 15)

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        readers = [av.open(sink.url, options={"rtsp_transport": "tcp"}, timeout=(5, 5))
                   for _ in range(2)]
        for r in readers:
            next(r.decode(video=0))
        deadline = time.monotonic() + 5
        while sink.stats()["clients"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.stats()["clients"] == 2
        for r in readers:
            r.close()
        deadline = time.monotonic() + 10
        while sink.stats()["clients"] > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        stats = sink.stats()
        assert stats["clients"] == 0 and stats["clients_peak"] == 2 and stats["sent"] > 0
    finally:
        stop.set()
        feeder.join()
        sink.close()
