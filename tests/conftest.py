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


@pytest.fixture(autouse=True, scope="session")
def _engines_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Exported graphs and engines go to a temporary folder, not the checkout's ``engines/``."""
    import os

    old = os.environ.get("NOCTURNE_ENGINES")
    os.environ["NOCTURNE_ENGINES"] = str(tmp_path_factory.mktemp("engines"))
    yield
    if old is None:
        os.environ.pop("NOCTURNE_ENGINES", None)
    else:
        os.environ["NOCTURNE_ENGINES"] = old
