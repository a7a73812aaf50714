"""Shared pytest fixtures."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rtsp import RtspServer, rtsp_available


@pytest.fixture
def rtsp_server() -> Iterator[RtspServer]:
    """A started loopback RTSP server (320x240, 30 fps); skips where it cannot run.

    Function scope: tests stop and restart it, so each gets a fresh one.
    """
    reason = rtsp_available()
    if reason is not None:
        pytest.skip(reason)
    with RtspServer() as server:
        yield server
