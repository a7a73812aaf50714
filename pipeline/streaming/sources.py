"""Frame sources selected by URI, in the spirit of jetson-utils' ``videoSource``.

URI forms:

* ``path/to/clip.mp4`` or ``file:///abs/clip.mkv`` — any container PyAV reads (offline: the
  pipeline never drops a frame of it);
* ``path/to/folder`` or ``'frames/*.png'`` — an image folder or glob, read in natural order;
* ``rtsp://host:port/path`` — RTSP over TCP (or UDP), with open/read timeouts and automatic
  reconnection with exponential back-off;
* ``v4l2:///dev/video0`` or ``0`` — a camera through OpenCV;
* ``csi://0`` — a Jetson CSI camera through a GStreamer pipeline (needs OpenCV with GStreamer).

``Source.read()`` returns the next ``Frame``, ``None`` at end of stream, and raises
``SourceTimeout`` when a live source produced nothing within its read timeout but may still
recover — so callers can tell a stall from the end.
"""
from __future__ import annotations

import abc
import glob as globlib
import logging
import os
import re
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

import av
import cv2
import numpy as np

from ..config import SourceConfig
from ..errors import SourceError
from ..media import IMAGE_EXTENSIONS
from .frame import Frame, rgb_from_video_frame

log = logging.getLogger(__name__)

SCHEMES = ("file", "rtsp", "rtsps", "v4l2", "csi")


class SourceTimeout(SourceError):
    """No frame arrived within the read timeout; the source may still recover."""


class Source(abc.ABC):
    """A stream of ``Frame`` objects. Open with ``open()``, read until ``None``, ``close()``."""

    #: live sources (RTSP, cameras) drop their oldest frame when the pipeline falls behind
    live: bool = False

    def __init__(self, uri: str, cfg: SourceConfig) -> None:
        self.uri = uri
        self.cfg = cfg
        self.width = 0
        self.height = 0
        #: nominal frame rate, if known
        self.fps: Fraction | None = None
        #: time base of the frames' ``pts``
        self.time_base: Fraction | None = None
        #: number of frames, when the container says (offline progress bars)
        self.frame_count: int | None = None
        #: a file whose non-video streams a file sink may copy (audio, subtitles, data)
        self.copy_streams_from: str | None = None
        #: set when the input ended before its container said it would (truncated/corrupt)
        self.truncated = False
        self.reconnects = 0
        self.reconnect_downtime_s = 0.0
        self._index = 0
        self._stop = threading.Event()

    @abc.abstractmethod
    def open(self) -> None:
        """Open the source and learn its frame size; raises ``SourceError``."""

    @abc.abstractmethod
    def read(self) -> Frame | None:
        """Next frame, ``None`` at end of stream; may raise ``SourceTimeout``."""

    def close(self) -> None:
        """Release the device, connection or file; safe to call twice."""

    def request_stop(self) -> None:
        """Interrupt waits (reconnect back-off, real-time pacing) so the capture thread ends."""
        self._stop.set()

    def _frame(self, image: np.ndarray, pts: int | None, time_base: Fraction | None) -> Frame:
        frame = Frame(image=image, index=self._index, pts=pts, time_base=time_base,
                      capture_time=time.monotonic())
        self._index += 1
        return frame

    def describe(self) -> str:
        """One line for logs."""
        rate = f" @ {float(self.fps):.3g} fps" if self.fps else ""
        kind = "live" if self.live else "offline"
        return f"{type(self).__name__} {self.uri} {self.width}x{self.height}{rate} ({kind})"

    def __enter__(self) -> "Source":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _av_error_text(exc: BaseException) -> str:
    """A short reason from a PyAV/OS error (no file name repeated, no errno prefix)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text).split(": '")[0]


class _PyAVMixin:
    """Decoding of a PyAV container's first video stream, shared by file and RTSP sources."""

    container: av.container.InputContainer | None
    stream: av.video.stream.VideoStream | None

    def _packets_to_frames(self) -> Iterator[av.VideoFrame]:
        """Decoded frames; a packet that fails to decode is skipped, a demux error ends."""
        assert self.container is not None and self.stream is not None
        for packet in self.container.demux(self.stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError as exc:
                # one damaged packet (lost RTP data, a bad block in a file) should not end a
                # drive; the decoder resynchronizes at the next keyframe
                log.debug("skipping undecodable packet: %s", exc)
                continue
            yield from frames


class FileSource(_PyAVMixin, Source):
    """A video file read through PyAV; with ``realtime`` paced at its own frame rate."""

    def __init__(self, uri: str, path: str, cfg: SourceConfig) -> None:
        super().__init__(uri, cfg)
        self.path = path
        self.live = bool(cfg.realtime) if cfg.live is None else cfg.live
        self.container = None
        self.stream = None
        self._frames: Iterator[av.VideoFrame] | None = None
        self._t0: float | None = None
        self._pts0: float | None = None

    def open(self) -> None:
        if not os.path.exists(self.path):
            raise SourceError(f"source not found: {self.path}")
        if os.path.isdir(self.path):
            raise SourceError(f"source is a folder with no images: {self.path}")
        try:
            self.container = av.open(self.path, metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(
                f"cannot read {self.path} as video: {_av_error_text(exc)} "
                "(not a video file, or truncated before its header)"
            ) from None
        if not self.container.streams.video:
            self.close()
            raise SourceError(f"{self.path} has no video stream")
        self.stream = self.container.streams.video[0]
        # frame threads give the decoder both cores on a file; latency does not matter here
        self.stream.thread_type = "AUTO"
        ctx = self.stream.codec_context
        self.width, self.height = ctx.width, ctx.height
        if not self.width or not self.height:
            self.close()
            raise SourceError(f"{self.path}: video stream has no frame size (corrupt header?)")
        self.time_base = self.stream.time_base
        self.fps = self.stream.average_rate or self.stream.guessed_rate
        self.frame_count = self.stream.frames or None
        if self.frame_count is None and self.stream.duration and self.fps and self.time_base:
            self.frame_count = int(round(float(self.stream.duration * self.time_base * self.fps)))
        self.copy_streams_from = self.path
        self._frames = self._packets_to_frames()

    def read(self) -> Frame | None:
        if self._frames is None:
            raise SourceError("source is not open")
        try:
            vf = next(self._frames)
        except StopIteration:
            self._check_complete()
            return None
        except (av.error.FFmpegError, OSError) as exc:
            self.truncated = True
            log.warning("%s: input ends early after %d frames: %s", self.path, self._index,
                        _av_error_text(exc))
            return None
        image = rgb_from_video_frame(vf)
        frame = self._frame(image, vf.pts, vf.time_base or self.time_base)
        if self.cfg.realtime:
            self._pace(frame)
        return frame

    def _check_complete(self) -> None:
        """Flag a file that ended before the frame count its index promised."""
        expected = self.stream.frames if self.stream is not None else 0
        if expected and self._index < expected:
            self.truncated = True
            log.warning("%s: input ends early: %d of %d frames decoded (truncated file?)",
                        self.path, self._index, expected)

    def _pace(self, frame: Frame) -> None:
        """Sleep until the frame's time comes, like ``ffmpeg -re``."""
        t = frame.time
        if t is None:
            return
        now = time.monotonic()
        if self._t0 is None or self._pts0 is None:
            self._t0, self._pts0 = now, t
            return
        delay = (t - self._pts0) - (now - self._t0)
        if delay > 0:
            self._stop.wait(delay)
        frame.capture_time = time.monotonic()

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def _natural_key(path: str) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path)]


