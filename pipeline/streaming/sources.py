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
import io
import logging
import os
import re
import stat
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
from ..media import IMAGE_EXTENSIONS, MAX_FRAME_SIDE
from .frame import Frame, rgb_from_video_frame

log = logging.getLogger(__name__)

SCHEMES = ("file", "rtsp", "rtsps", "v4l2", "csi")


def check_frame_size(width: int, height: int, what: str) -> None:
    """``SourceError`` naming ``what`` when a frame side exceeds :data:`MAX_FRAME_SIDE`."""
    if width > MAX_FRAME_SIDE or height > MAX_FRAME_SIDE:
        raise SourceError(f"{what}: frames of {width}x{height} are larger than this pipeline "
                          f"takes ({MAX_FRAME_SIDE} pixels on a side); downscale first "
                          f"(e.g. ffmpeg -vf scale=-2:2160)")


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
        #: frames resized to the first frame's size after a mid-stream size change
        self.resized_frames = 0
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

    def input_files(self) -> list[str]:
        """The files this source reads (none for streams and cameras): never to be written."""
        return []

    def request_stop(self) -> None:
        """Interrupt waits (reconnect back-off, real-time pacing) so the capture thread ends."""
        self._stop.set()

    def _check_frame_size(self, what: str) -> None:
        """:func:`check_frame_size` for the size just read at open; closes the source first
        when it is too large."""
        try:
            check_frame_size(self.width, self.height, what)
        except SourceError:
            self.close()
            raise

    def _frame(self, image: np.ndarray, pts: int | None, time_base: Fraction | None) -> Frame:
        if self.width and self.height and image.shape[:2] != (self.height, self.width):
            # the picture size changed mid-stream (a camera reconfigured, a spliced file, an
            # image of another size): the sink and the batches need one size, so follow the
            # first one, as FFmpeg's scale filter in a fixed-size graph does
            if not self.resized_frames:
                log.warning("%s: frame size changed from %dx%d to %dx%d at frame %d; resizing "
                            "to the first size", self.uri, self.width, self.height,
                            image.shape[1], image.shape[0], self._index)
            self.resized_frames += 1
            image = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)
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
    #: packets the decoder refused (their frames are missing from the output)
    decode_errors: int = 0

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
                self.decode_errors += 1
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
        self._first_time: float | None = None
        self._last_time: float | None = None

    def open(self) -> None:
        if not os.path.exists(self.path):
            raise SourceError(f"source not found: {self.path}")
        if os.path.isdir(self.path):
            raise SourceError(f"source is a folder with no images: {self.path}")
        if not os.path.isfile(self.path):
            # a FIFO or socket would block in open() until a writer appears, with no timeout
            # and no frame count: live streams come in as rtsp:// (or a camera device)
            raise SourceError(f"source {self.path} is not a regular file (a FIFO, socket or "
                              "block device); give a video file, rtsp:// URL or camera")
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
        if ctx is None:
            self.close()
            raise SourceError(f"{self.path}: its video stream has no decoder (an unknown codec, "
                              "or a damaged header)")
        self.width, self.height = ctx.width, ctx.height
        if not self.width or not self.height:
            self.close()
            raise SourceError(f"{self.path}: video stream has no frame size (corrupt header?)")
        self._check_frame_size(self.path)
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
            if not self._index:
                raise SourceError(f"{self.path}: no video frame could be decoded "
                                  f"({_av_error_text(exc)})") from None
            self.truncated = True
            log.warning("%s: input ends early after %d frames: %s", self.path, self._index,
                        _av_error_text(exc))
            return None
        image = rgb_from_video_frame(vf)
        frame = self._frame(image, vf.pts, vf.time_base or self.time_base)
        if frame.pts is not None and frame.time_base is not None:
            self._last_time = float(frame.pts * frame.time_base)
            if self._first_time is None:
                self._first_time = self._last_time
        if self.cfg.realtime:
            self._pace(frame)
        return frame

    def input_files(self) -> list[str]:
        return [self.path]

    def _expected_duration(self) -> tuple[float | None, float]:
        """How long the container says the video lasts (seconds), and how sure: the video
        stream's own duration is exact to a frame, the container's covers every stream."""
        assert self.stream is not None and self.container is not None
        tag = self.stream.metadata.get("DURATION") or self.stream.metadata.get("duration")
        if tag:
            match = re.fullmatch(r"(\d+):(\d+):(\d+(?:\.\d+)?)", tag.strip())
            if match:
                h, m, sec = match.groups()
                return int(h) * 3600 + int(m) * 60 + float(sec), 0.0
        if self.stream.duration and self.time_base:
            return float(self.stream.duration * self.time_base), 0.0
        if self.container.duration:
            # the longest stream's end (audio may run a little past the video)
            return self.container.duration / 1e6, 0.5
        return None, 0.0

    def _check_complete(self) -> None:
        """At the end: a file without a decodable frame is an error; one that ended before
        its index or stated duration, or lost packets to the decoder, is flagged truncated."""
        if not self._index:
            raise SourceError(f"{self.path}: no video frame could be decoded (damaged, cut "
                              "after its header, or no key frame)")
        assert self.stream is not None
        expected = self.stream.frames
        if expected:
            if self._index < expected:
                self.truncated = True
                log.warning("%s: input ends early: %d of %d frames decoded (truncated file?)",
                            self.path, self._index, expected)
        elif self.container is not None and "matroska" in self.container.format.name \
                and (matroska_missing_bytes(self.path) or 0) > 0:
            self.truncated = True
            log.warning("%s: input ends early: the file is shorter than its header says "
                        "(%d frames decoded; truncated file?)", self.path, self._index)
        elif self.container is not None and self.container.format.name == "mpegts" \
                and _cut_inside_ts_packet(self.path):
            # a transport stream states no length, but it is a run of fixed-size packets: a
            # file that ends inside one was cut short (a dashcam losing power, a partial copy)
            self.truncated = True
            log.warning("%s: input ends early: the file ends inside a transport-stream packet "
                        "(%d frames decoded; truncated file?)", self.path, self._index)
        else:
            duration, slack = self._expected_duration()
            if duration and self._last_time is not None:
                frame_s = 1.0 / float(self.fps) if self.fps else 0.04
                start = self._first_time or 0.0
                covered = self._last_time - start + frame_s
                if covered < duration - max(slack, 1.5 * frame_s, 0.05):
                    self.truncated = True
                    log.warning("%s: input ends early: %.2f of %.2f s decoded (truncated file?)",
                                self.path, covered, duration)
                elif not slack and self.fps:
                    # frames lost inside the file (a damaged cluster the demuxer skipped):
                    # the stream's own duration at its average rate says how many there were
                    expected = round(duration * float(self.fps))
                    if self._index < expected - max(1, round(0.02 * expected)):
                        self.truncated = True
                        log.warning("%s: %d of about %d frames decoded (damaged file?)",
                                    self.path, self._index, expected)
        if self.decode_errors and not self.truncated:
            self.truncated = True
            log.warning("%s: %d damaged packet(s) could not be decoded; their frames are "
                        "missing", self.path, self.decode_errors)

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


