#!/usr/bin/env python3
"""Glass-to-glass latency of the live outputs, measured with real clients.

A "clock camera" draws the wall-clock time (milliseconds, as a block code with a checksum) into
each frame and serves it over RTSP (H.264, the same server as ``rtsp://@`` outputs) at the
camera's frame rate. ``run_stream.py`` reads it live, enhances it and serves both live outputs:

* the browser preview ``http://127.0.0.1:P/``, opened in headless Chromium; through the
  DevTools protocol the page's own picture is drawn into a canvas and read back, every
  ``--interval`` seconds: latency = the browser's clock then − the time drawn in the frame;
* the RTSP output ``rtsp://127.0.0.1:P/out``, read by a PyAV client over TCP as an NVR would:
  latency = the time a frame is decoded − its drawn time.

So each figure covers the camera-side encode, RTSP, decode, enhancement, the output's encode,
transport and the client's decode (and, for the browser, the time until the page is sampled:
on average half a frame interval on top). It leaves out the sensor's exposure and the screen's
scan-out. The clocks are the same machine's. Printed side by side with ``passthrough`` (the same
pipeline without enhancement) and the pipeline's own capture → preview figure.

    python tools/bench_latency.py --enhancers passthrough "onnxruntime,model=lowres_guided"
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: side of one code block, pixels; blocks are drawn from the top-left corner
BLOCK = 32
#: the code: a black and a white reference block, then 24 bits of time and 8 of checksum,
#: 18 blocks to a row
COLUMNS = 18
BITS = 32
DARK, BRIGHT, BACKGROUND = 16, 235, 24


def stamp_cells() -> list[tuple[int, int]]:
    """(row, column) of each code block: the two references, then the 32 bits."""
    return [(i // COLUMNS, i % COLUMNS) for i in range(2 + BITS)]


def draw_stamp(image: np.ndarray, millis: int) -> None:
    """Draw ``millis`` (mod 2**24) and its checksum into ``image``'s top-left corner."""
    value = millis % (1 << 24)
    check = (value ^ (value >> 8) ^ (value >> 16) ^ 0x5A) & 0xFF
    bits = [(value >> k) & 1 for k in range(24)] + [(check >> k) & 1 for k in range(8)]
    for (row, col), level in zip(stamp_cells(), [0, 1, *bits]):
        image[row * BLOCK:(row + 1) * BLOCK, col * BLOCK:(col + 1) * BLOCK] = \
            BRIGHT if level else DARK


def cell_means(image: np.ndarray) -> list[float]:
    """Mean grey of the middle half of every code block of an RGB ``image``."""
    q = BLOCK // 4
    return [float(image[r * BLOCK + q:(r + 1) * BLOCK - q,
                        c * BLOCK + q:(c + 1) * BLOCK - q].mean())
            for r, c in stamp_cells()]


def decode_stamp(cells: list[float]) -> int | None:
    """The 24-bit time a frame carries, or ``None`` when the checksum fails."""
    dark, bright = cells[0], cells[1]
    if bright - dark < 20:
        return None
    threshold = (dark + bright) / 2
    bits = [1 if v > threshold else 0 for v in cells[2:]]
    value = sum(b << k for k, b in enumerate(bits[:24]))
    check = sum(b << k for k, b in enumerate(bits[24:]))
    if check != (value ^ (value >> 8) ^ (value >> 16) ^ 0x5A) & 0xFF:
        return None
    return value


def age_ms(stamp: int, now_ms: float) -> float:
    """Milliseconds from a drawn stamp to ``now_ms`` (wall clock), modulo the code's range."""
    return float((int(now_ms) - stamp) % (1 << 24))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ClockCamera:
    """An RTSP server of frames stamped with the time they are made (see the module)."""

    def __init__(self, width: int, height: int, fps: int) -> None:
        from pipeline.config import SinkConfig
        from pipeline.streaming.rtsp_out import RtspSink
        from pipeline.streaming.sink_base import StreamInfo

        self.port = free_port()
        self.sink = RtspSink(f"rtsp://127.0.0.1:{self.port}/cam", "127.0.0.1", self.port,
                             "/cam", SinkConfig())
        self.sink.open(StreamInfo(width, height, Fraction(fps), None, live=True))
        self.url = self.sink.url
        self.size, self.fps = (width, height), fps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from pipeline.streaming.frame import Frame

        width, height = self.size
        # a dark scene with a gradient, so the enhancers have something to lift
        base = np.zeros((height, width, 3), np.uint8)
        base[:] = np.linspace(BACKGROUND, 3 * BACKGROUND, width, dtype=np.uint8)[None, :, None]
        start, index = time.monotonic(), 0
        while not self._stop.is_set():
            image = base.copy()
            draw_stamp(image, int(time.time() * 1000))
            self.sink.write(Frame(image, index, None, None, time.monotonic()))
            index += 1
            delay = start + index / self.fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sink.close()


