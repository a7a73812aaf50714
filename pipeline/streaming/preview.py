"""``http://HOST:PORT/``: a browser preview of the live enhanced stream, with live stats.

A headless box (a dashcam computer, a Jetson in a car) has no screen; this sink serves

* ``/`` — a page showing the stream (optionally input | output side by side) and the stats the
  pipeline computes (FPS per stage, latency p50/p95, drops, reconnects, the enhancer and its
  fallback switches), refreshed every second without a reload;
* ``/stream.mjpg`` (``?view=input`` or ``?view=both``) — the frames as Motion JPEG over HTTP
  (``multipart/x-mixed-replace``): every browser, VLC and most NVRs show it, with no codec on
  the client and nothing to negotiate;
* ``/stats.json`` — the same stats for scripts.

Why MJPEG and not WebRTC or LL-HLS: it needs no extra package and no encoder of its own beyond
one JPEG per frame, and its latency is one frame plus the network (WebRTC's jitter buffer and
HLS's segments add more); its cost is bandwidth, which a preview on a local network can spend.

Nothing here ever blocks the pipeline: ``write`` only keeps a reference to the newest frame.
A separate thread encodes the newest frame (only while someone watches, at most ``max_fps``),
and each client's connection has its own thread that sends the newest JPEG; a client that
stalls or disconnects loses frames (counted as ``preview_drops``), nothing else does.

The host part of the URI: ``localhost``/empty binds 127.0.0.1 (the default: a preview is not
published by accident); ``@`` or ``0.0.0.0`` binds every interface, and the start says so.
"""
from __future__ import annotations

import collections
import errno
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

import cv2
import numpy as np

from ..config import SinkConfig
from ..errors import SinkError
from .frame import Frame
from .sink_base import Sink, StreamInfo

log = logging.getLogger(__name__)

