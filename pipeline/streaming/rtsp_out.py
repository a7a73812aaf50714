"""``rtsp://@:8554/PATH``: serve the enhanced stream over RTSP (H.264) to any number of clients
— VLC, ffplay, an NVR, another ``run_stream.py`` — as jetson-utils' ``videoOutput`` and
DeepStream's RTSP sink do.

The server is GStreamer's RTSP server (``gst-rtsp-server``) in a child process run with the
system Python (``rtsp_serve.py``: it needs PyGObject, which the project's venv does not have);
frames go to it as raw RGB over a pipe. ``write`` only keeps the newest frame; a thread of this
sink sends it, so a slow server (or client) drops frames and never blocks the pipeline.
``@`` or ``0.0.0.0`` as host listens on every interface (said on start); none or
``localhost`` on 127.0.0.1.
"""
from __future__ import annotations

import logging
import os
import select
import subprocess
import threading
import time
from pathlib import Path

from ..config import SinkConfig
from ..errors import SinkError
from .frame import Frame
from .sink_base import Sink, StreamInfo

log = logging.getLogger(__name__)

SYSTEM_PYTHON = os.environ.get("NOCTURNE_SYSTEM_PYTHON", "/usr/bin/python3")
SERVER = Path(__file__).with_name("rtsp_serve.py")
PACKAGES = ("python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
            "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly")
EXIT_BIND_FAILED, EXIT_MISSING = 3, 4


class RtspSink(Sink):
    """An RTSP server of the enhanced frames (see the module docstring)."""

    #: seconds the server may take to start listening
    START_TIMEOUT_S = 15.0

    def __init__(self, uri: str, host: str, port: int, mount: str, cfg: SinkConfig) -> None:
        super().__init__(uri, cfg)
        self.host, self.port = host, port
        self.mount = mount if mount.startswith("/") and len(mount) > 1 else "/live"
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._cond = threading.Condition()
        self._latest: bytes | None = None
        self._closing = False
        self._sender: threading.Thread | None = None
        self._size = (0, 0)
        #: frames replaced by a newer one before they could be sent
        self.drops = 0
        self.sent = 0
        #: clients connected now, and the most at once
        self.clients = 0
        self.clients_peak = 0
        self._watcher: threading.Thread | None = None

    def open(self, info: StreamInfo) -> None:
        if not os.access(SYSTEM_PYTHON, os.X_OK):
            raise SinkError(f"{self.uri}: the RTSP output needs {SYSTEM_PYTHON} with "
                            f"{PACKAGES} (tools/install_system_deps.sh installs them)")
        width = info.width * (2 if self.cfg.side_by_side else 1)
        self._size = (width, info.height)
        fps = max(1, round(float(info.fps))) if info.fps else 30
        args = [SYSTEM_PYTHON, str(SERVER), "--host", self.host, "--port", str(self.port),
                "--mount", self.mount, "--width", str(width), "--height", str(info.height),
                "--fps", str(fps)]
        try:
            self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE)
        except OSError as exc:
            raise SinkError(f"{self.uri}: cannot start the RTSP server: "
                            f"{exc.strerror or exc}") from None
        ready = self._wait_ready()
        if ready is None:
            self._fail_start()
        self.url = ready or ""
        self._sender = threading.Thread(target=self._send_loop, name="rtsp-out", daemon=True)
        self._sender.start()
        self._watcher = threading.Thread(target=self._watch_clients, name="rtsp-clients",
                                         daemon=True)
        self._watcher.start()
        level = logging.WARNING if self.host == "0.0.0.0" else logging.INFO
        log.log(level, "RTSP output on %s%s", self.url,
                " (listening on every interface)" if self.host == "0.0.0.0" else "")

    def _wait_ready(self) -> str | None:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.2)
            if ready:
                line = self._proc.stdout.readline().decode(errors="replace").strip()
                if line.startswith("READY "):
                    return line.split(" ", 1)[1]
                if not line and self._proc.poll() is not None:
                    return None
            elif self._proc.poll() is not None:
                return None
        return None

    def _fail_start(self) -> None:
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        err = (self._proc.stderr.read().decode(errors="replace").strip().splitlines()
               if self._proc.stderr else [])
        detail = err[-1] if err else f"exit status {self._proc.returncode}"
        code = self._proc.returncode
        self._proc = None
        if code == EXIT_BIND_FAILED:
            raise SinkError(f"cannot serve {self.uri}: port {self.port} is in use or "
                            f"privileged ({detail})")
        if code == EXIT_MISSING:
            raise SinkError(f"{self.uri}: the RTSP output needs {PACKAGES} ({detail})")
        raise SinkError(f"{self.uri}: the RTSP server did not start ({detail})")

    def _watch_clients(self) -> None:
        """Follow the server's ``CLIENTS n`` lines until it exits."""
        assert self._proc is not None and self._proc.stdout is not None
        for raw in iter(self._proc.stdout.readline, b""):
            parts = raw.decode(errors="replace").split()
            if len(parts) == 2 and parts[0] == "CLIENTS" and parts[1].isdigit():
                self.clients = int(parts[1])
                self.clients_peak = max(self.clients_peak, self.clients)

    def write(self, frame: Frame) -> None:
        image = self.image(frame)
        if (image.shape[1], image.shape[0]) != self._size:
            raise SinkError(f"{self.uri}: frame size {image.shape[1]}x{image.shape[0]} is not "
                            f"the stream's {self._size[0]}x{self._size[1]}")
        data = image.tobytes()
        with self._cond:
            if self._latest is not None:
                self.drops += 1
            self._latest = data
            self._cond.notify()
        self.frames_written += 1

    def _send_loop(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        while True:
            with self._cond:
                while self._latest is None and not self._closing:
                    self._cond.wait(0.5)
                if self._latest is None:
                    return
                data, self._latest = self._latest, None
            try:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
                self.sent += 1
            except (BrokenPipeError, OSError, ValueError):
                log.warning("%s: the RTSP server went away", self.uri)
                return

    def close(self, complete: bool = True) -> None:
        with self._cond:
            self._closing = True
            self._latest = None
            self._cond.notify()
        if self._sender is not None:
            self._sender.join(timeout=5.0)
            self._sender = None
        if self._proc is not None:
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()  # end of stream: the server quits
                self._proc.wait(timeout=5.0)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if self._watcher is not None:
            self._watcher.join(timeout=5.0)
            self._watcher = None

    def describe(self) -> str:
        return f"RtspSink {self.url or self.uri}"

    def stats(self) -> dict[str, int]:
        """Frames sent to the server, frames dropped for newer ones, clients now and at
        most."""
        return {"sent": self.sent, "drops": self.drops, "clients": self.clients,
                "clients_peak": self.clients_peak}