class ImageFolderSource(Source):
    """Images from a folder or a glob, in natural order (``frame2`` before ``frame10``)."""

    def __init__(self, uri: str, pattern: str, cfg: SourceConfig) -> None:
        super().__init__(uri, cfg)
        self.pattern = pattern
        self.live = bool(cfg.live)
        self.paths: list[str] = []

    def open(self) -> None:
        if os.path.isdir(self.pattern):
            names = [os.path.join(self.pattern, n) for n in os.listdir(self.pattern)]
        else:
            names = globlib.glob(self.pattern)
        self.paths = sorted((p for p in names if p.lower().endswith(IMAGE_EXTENSIONS)
                             and os.path.isfile(p)), key=_natural_key)
        if not self.paths:
            raise SourceError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {self.pattern}")
        first = self._load(self.paths[0])
        self.height, self.width = first.shape[:2]
        self.fps = Fraction(self.cfg.fps).limit_denominator(1001)
        self.time_base = 1 / self.fps
        self.frame_count = len(self.paths)

    def _load(self, path: str) -> np.ndarray:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"cannot read image {path}")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def read(self) -> Frame | None:
        if self._index >= len(self.paths):
            return None
        image = self._load(self.paths[self._index])
        if image.shape[:2] != (self.height, self.width):
            # a video needs one frame size; follow the first image, as FFmpeg's image2 does
            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
        return self._frame(image, self._index, self.time_base)


