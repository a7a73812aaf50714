"""The loopback RTSP test server itself, read with PyAV as the pipeline does."""
from __future__ import annotations

import socket
import time

import av
import av.error
import pytest

from tests.rtsp import HOST, RtspServer, free_port, rtsp_available

pytestmark = pytest.mark.rtsp

OPEN_OPTIONS = {"rtsp_transport": "tcp"}
TIMEOUT = (5.0, 5.0)    # (open, read) seconds, as PyAV's av.open takes them


def read_frames(url: str, n: int = 10) -> list[av.VideoFrame]:
    """Open ``url`` over RTSP/TCP and decode its first ``n`` video frames."""
    with av.open(url, options=OPEN_OPTIONS, timeout=TIMEOUT) as container:
        frames: list[av.VideoFrame] = []
        for frame in container.decode(video=0):
            frames.append(frame)
            if len(frames) >= n:
                break
    return frames


def test_reads_frames(rtsp_server: RtspServer) -> None:
    frames = read_frames(rtsp_server.url, 10)
    assert len(frames) == 10
    assert all((f.width, f.height) == (320, 240) for f in frames)
    # FFmpeg's RTSP demuxer hands out the very first packet without a pts
    # (seen with FFmpeg in PyAV 18), so only the rest must be timestamped.
    pts = [f.pts for f in frames[1:]]
    assert None not in pts
    assert all(b > a for a, b in zip(pts, pts[1:]))


def test_two_clients_at_once(rtsp_server: RtspServer) -> None:
    # The factory is shared: a second reader joins the running stream.
    with av.open(rtsp_server.url, options=OPEN_OPTIONS, timeout=TIMEOUT) as first:
        assert next(first.decode(video=0)).width == 320
        assert len(read_frames(rtsp_server.url, 10)) == 10
        assert next(first.decode(video=0)).width == 320


def test_restart_serves_again_on_same_url(rtsp_server: RtspServer) -> None:
    url = rtsp_server.url
    # A connected client at restart time leaves the port's old connections in
    # TIME_WAIT, which the new server must bind through.
    with av.open(url, options=OPEN_OPTIONS, timeout=TIMEOUT) as old:
        next(old.decode(video=0))
        start = time.monotonic()
        rtsp_server.restart(down_s=0.5)
        assert time.monotonic() - start >= 0.5
    assert rtsp_server.url == url and rtsp_server.running
    assert len(read_frames(url, 10)) == 10


def test_open_fails_fast_after_stop(rtsp_server: RtspServer) -> None:
    rtsp_server.stop()
    assert not rtsp_server.running
    start = time.monotonic()
    with pytest.raises((av.error.FFmpegError, OSError)):
        read_frames(rtsp_server.url, 1)
    assert time.monotonic() - start < TIMEOUT[0] + 1.0


def test_port_in_use_is_reported(rtsp_server: RtspServer) -> None:
    clash = RtspServer(port=rtsp_server.port)
    with pytest.raises(RuntimeError, match="cannot listen"):
        clash.start(timeout=10.0)
    assert not clash.running
    assert rtsp_server.running


def test_binds_through_time_wait() -> None:
    # What restart() relies on: a port whose last connection the server side
    # closed first sits in TIME_WAIT for a minute, and only a listener with
    # SO_REUSEADDR (GstRtspServer sets it) may bind it meanwhile.
    if (reason := rtsp_available()) is not None:
        pytest.skip(reason)
    port = free_port()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, port))
        listener.listen()
        with socket.create_connection((HOST, port)) as client:
            conn, _ = listener.accept()
            conn.close()                # active close: TIME_WAIT on `port`
            client.recv(1)              # wait for the FIN to arrive
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind((HOST, port))
    with RtspServer(port=port) as server:
        assert len(read_frames(server.url, 1)) == 1