def _read_vint(f: "io.BufferedReader", keep_marker: bool) -> tuple[int, int] | None:
    """One EBML variable-length integer: (value, length in bytes), None at a bad byte."""
    first = f.read(1)
    if not first or first[0] == 0:
        return None
    length = 8 - first[0].bit_length() + 1
    rest = f.read(length - 1)
    if len(rest) != length - 1:
        return None
    value = first[0] if keep_marker else first[0] & ((1 << (8 - length)) - 1)
    for byte in rest:
        value = (value << 8) | byte
    return value, length


def matroska_missing_bytes(path: str) -> int | None:
    """How many bytes a Matroska/WebM file lacks against the size its Segment declares (0 for
    a complete file); None when the size is not declared (a live-written file) or unreadable.

    A seekable muxer writes the Segment's size when it finalizes the file, so a file cut
    short (a dashcam losing power, a partial copy) is shorter than it says it is.
    """
    try:
        with open(path, "rb") as f:
            ebml_id = _read_vint(f, keep_marker=True)
            if ebml_id is None or ebml_id[0] != 0x1A45DFA3:
                return None
            size = _read_vint(f, keep_marker=False)
            if size is None:
                return None
            f.seek(size[0], os.SEEK_CUR)
            segment_id = _read_vint(f, keep_marker=True)
            if segment_id is None or segment_id[0] != 0x18538067:
                return None
            seg = _read_vint(f, keep_marker=False)
            if seg is None or seg[0] == (1 << (7 * seg[1])) - 1:  # "unknown size"
                return None
            expected = f.tell() + seg[0]
            return max(0, expected - os.fstat(f.fileno()).st_size)
    except OSError:
        return None