class RtspSource(_PyAVMixin, Source):
    """An RTSP stream through PyAV/FFmpeg that reconnects by itself.

    A lost stream (read timeout, server gone, end of stream) is reopened with exponential
    back-off from ``backoff_initial_s`` to ``backoff_max_s``; each reconnect and the time lost
    are counted (``reconnects``, ``reconnect_downtime_s``) and logged. Only the first open
    fails hard, so a wrong URL is reported at once.
    """

    live = True

    def __init__(self, uri: str, cfg: SourceConfig) -> None:
        super().__init__(uri, cfg)
        self.live = True if cfg.live is None else cfg.live
        self.container = None
        self.stream = None
        self._frames: Iterator[av.VideoFrame] | None = None
        self._pending: av.VideoFrame | None = None

    def _connect(self) -> None:
        r = self.cfg.rtsp
        options = {
            "rtsp_transport": r.transport,
            # FFmpeg's socket timeout, in microseconds, covers a server that stops sending
            "timeout": str(int(r.read_timeout_s * 1e6)),
            # low latency: do not buffer frames for reordering, and do not spend FFmpeg's
            # default 5 s budget probing the stream on every (re)connect: H.264 over RTP
            # announces itself in the SDP, so 0.2 s of probing is plenty
            "fflags": "nobuffer",
            "analyzeduration": "200000",
        }
        try:
            container = av.open(self.uri, options=options,
                                timeout=(r.open_timeout_s, r.read_timeout_s))
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"cannot open {self.uri}: {_av_error_text(exc)}") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.uri} has no video stream")
        self.container = container
        self.stream = container.streams.video[0]
        self.stream.thread_type = "SLICE"  # frame threads would add a frame of latency each
        self.time_base = self.stream.time_base
        self._frames = self._packets_to_frames()

    def open(self) -> None:
        self._connect()
        assert self.stream is not None
        first = self._next_decoded()
        if first is None:
            self.close()
            raise SourceError(f"{self.uri}: no video frame within "
                              f"{self.cfg.rtsp.read_timeout_s:g} s")
        self.width, self.height = first.width, first.height
        self.fps = self.stream.average_rate or self.stream.guessed_rate
        self._pending: av.VideoFrame | None = first

    def _next_decoded(self) -> av.VideoFrame | None:
        """Next frame of the current connection, None when it ended or failed."""
        if self._frames is None:
            return None
        try:
            return next(self._frames)
        except StopIteration:
            log.warning("%s: stream ended", self.uri)
        except (av.error.FFmpegError, OSError) as exc:
            log.warning("%s: stream lost: %s", self.uri, _av_error_text(exc))
        return None

    def _drop_connection(self) -> None:
        self._frames = None
        if self.container is not None:
            try:
                self.container.close()
            except (av.error.FFmpegError, OSError):
                pass
            self.container = None

    def _reconnect(self) -> bool:
        """Reopen with back-off; False when stopped or out of attempts."""
        r = self.cfg.rtsp
        self._drop_connection()
        if not r.reconnect:
            return False
        lost_at = time.monotonic()
        delay = r.backoff_initial_s
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            try:
                self._connect()
            except SourceError as exc:
                if r.max_reconnect_attempts is not None and attempt >= r.max_reconnect_attempts:
                    log.error("%s: giving up after %d reconnect attempts", self.uri, attempt)
                    return False
                log.info("%s: reconnect attempt %d failed (%s); retrying in %.1f s",
                         self.uri, attempt, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, r.backoff_max_s)
                continue
            lost = time.monotonic() - lost_at
            self.reconnects += 1
            self.reconnect_downtime_s += lost
            log.warning("%s: reconnected (reconnect #%d, %.2f s lost, %.2f s in all)",
                        self.uri, self.reconnects, lost, self.reconnect_downtime_s)
            return True
        return False

    def read(self) -> Frame | None:
        while not self._stop.is_set():
            vf = self._pending or self._next_decoded()
            self._pending = None
            if vf is None:
                if not self._reconnect():
                    return None
                continue
            image = rgb_from_video_frame(vf)
            if image.shape[:2] != (self.height, self.width):
                # the camera behind the server changed resolution on reconnect; the
                # sink's frame size is fixed, so follow the first size
                image = cv2.resize(image, (self.width, self.height),
                                   interpolation=cv2.INTER_AREA)
            return self._frame(image, vf.pts, vf.time_base or self.time_base)
        return None

    def close(self) -> None:
        self._drop_connection()


def _has_gstreamer() -> bool:
    info = cv2.getBuildInformation()
    match = re.search(r"GStreamer:\s*(\S+)", info)
    return bool(match and match.group(1).upper().startswith("YES"))


