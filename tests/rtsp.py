"""Drive a real GStreamer RTSP server on loopback from the tests.

The server (``tests/rtsp_server.py``) needs PyGObject and the GstRtspServer
typelib, which exist for the system Python only, so it runs as a subprocess
of ``/usr/bin/python3`` while the tests themselves run in the project venv::

    from tests.rtsp import RtspServer, rtsp_available

    if (reason := rtsp_available()) is not None:
        pytest.skip(reason)
    with RtspServer() as server:
        container = av.open(server.url, options={"rtsp_transport": "tcp"})
        ...
        server.restart(down_s=1.0)   # same URL, a second of outage

The ``rtsp_server`` pytest fixture in ``tests/conftest.py`` wraps this.
"""
from __future__ import annotations

import functools
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
HOST = "127.0.0.1"
DEFAULT_MOUNT = "/night"
# Must match rtsp_server.EXIT_BIND_FAILED (that module imports gi, so it
# cannot be imported from the venv).
EXIT_BIND_FAILED = 3

_DEBIAN_PACKAGES = ("gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base "
                    "gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly")

# Checks everything the server's launch line needs, not just the typelib:
# x264enc lives in plugins-ugly, which can be missing on its own.
_PROBE = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer
Gst.init(None)
missing = [e for e in ("videotestsrc", "x264enc", "rtph264pay")
           if Gst.ElementFactory.find(e) is None]
if missing:
    raise SystemExit("GStreamer elements missing: " + ", ".join(missing))
"""


@functools.lru_cache(maxsize=None)
def rtsp_available() -> str | None:
    """Return None if the RTSP test server can run here, else why not.

    The string is meant for ``pytest.skip``.  The probe starts a Python
    process, so the answer is cached for the session.
    """
    hint = f"install {_DEBIAN_PACKAGES} (make test does, via tools/install_system_deps.sh)"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} not found: {hint}"
    try:
        proc = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        return f"{SYSTEM_PYTHON} with gi and GstRtspServer not usable ({detail}): {hint}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill a server left running (a test that forgot stop(), interpreter exit)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


class RtspServer:
    """A live 320x240 H.264 stream at ``rtsp://127.0.0.1:PORT/night``.

    The stream is a shared ``videotestsrc`` -> ``x264enc`` pipeline with a
    keyframe every second, served by a ``tests/rtsp_server.py`` subprocess.
    The port stays fixed for the object's lifetime, so ``url`` survives
    ``restart()``: exactly what a camera rebooting looks like to a client.
    """

    def __init__(self, port: int | None = None, width: int = 320, height: int = 240,
                 fps: int = 30, mount: str = DEFAULT_MOUNT) -> None:
        """Describe the server; nothing runs until ``start()``.

        ``port=None`` picks a free port (and picks another if it is snatched
        before the server binds it).
        """
        self._auto_port = port is None
        self.port = free_port() if port is None else port
        self.width = width
        self.height = height
        self.fps = fps
        self.mount = mount if mount.startswith("/") else "/" + mount
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._finalizer: weakref.finalize | None = None
        self._started_once = False

    @property
    def url(self) -> str:
        """The RTSP URL clients open."""
        return f"rtsp://{HOST}:{self.port}{self.mount}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> RtspServer:
        """Launch the server and wait until it listens.

        Raises RuntimeError, with the server's stderr, if it exits or does
        not print its READY line within ``timeout`` seconds.
        """
        if self.running:
            raise RuntimeError(f"RTSP server already running at {self.url}")
        self.stop()     # reap a server that died on its own, if any
        deadline = time.monotonic() + timeout
        while True:
            status, detail = self._launch(deadline)
            if status is None:
                self._started_once = True
                return self
            # Only a port we picked ourselves may be swapped: the caller of
            # RtspServer(port=...) and anyone holding .url after a restart
            # rely on the port staying put.
            if (status == EXIT_BIND_FAILED and self._auto_port and not self._started_once
                    and time.monotonic() < deadline):
                self.port = free_port()
                continue
            raise RuntimeError(f"RTSP server on port {self.port} failed to start "
                               f"({detail}):\n{self._stderr_text()}")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after ``timeout`` s).

        Safe to call when it is not running.
        """
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def restart(self, down_s: float = 1.0, timeout: float = 10.0) -> None:
        """Stop, stay down for ``down_s`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start(timeout)

    def freeze(self, seconds: float) -> None:
        """Stop the server process (SIGSTOP) for ``seconds``, then let it go on: the TCP
        connection stays open but nothing arrives, like a camera that hangs."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            self._proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RtspServer({self.url!r}, {state})"

    def _launch(self, deadline: float) -> tuple[int | None, str]:
        """Start one server process; return (None, "") once it is READY.

        On failure the process is gone and the result is (exit status, what
        happened); the exit status is -1 when it had to be killed.
        """
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile(prefix="rtsp_server_", suffix=".log")
        cmd = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--port", str(self.port),
               "--mount", self.mount, "--width", str(self.width),
               "--height", str(self.height), "--fps", str(self.fps)]
        # stderr goes to a file, not a pipe: GStreamer may warn for as long as
        # the server runs, and a pipe nobody drains would eventually block it.
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=self._stderr)
        self._proc = proc
        self._finalizer = weakref.finalize(self, _reap, proc)
        try:
            if self._wait_ready(proc, deadline):
                return None, ""
        except BaseException:
            self.stop()
            raise
        try:
            # EOF on stdout comes a moment before the exit status does.
            status = proc.wait(0.5 if time.monotonic() < deadline else 0)
        except subprocess.TimeoutExpired:
            self.stop()
            return -1, "timed out waiting for READY"
        self.stop()
        return status, f"exit status {status}"

    def _wait_ready(self, proc: subprocess.Popen[bytes], deadline: float) -> bool:
        """Read the server's stdout until its READY line; False on exit/timeout."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = b""
        while (remaining := deadline - time.monotonic()) > 0:
            # select + os.read rather than readline(): readline would block
            # past the deadline on a server that hangs before printing.
            readable, _, _ = select.select([fd], [], [], min(remaining, 0.2))
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:       # EOF: the server exited
                return False
            buf += chunk
            if any(line.startswith(b"READY ") for line in buf.splitlines()):
                return True
        return False

    def _stderr_text(self) -> str:
        """What the last server process wrote to stderr."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()