BOUNDARY = "nocturneframe"
VIEWS = ("output", "input", "both")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Nocturne preview</title>
<style>
 body { background: #111; color: #ddd; font: 14px system-ui, sans-serif; margin: 16px; }
 img { max-width: 100%; background: #000; display: block; margin-bottom: 12px; }
 table { border-collapse: collapse; } td { padding: 2px 12px 2px 0; }
 td:first-child { color: #999; }
</style></head>
<body>
<h3>Nocturne — live preview</h3>
<label><input type="checkbox" id="both"> input | output</label>
<img id="video" src="/stream.mjpg" alt="live stream">
<table id="stats"><tr><td>stats</td><td>waiting…</td></tr></table>
<script>
const rows = [
  ["enhancer", s => s.enhancer + (s.enhancer_stats && s.enhancer_stats.active ?
                                  " (" + s.enhancer_stats.active + ")" : "")],
  ["frames in / out", s => s.frames_in + " / " + s.frames_out],
  ["capture fps", s => s.stages.capture.fps.toFixed(1)],
  ["enhance fps", s => s.stages.enhance.fps.toFixed(1)],
  ["write fps", s => s.stages.write.fps.toFixed(1)],
  ["latency p50 / p95 ms", s => s.latency.latency_ms_p50 + " / " + s.latency.latency_ms_p95],
  ["dropped / skipped", s => s.dropped + " / " + s.skipped],
  ["reconnects (downtime s)", s => s.reconnects + " (" + s.reconnect_downtime_s + ")"],
  ["fallback switches", s => (s.enhancer_stats && s.enhancer_stats.switches) || 0],
  ["preview clients / drops", s => s.preview.clients + " / " + s.preview.drops],
  ["capture to preview p50 ms", s => s.preview.latency_ms_p50],
];
async function refresh() {
  try {
    const s = await (await fetch("/stats.json", {cache: "no-store"})).json();
    document.getElementById("stats").innerHTML = rows.map(
      ([k, f]) => { let v; try { v = f(s); } catch (e) { v = "-"; }
                    return "<tr><td>" + k + "</td><td>" + v + "</td></tr>"; }).join("");
  } catch (e) { /* the run may have ended */ }
}
setInterval(refresh, 1000); refresh();
document.getElementById("both").onchange = e =>
  document.getElementById("video").src = "/stream.mjpg?view=" + (e.target.checked ? "both" : "output");
</script>
</body></html>
"""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class PreviewSink(Sink):
    """The browser preview (see the module docstring)."""

    #: the longest a client connection waits for a frame before checking whether to end
    POLL_S = 0.5

    def __init__(self, uri: str, host: str, port: int, path: str, cfg: SinkConfig,
                 max_fps: float = 15.0, quality: int = 80) -> None:
        super().__init__(uri, cfg)
        self.host, self.port, self.path = host, port, path.rstrip("/")
        self.max_fps = max_fps
        self.quality = quality
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._latest_seq = 0
        self._jpeg: dict[str, tuple[int, bytes]] = {}  # view -> (frame seq, JPEG)
        self._captured: dict[int, float] = {}  # frame seq -> its capture time
        self._latency: collections.deque[float] = collections.deque(maxlen=200)
        self._wanted: dict[str, int] = {}  # view -> clients watching it
        self._closing = False
        self._connections: set[socket.socket] = set()
        self._stats: Callable[[], dict[str, Any]] = dict
        #: frames a client did not get because it was slower than the stream, and JPEGs sent
        self.drops = 0
        self.sent = 0
        self.clients = 0

    # -- Sink -------------------------------------------------------------------------------
    def bind_stats(self, provider: Callable[[], dict[str, Any]]) -> None:
        """Where ``/stats.json`` and the page read the pipeline's live stats from."""
        self._stats = provider

    def open(self, info: StreamInfo) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("preview: " + format, *args)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                sink._serve(self)

        try:
            self._server = _Server((self.host, self.port), Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SinkError(f"cannot serve {self.uri}: port {self.port} is already in use "
                                "(another run or program); pick another port") from None
            if exc.errno == errno.EACCES:
                raise SinkError(f"cannot serve {self.uri}: port {self.port} is privileged "
                                "(below 1024 needs root); use a port such as 8080") from None
            raise SinkError(f"cannot serve {self.uri}: {exc.strerror or exc}") from None
        self.port = self._server.server_address[1]  # port 0: the one the system chose
        for target, name in ((self._server.serve_forever, "preview-http"),
                             (self._encode_loop, "preview-jpeg")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        where = ("every interface" if self.host == "0.0.0.0" else self.host)
        level = logging.WARNING if self.host == "0.0.0.0" else logging.INFO
        log.log(level, "preview on http://%s:%d%s/ (listening on %s)",
                "localhost" if self.host == "127.0.0.1" else self.host, self.port,
                self.path, where)

    def write(self, frame: Frame) -> None:
        with self._cond:
            self._latest = frame
            self._latest_seq += 1
            self._cond.notify_all()
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            stuck = list(self._connections)
        for connection in stuck:  # a client that stopped reading must not hold a thread
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError as exc:  # already gone: nothing left to unblock
                log.debug("preview client already closed: %s", exc)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads.clear()

    def describe(self) -> str:
        return f"PreviewSink http://{self.host}:{self.port}{self.path}/"

    def stats(self) -> dict[str, Any]:
        """Clients now, frames they missed, JPEGs sent, and the time from a frame's capture to
        its JPEG handed to a client's socket (p50/p95, ms, over the last 200 sent)."""
        lat = sorted(self._latency)
        pick = (lambda q: round(1000 * lat[min(len(lat) - 1, int(q * len(lat)))], 1)
                if lat else None)
        return {"clients": self.clients, "drops": self.drops, "sent": self.sent,
                "latency_ms_p50": pick(0.5), "latency_ms_p95": pick(0.95)}

    # -- encoding ------------------------------------------------------------------------------
    def _encode_loop(self) -> None:
        """Encode the newest frame for each watched view, at most ``max_fps`` times a second."""
        done = 0
        while True:
            with self._cond:
                while not self._closing and (self._latest_seq == done or not self._wanted):
                    self._cond.wait(self.POLL_S)
                if self._closing:
                    return
                frame, seq = self._latest, self._latest_seq
                views = [v for v, n in self._wanted.items() if n > 0]
                assert frame is not None
                self._captured = {seq: frame.capture_time}
            started = time.monotonic()
            encoded = {}
            for view in views:
                assert frame is not None
                ok, data = cv2.imencode(".jpg", cv2.cvtColor(self._picture(frame, view),
                                                             cv2.COLOR_RGB2BGR),
                                        [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if ok:
                    encoded[view] = (seq, data.tobytes())
            with self._cond:
                self._jpeg.update(encoded)
                self._cond.notify_all()
            done = seq
            rest = 1.0 / self.max_fps - (time.monotonic() - started)
            if rest > 0:
                time.sleep(rest)

    @staticmethod
    def _picture(frame: Frame, view: str) -> np.ndarray:
        out = frame.enhanced if frame.enhanced is not None else frame.image
        if view == "input":
            return frame.image
        if view == "both":
            return np.hstack((frame.image, out))
        return out

    # -- serving -------------------------------------------------------------------------------
    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        url = urlparse(request.path)
        route = url.path[len(self.path):] if url.path.startswith(self.path) else None
        if route in ("", "/", "/index.html"):
            self._send(request, 200, "text/html; charset=utf-8", PAGE.encode())
        elif route == "/stats.json":
            data = dict(self._stats())
            data["preview"] = self.stats()
            self._send(request, 200, "application/json",
                       json.dumps(data, default=str).encode())
        elif route == "/stream.mjpg":
            view = parse_qs(url.query).get("view", ["output"])[0]
            if view not in VIEWS:
                self._send(request, 400, "text/plain", f"view must be one of {VIEWS}".encode())
            else:
                self._stream(request, view)
        else:
            self._send(request, 404, "text/plain", b"not found")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, code: int, kind: str, body: bytes) -> None:
        request.send_response(code)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(body)))
        request.send_header("Cache-Control", "no-store")
        request.end_headers()
        request.wfile.write(body)

    def _stream(self, request: BaseHTTPRequestHandler, view: str) -> None:
        request.send_response(200)
        request.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        request.send_header("Cache-Control", "no-store")
        request.send_header("Connection", "close")
        request.end_headers()
        with self._cond:
            self._wanted[view] = self._wanted.get(view, 0) + 1
            self.clients += 1
            self._connections.add(request.connection)
            self._cond.notify_all()
        last = 0
        try:
            while True:
                with self._cond:
                    while not self._closing and self._jpeg.get(view, (0, b""))[0] <= last:
                        self._cond.wait(self.POLL_S)
                    if self._closing:
                        return
                    seq, jpeg = self._jpeg[view]
                if last and seq > last + 1:
                    self.drops += seq - last - 1  # frames this client was too slow for
                last = seq
                request.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    f"{len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                request.wfile.flush()
                self.sent += 1
                captured = self._captured.get(seq)
                if captured is not None:  # capture to the last byte handed to the socket
                    self._latency.append(time.monotonic() - captured)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            return  # the client went away
        finally:
            with self._cond:
                self._wanted[view] -= 1
                self.clients -= 1
                self._connections.discard(request.connection)
