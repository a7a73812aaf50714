"""The browser preview sink with real HTTP clients on loopback: record and watch at once (the
page, the MJPEG stream, the stats JSON updating), a client that stalls never slows the
recording, and bad listen addresses are one clear line."""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.streaming.cli import main
from tests.clips import make_clip, probe
from tests.common import refused_on_busy_port


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("preview") / "drive.mp4", width=160, height=96,
                     fps=15, seconds=3.0)


def _run_live(clip: Path, out: Path, port: int, *extra: str) -> tuple[threading.Thread, dict]:
    result: dict = {}
    args = ["-i", str(clip), "-o", str(out), "-o", f"http://localhost:{port}/", "-q",
            "--set", "source.realtime=true", "--set", "enhancer={type: gamma}", *extra]
    thread = threading.Thread(target=lambda: result.setdefault("code", main(args)))
    thread.start()
    return thread, result


def _get(port: int, path: str) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _jpegs(port: int, count: int, view: str = "output") -> list[np.ndarray]:
    response = urllib.request.urlopen(f"http://127.0.0.1:{port}/stream.mjpg?view={view}",
                                      timeout=10)
    assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
    images = []
    while len(images) < count:
        line = response.readline()
        if line.lower().startswith(b"content-length:"):
            size = int(line.split(b":")[1])
            response.readline()
            data = response.read(size)
            images.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    response.close()
    return images


def test_record_and_watch(clip: Path, tmp_path: Path) -> None:
    port = _free_port()
    out = tmp_path / "o.mp4"
    thread, result = _run_live(clip, out, port)
    try:
        page = _get(port, "/").decode()
        assert "/stream.mjpg" in page and "/stats.json" in page
        first = json.loads(_get(port, "/stats.json"))
        images = _jpegs(port, 4)
        both = _jpegs(port, 1, "both")[0]
        time.sleep(0.3)
        second = json.loads(_get(port, "/stats.json"))
    finally:
        thread.join(timeout=30)
    assert result["code"] == 0
    assert all(img is not None and img.shape == (96, 160, 3) for img in images)
    assert all(img.std() > 1 for img in images)  # a picture, not a blank frame
    assert any(np.abs(a.astype(int) - b).mean() > 0.5 for a, b in zip(images, images[1:]))
    assert both.shape == (96, 320, 3)  # input | output
    assert second["frames_out"] > first["frames_out"] > 0
    assert second["enhancer"] == "gamma" and second["preview"]["sent"] >= 4
    assert probe(out).frames == probe(clip).frames  # the recording lost nothing


def test_a_stalled_client_does_not_slow_the_recording(clip: Path, tmp_path: Path) -> None:
    port = _free_port()
    out = tmp_path / "o.mp4"
    stats = tmp_path / "s.json"
    thread, result = _run_live(clip, out, port, "--stats-json", str(stats))
    _get(port, "/stats.json")
    stalled = socket.create_connection(("127.0.0.1", port))
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
    thread.join(timeout=30)
    stalled.close()
    assert not thread.is_alive() and result["code"] == 0
    assert probe(out).frames == probe(clip).frames
    data = json.loads(stats.read_text())
    assert data["dropped"] == 0 and data["frames_out"] == probe(clip).frames