class Chromium:
    """Headless Chromium driven through the DevTools protocol over a pipe
    (``--remote-debugging-pipe``: NUL-separated JSON on its fds 3 and 4)."""

    def __init__(self, binary: str, url: str) -> None:
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--window-size=1400,900", "about:blank"]
        # the shell moves our pipes to the fds Chromium reads and writes
        self.proc = subprocess.Popen(
            ["sh", "-c", 'exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null', *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._id = 0
        self._buffer = b""
        target = self.call("Target.createTarget", {"url": url})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]

    def call(self, method: str, params: dict, session: str | None = None) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._id += 1
        message: dict = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.proc.stdin.write(json.dumps(message).encode() + b"\0")
        self.proc.stdin.flush()
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError("Chromium closed its DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True}, self.session)
        return result.get("result", {}).get("value")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


#: the page's picture drawn into a canvas; the code blocks' means and the browser's clock
READ_PAGE = """(() => {
  const img = document.getElementById("video");
  if (!img || !img.complete || !img.naturalWidth) return null;
  const now = Date.now();
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext("2d"); g.drawImage(img, 0, 0);
  const B = %d, q = B / 4, cells = [];
  for (let i = 0; i < %d; i++) {
    const r = Math.floor(i / %d), col = i %% %d;
    const d = g.getImageData(col * B + q, r * B + q, B / 2, B / 2).data;
    let s = 0;
    for (let k = 0; k < d.length; k += 4) s += d[k] + d[k + 1] + d[k + 2];
    cells.push(s / (d.length / 4 * 3));
  }
  return {now: now, cells: cells};
})()""" % (BLOCK, 2 + BITS, COLUMNS, COLUMNS)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def browser_latency(binary: str, url: str, seconds: float, interval: float) -> list[float]:
    browser = Chromium(binary, url)
    try:
        ages: list[float] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sample = browser.evaluate(READ_PAGE)
            if isinstance(sample, dict):
                stamp = decode_stamp(sample["cells"])
                if stamp is not None:
                    ages.append(age_ms(stamp, sample["now"]))
            time.sleep(interval)
        return ages
    finally:
        browser.close()


def rtsp_latency(url: str, seconds: float, ages: list[float]) -> None:
    import av

    with av.open(url, options={"rtsp_transport": "tcp", "fflags": "nobuffer"},
                 timeout=(10.0, 5.0)) as container:
        end = time.monotonic() + seconds
        for frame in container.decode(video=0):
            now = time.time() * 1000
            stamp = decode_stamp(cell_means(frame.to_ndarray(format="rgb24")))
            if stamp is not None:
                ages.append(age_ms(stamp, now))
            if time.monotonic() > end:
                break


def wait_for(url: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(urllib.request.urlopen(url, timeout=2).read())
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {timeout:.0f} s") from None
            time.sleep(0.2)


def measure(spec: str, camera: ClockCamera, browser: str, seconds: float,
            interval: float) -> dict[str, float]:
    from pipeline.training.evaluate import parse_enhancer_spec

    _, name, params = parse_enhancer_spec(spec)
    http_port, rtsp_port = free_port(), free_port()
    enhancer = json.dumps({"type": name, **params})
    cmd = [sys.executable, str(ROOT / "run_stream.py"), "-i", camera.url,
           "-o", f"http://127.0.0.1:{http_port}/", "-o", f"rtsp://127.0.0.1:{rtsp_port}/out",
           "-q", "--set", f"enhancer={enhancer}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(f"http://127.0.0.1:{http_port}/stats.json", 60)
        time.sleep(2.0)  # past the start: the enhancer warmed up, the queues settled
        rtsp_ages: list[float] = []
        reader = threading.Thread(target=rtsp_latency, daemon=True,
                                  args=(f"rtsp://127.0.0.1:{rtsp_port}/out", seconds, rtsp_ages))
        reader.start()
        page_ages = browser_latency(browser, f"http://127.0.0.1:{http_port}/", seconds,
                                    interval)
        reader.join(timeout=seconds + 30)
        stats = wait_for(f"http://127.0.0.1:{http_port}/stats.json", 5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    preview = stats.get("preview", {})
    return {
        "browser_p50": percentile(page_ages, 50), "browser_p95": percentile(page_ages, 95),
        "browser_n": len(page_ages),
        "rtsp_p50": percentile(rtsp_ages, 50), "rtsp_p95": percentile(rtsp_ages, 95),
        "rtsp_n": len(rtsp_ages),
        "capture_to_preview_p50": float(preview.get("latency_ms_p50") or float("nan")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enhancers", nargs="*", default=["passthrough"],
                        help="enhancer specs NAME[,key=value...]; passthrough always runs first")
    parser.add_argument("--size", default="640x360", help="camera frame size WxH")
    parser.add_argument("--fps", type=int, default=30, help="camera frame rate")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds measured per run")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="seconds between samples of the page")
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("error: headless Chromium is needed (tools/install_system_deps.sh installs it)",
              file=sys.stderr)
        return 1
    from pipeline.media import parse_size

    try:
        width, height = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    specs = ["passthrough", *[s for s in args.enhancers if s != "passthrough"]]
    camera = ClockCamera(width, height, args.fps)
    rows = []
    try:
        for spec in specs:
            rows.append((spec, measure(spec, camera, browser, args.seconds, args.interval)))
    finally:
        camera.close()
    base = rows[0][1]
    print(f"camera {width}x{height} @ {args.fps} fps, {args.seconds:.0f} s per run; "
          f"latency in ms (p50 / p95), ratio of p50 to passthrough's")
    print(f"{'enhancer':40s} {'browser':>15s} {'x':>5s} {'RTSP client':>15s} {'x':>5s} "
          f"{'capture->preview':>17s}")
    for spec, r in rows:
        print(f"{spec:40s} {r['browser_p50']:7.0f} / {r['browser_p95']:5.0f} "
              f"{r['browser_p50'] / base['browser_p50']:5.2f} "
              f"{r['rtsp_p50']:7.0f} / {r['rtsp_p95']:5.0f} "
              f"{r['rtsp_p50'] / base['rtsp_p50']:5.2f} {r['capture_to_preview_p50']:17.0f}"
              f"   (n={r['browser_n']}/{r['rtsp_n']})")
    return 0


if __name__ == "__main__":
    from pipeline.errors import run_tool

    sys.exit(run_tool("bench_latency.py", main))