def _cut_inside_ts_packet(path: str) -> bool:
    """Whether an MPEG transport stream's size is no whole number of its packets: 188 bytes
    (``.ts``), or 192 for Blu-ray/AVCHD ``.m2ts`` (a 4-byte timestamp before each)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return False
    return size % 188 != 0 and size % 192 != 0


def _natural_key(path: str) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path)]


class ImageFolderSource(Source):
    """Images from a folder or a glob, in natural order (``frame2`` before ``frame10``)."""

    def __init__(self, uri: str, pattern: str, cfg: SourceConfig) -> None:
        super().__init__(uri, cfg)
        self.pattern = pattern
        self.live = bool(cfg.live)
        self.paths: list[str] = []
        #: the next path to read (``_index`` counts the frames delivered)
        self._position = 0

    def open(self) -> None:
        if os.path.isdir(self.pattern):
            names = [os.path.join(self.pattern, n) for n in os.listdir(self.pattern)]
        else:
            names = globlib.glob(self.pattern)
        self.paths = sorted((p for p in names if p.lower().endswith(IMAGE_EXTENSIONS)
                             and os.path.isfile(p)), key=_natural_key)
        if not self.paths:
            raise SourceError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {self.pattern}")
        # the size is the first readable image's (unreadable ones are skipped when read)
        reason = ""
        for path in self.paths:
            try:
                first = self._load(path)
                break
            except SourceError as exc:
                reason = reason or str(exc)
                continue
        else:
            raise SourceError(f"none of the {len(self.paths)} images in {self.pattern} can be "
                              f"read (damaged, not images, or too large); the first: {reason}")
        self.height, self.width = first.shape[:2]
        self.fps = Fraction(self.cfg.fps).limit_denominator(1001)
        self.time_base = 1 / self.fps
        self.frame_count = len(self.paths)

    def input_files(self) -> list[str]:
        return list(self.paths)

    def _load(self, path: str) -> np.ndarray:
        # OpenCV prints its own "[ERROR...]" line for a damaged image; the warning below
        # names the file instead
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            image = cv2.imread(path, cv2.IMREAD_COLOR)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if image is None:
            raise SourceError(f"cannot read image {path}")
        check_frame_size(image.shape[1], image.shape[0], path)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def read(self) -> Frame | None:
        # An image that cannot be read after the first (damaged, cut short, not an image) is
        # skipped as a video's damaged packet is: the other frames are enhanced and written,
        # and the run ends as for a corrupt input (flagged truncated: exit 3), naming it.
        while self._position < len(self.paths):
            path = self.paths[self._position]
            self._position += 1
            try:
                image = self._load(path)
            except SourceError:
                self.truncated = True
                log.warning("%s: cannot read this image (damaged, not an image, or larger than "
                            "%d on a side); skipped (its frame is missing)", path, MAX_FRAME_SIDE)
                continue
            # the image's own slot in the sequence: a skipped one leaves a gap in time, as a
            # lost video frame does
            return self._frame(image, self._position - 1, self.time_base)
        return None


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
        #: when the last frame arrived: an outage is counted from there, not from when the
        #: read timeout noticed it
        self._last_frame_at: float | None = None
        #: start of the outage in progress (None while frames arrive)
        self._outage_since: float | None = None

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
        self._check_frame_size(self.uri)
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
            except (av.error.FFmpegError, OSError) as exc:  # a lost stream may not close cleanly
                log.debug("%s: closing the lost connection failed: %s", self.uri, exc)
            self.container = None

    def _reconnect(self) -> bool:
        """Reopen with back-off; False when stopped or out of attempts.

        The outage is counted from the last frame received to the first frame after the
        reconnect (the hole in the output), or to the stop if it is still going then.
        """
        r = self.cfg.rtsp
        self._drop_connection()
        if self._outage_since is None:
            self._outage_since = (self._last_frame_at if self._last_frame_at is not None
                                  else time.monotonic())
        if not r.reconnect:
            self._end_outage()
            return False
        delay = r.backoff_initial_s
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            try:
                self._connect()
            except SourceError as exc:
                if r.max_reconnect_attempts is not None and attempt >= r.max_reconnect_attempts:
                    log.error("%s: giving up after %d reconnect attempts", self.uri, attempt)
                    self._end_outage()
                    return False
                log.info("%s: reconnect attempt %d failed (%s); retrying in %.1f s",
                         self.uri, attempt, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, r.backoff_max_s)
                continue
            self.reconnects += 1
            log.warning("%s: reconnected (reconnect #%d, %.2f s since the last frame)",
                        self.uri, self.reconnects, time.monotonic() - self._outage_since)
            return True
        self._end_outage()  # stopped while the stream was down: the outage so far counts
        return False

    def _end_outage(self) -> None:
        if self._outage_since is not None:
            self.reconnect_downtime_s += time.monotonic() - self._outage_since
            self._outage_since = None

    def read(self) -> Frame | None:
        while not self._stop.is_set():
            vf = self._pending or self._next_decoded()
            self._pending = None
            if vf is None:
                if not self._reconnect():
                    return None
                continue
            image = rgb_from_video_frame(vf)
            self._last_frame_at = time.monotonic()
            if self._outage_since is not None:
                self._end_outage()
                log.info("%s: frames again; %.2f s lost in all", self.uri,
                         self.reconnect_downtime_s)
            return self._frame(image, vf.pts, vf.time_base or self.time_base)
        self._end_outage()
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
        self._check_frame_size(self.uri)
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
            if not parsed.hostname:
                raise SourceError(f"{uri}: no host; expected {scheme}://HOST[:PORT]/PATH")
            return RtspSource(uri, cfg)
        if scheme == "file":
            path = unquote(parsed.netloc + parsed.path)
            if not path.strip():
                raise SourceError(f"{uri}: no path; expected file:///PATH/TO/clip.mp4")
            return _path_source(uri, path, cfg)
        if scheme == "v4l2":
            device = unquote(parsed.netloc + parsed.path)
            if not device.strip():
                raise SourceError(f"{uri}: no device; expected v4l2:///dev/videoN or v4l2://N")
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
    try:
        is_device = stat.S_ISCHR(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing or unreadable: FileSource.open says which
        is_device = False
    if is_device:
        return CameraSource(uri, path, cfg)  # /dev/video0 given as a plain path
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