def test_port_in_use_is_one_line(clip: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, err, port = refused_on_busy_port(main, clip, tmp_path / "o.mp4", "http", capsys)
    assert code == 1
    assert [line for line in err.splitlines() if "error:" in line] == [
        line for line in err.splitlines() if f"port {port} is already in use" in line]
    assert not (tmp_path / "o.mp4").exists()  # the recording never started


@pytest.mark.parametrize("uri, message", [
    ("http://localhost:99999/", "outside 1..65535"),
    ("http://localhost:abc/", "bad port"),
])
def test_bad_listen_address(uri: str, message: str, clip: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-i", str(clip), "-o", uri, "-q"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("error:") == 1


def test_bind_addresses() -> None:
    from pipeline.streaming.sink_base import parse_listen

    assert parse_listen("localhost:8080", "u", 1) == ("127.0.0.1", 8080)
    assert parse_listen(":8081", "u", 1) == ("127.0.0.1", 8081)
    assert parse_listen("@:8082", "u", 1) == ("0.0.0.0", 8082)
    assert parse_listen("@", "u", 8554) == ("0.0.0.0", 8554)
    assert parse_listen("0.0.0.0:8083", "u", 1) == ("0.0.0.0", 8083)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--window-size=640,480", *args],
                          capture_output=True, text=True, timeout=90)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (Debian's "
                    "chromium; tools/install_system_deps.sh installs it)")
def test_a_real_browser_shows_the_stream_and_live_stats(tmp_path: Path) -> None:
    """Headless Chromium opens the page: the picture is not blank and changes over time, and
    the stats table the page's script fills updates."""
    clip = make_clip(tmp_path / "drive.mp4", width=320, height=180, fps=15, seconds=8.0)
    port = _free_port()
    thread, result = _run_live(clip, tmp_path / "o.mp4", port)
    url = f"http://127.0.0.1:{port}/"
    try:
        _get(port, "/stats.json")
        shots, counts = [], []
        for i in range(2):
            shot = tmp_path / f"shot{i}.png"
            assert _chromium("--timeout=2500", f"--screenshot={shot}", url).returncode == 0
            shots.append(cv2.imread(str(shot)))
            dom = _chromium("--virtual-time-budget=2500", "--dump-dom", url).stdout
            row = re.search(r"frames in / out</td><td>(\d+) / (\d+)", dom)
            assert row, dom[-500:]
            counts.append(int(row.group(2)))
            time.sleep(1.0)
    finally:
        thread.join(timeout=60)
    assert result["code"] == 0
    video = [s[70:250, 16:336].astype(int) for s in shots]  # where the page puts the picture
    assert all(v.std() > 3 for v in video)
    assert np.abs(video[0] - video[1]).mean() > 0.5  # new frames arrived
    assert counts[1] > counts[0] > 0  # the stats on the page update


def test_sigint_stops_the_server_with_the_recording_finalized(clip: Path, tmp_path: Path) -> None:
    import signal
    import sys

    from tests.common import ROOT

    port = _free_port()
    out, stats = tmp_path / "o.mp4", tmp_path / "s.json"
    proc = subprocess.Popen([sys.executable, str(ROOT / "run_stream.py"), "-i", str(clip), "-o",
                             str(out), "-o", f"http://localhost:{port}/", "--stats-json",
                             str(stats), "--set", "source.realtime=true", "-q"],
                            stderr=subprocess.PIPE, text=True)
    _get(port, "/stats.json")
    _jpegs(port, 2)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0 and "Traceback" not in err, err
    data = json.loads(stats.read_text())
    assert probe(out).frames == data["frames_out"] > 0  # finalized, playable, complete
    preview = next(v for k, v in data["outputs"].items() if k.startswith("PreviewSink"))
    assert preview["sent"] >= 2
    with pytest.raises(OSError):  # the server is gone
        urllib.request.urlopen(f"http://127.0.0.1:{port}/stats.json", timeout=2)


def _bench_latency():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "tools" / "bench_latency.py"
    spec = importlib.util.spec_from_file_location("bench_latency", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("millis", [0, 1_234_567, 16_777_215, 1_764_300_000_123])
def test_the_latency_benchmarks_clock_code_survives_jpeg_and_h264(millis: int) -> None:
    """tools/bench_latency.py reads the time back from what the clients decode: a JPEG of the
    enhanced picture (a gamma lift on top) and an H.264 frame; a damaged code is refused."""
    import av

    bench = _bench_latency()
    image = np.full((180, 640, 3), 30, np.uint8)
    bench.draw_stamp(image, millis)
    lifted = (255 * (image / 255.0) ** 0.5).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", lifted, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1]
    assert bench.decode_stamp(bench.cell_means(decoded)) == millis % (1 << 24)
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = 640, 180, "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"crf": "35", "preset": "ultrafast"}
    packets = codec.encode(av.VideoFrame.from_ndarray(image, format="rgb24")) + codec.encode(None)
    decoder = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    assert bench.decode_stamp(bench.cell_means(frames[0].to_ndarray(format="rgb24"))) == \
        millis % (1 << 24)
    damaged = bench.cell_means(decoded)
    damaged[5] = 255.0 - damaged[5]  # one bit flipped
    assert bench.decode_stamp(damaged) is None
    assert bench.age_ms(millis % (1 << 24), millis + 150) == 150
