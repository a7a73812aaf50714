"""The ``Sink`` interface every output implements, and what it is told about the stream.

Kept apart from the sinks themselves (``sinks``, ``preview``) so each of those imports only
this, and ``sinks.create_sink`` can build any of them.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..config import SinkConfig
from ..errors import SinkError
from .frame import Frame


@dataclass(frozen=True)
class StreamInfo:
    """What a sink needs to know about the frames it will get."""

    width: int
    height: int
    fps: Fraction | None
    time_base: Fraction | None
    live: bool
    copy_streams_from: str | None = None


class Sink(abc.ABC):
    """Consumes enhanced frames."""

    #: set by a sink that wants the run to stop (a display window closed)
    stop_requested: bool = False

    def __init__(self, uri: str, cfg: SinkConfig) -> None:
        self.uri = uri
        self.cfg = cfg
        self.frames_written = 0

    @abc.abstractmethod
    def open(self, info: StreamInfo) -> None:
        """Prepare for frames described by ``info``; raises ``SinkError``."""

    @abc.abstractmethod
    def write(self, frame: Frame) -> None:
        """Write one frame (its ``enhanced`` image, or input | output side by side)."""

    def close(self, complete: bool = True) -> None:
        """Flush and release; ``complete`` says the source ended normally (not stopped)."""

    def image(self, frame: Frame) -> np.ndarray:
        """The picture to write for ``frame``."""
        out = frame.enhanced if frame.enhanced is not None else frame.image
        if self.cfg.side_by_side:
            return np.hstack((frame.image, out))
        return out

    def describe(self) -> str:
        """One line for logs."""
        return f"{type(self).__name__} {self.uri}"

    def output_files(self) -> list[str]:
        """The files this sink will create or replace (checked against the inputs)."""
        return []

    def output_folder(self) -> str | None:
        """The folder this sink fills with files of its own naming, if any."""
        return None


def parse_listen(netloc: str, uri: str, default_port: int) -> tuple[str, int]:
    """``(host to bind, port)`` of a served output's ``HOST:PORT``: none or ``localhost`` is
    127.0.0.1 (nothing is published by accident), ``@`` every interface."""
    host, _, port_text = netloc.rpartition(":")
    if not _ or not port_text:
        host, port_text = netloc, str(default_port)
    try:
        port = int(port_text)
    except ValueError:
        raise SinkError(f"{uri}: bad port {port_text!r}") from None
    if not 0 < port < 65536:
        raise SinkError(f"{uri}: port {port} is outside 1..65535")
    host = host.strip("[]")
    if host in ("", "localhost"):
        host = "127.0.0.1"
    elif host == "@":
        host = "0.0.0.0"
    return host, port