class CameraSource(Source):
    """A USB/V4L2 camera (``v4l2:///dev/videoN`` or an index) or a Jetson CSI camera."""

    live = True
    #: consecutive failed reads after which the camera counts as gone
    MAX_FAILED_READS = 30

    def __init__(self, uri: str, device: int | str, cfg: SourceConfig, csi: bool = False) -> None:
        super().__init__(uri, cfg)
        self.live = True if cfg.live is None else cfg.live
        self.device = device
        self.csi = csi
        self.cap: cv2.VideoCapture | None = None
        self._failed = 0

    def _csi_pipeline(self) -> str:
        c = self.cfg.camera
        w, h, fps = c.width or 1280, c.height or 720, int(c.fps or 30)
        return (
            f"nvarguscamerasrc sensor-id={self.device} ! "
            f"video/x-raw(memory:NVMM),width={w},height={h},framerate={fps}/1 ! "
            "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
            "appsink drop=true max-buffers=1 sync=false"
        )

    def open(self) -> None:
        if self.csi:
            if not _has_gstreamer():
                raise SourceError(
                    f"{self.uri}: CSI cameras need OpenCV built with GStreamer (Jetson's "
                    "python3-opencv); this OpenCV has no GStreamer support"
                )
            self.cap = cv2.VideoCapture(self._csi_pipeline(), cv2.CAP_GSTREAMER)
        else:
            if isinstance(self.device, str) and not os.path.exists(self.device):
                raise SourceError(f"camera not found: {self.device}")
            backend = cv2.CAP_V4L2 if os.name == "posix" else cv2.CAP_ANY
            self.cap = cv2.VideoCapture(self.device, backend)
        if not self.cap.isOpened():
            self.close()
            raise SourceError(f"cannot open camera {self.uri}")
        c = self.cfg.camera
        if not self.csi:
            if c.width:
                self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.width)
            if c.height:
                self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.height)
            if c.fps:
                self.cap.set(cv2.CAP_PROP_FPS, c.fps)
            # one buffered frame: a stale frame is latency
            self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        ok, image = self.cap.read()
        if not ok or image is None:
            self.close()
            raise SourceError(f"camera {self.uri} opened but gave no frame")
        self.height, self.width = image.shape[:2]
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = Fraction(fps).limit_denominator(1001) if fps and fps > 0 else None
        self.time_base = Fraction(1, 1000)
        self._first: np.ndarray | None = image

    def read(self) -> Frame | None:
        if self.cap is None:
            raise SourceError("source is not open")
        if self._first is not None:
            image, self._first = self._first, None
        else:
            ok, image = self.cap.read()
            if not ok or image is None:
                self._failed += 1
                if self._failed >= self.MAX_FAILED_READS:
                    log.error("%s: %d reads failed in a row; camera gone", self.uri, self._failed)
                    return None
                raise SourceTimeout(f"{self.uri}: no frame")
        self._failed = 0
        msec = self.cap.get(cv2.CAP_PROP_POS_MSEC)
        pts = int(msec) if msec and msec > 0 else None
        return self._frame(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), pts, self.time_base)

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


def create_source(uri: str, cfg: SourceConfig) -> Source:
    """The ``Source`` for ``uri`` (not opened yet); raises ``SourceError`` for a bad URI."""
    uri = uri.strip()
    if not uri:
        raise SourceError("empty source URI")
    if re.fullmatch(r"\d+", uri):
        return CameraSource(uri, int(uri), cfg)
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    # a Windows drive letter parses as a one-letter scheme; treat it as a path
    if scheme and len(scheme) > 1 and "://" in uri:
        if scheme in ("rtsp", "rtsps"):
            return RtspSource(uri, cfg)
        if scheme == "file":
            path = unquote(parsed.netloc + parsed.path)
            return _path_source(uri, path, cfg)
        if scheme == "v4l2":
            device = unquote(parsed.netloc + parsed.path)
            if re.fullmatch(r"\d+", device):
                device = f"/dev/video{device}"
            return CameraSource(uri, device, cfg)
        if scheme == "csi":
            sensor = parsed.netloc or parsed.path.strip("/") or "0"
            if not sensor.isdigit():
                raise SourceError(f"{uri}: expected csi://N with a sensor number")
            return CameraSource(uri, int(sensor), cfg, csi=True)
        raise SourceError(
            f"unknown source URI scheme {scheme!r} in {uri!r}; valid: {', '.join(SCHEMES)} "
            "or a plain path"
        )
    return _path_source(uri, uri, cfg)


def _path_source(uri: str, path: str, cfg: SourceConfig) -> Source:
    if os.path.isdir(path) or any(ch in path for ch in "*?["):
        return ImageFolderSource(uri, path, cfg)
    if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
        return ImageFolderSource(uri, path, cfg)
    return FileSource(uri, path, cfg)


def open_source(uri: str, cfg: SourceConfig) -> Source:
    """Create and open the source for ``uri``."""
    source = create_source(uri, cfg)
    try:
        source.open()
    except BaseException:
        source.close()
        raise
    return source
