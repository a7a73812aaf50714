"""Frame sinks selected by URI.

URI forms:

* ``out.mp4``, ``out.mkv``, ``out.mov`` or ``file:///abs/out.mp4`` — encoded video (H.264 by
  default) with the source's timestamps kept and its audio (and, where the container allows,
  subtitle/data streams) copied unchanged;
* ``display://`` — a window with an FPS/latency overlay (``q`` or Esc stops the run);
* ``images://DIR``, ``DIR/`` or ``DIR/%06d.png`` — one image per frame;
* ``null://`` — discard (benchmarks);
* ``http://@:8080/`` (``http://localhost:8080/``) — a browser preview with live stats
  (:mod:`pipeline.streaming.preview`);
* ``rtsp://@:8554/live`` — an RTSP server of the stream (:mod:`pipeline.streaming.rtsp_out`).

Several sinks at once (``-o out.mp4 -o http://@:8080/``: record and watch) are a
:class:`MultiSink`; the first is the primary (a file), the others are live outputs that never
block it.

Sinks are written from the pipeline's writer thread only: ``open`` (main thread, so a bad path
fails before any work), then ``write`` per frame and ``close`` (flushes the encoder and
finalizes the container) in the writer thread.
"""
from __future__ import annotations

import logging
import os
import re
import time
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import av
import cv2
import numpy as np

from ..config import SinkConfig
from ..errors import SinkError, reason as _reason
from ..media import partial_path
from .frame import Frame, video_frame_from_rgb
from .sink_base import Sink, StreamInfo, parse_listen

log = logging.getLogger(__name__)

SCHEMES = ("file", "display", "images", "null", "http", "rtsp")
#: codecs an MP4/MOV file can carry when copied from a source (FFmpeg's mov muxer accepts more,
#: but players do not); anything else is reported and left out, or goes into MKV
MP4_COPYABLE = {
    "aac", "mp3", "ac3", "eac3", "alac", "opus", "flac", "mp2", "pcm_s16le", "pcm_s16be",
    "mov_text",
}


def _check_writable_dir(directory: Path, uri: str) -> None:
    if not directory.exists():
        raise SinkError(f"cannot write {uri}: folder {directory} does not exist")
    if not directory.is_dir():
        raise SinkError(f"cannot write {uri}: {directory} is not a folder")
    if not os.access(directory, os.W_OK):
        raise SinkError(f"cannot write {uri}: folder {directory} is not writable")


def _parse_bitrate(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]?)\s*(?:bps|b)?\s*", text)
    if not match:
        raise SinkError(f"sink.bitrate: expected a number like 4M or 800k, got {text!r}")
    scale = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


class FileSink(Sink):
    """Encodes to a video file with PyAV, keeping timestamps and copying side streams."""

    #: how far (seconds) copied audio may run ahead of the video written so far; the muxer
    #: interleaves within this window, and it bounds what a stopped run leaves unmatched
    COPY_LEAD_S = 0.5

    def __init__(self, uri: str, path: str, cfg: SinkConfig) -> None:
        super().__init__(uri, cfg)
        self.path = path
        self.container: av.container.OutputContainer | None = None
        self.stream: av.video.stream.VideoStream | None = None
        self.copy_in: av.container.InputContainer | None = None
        self.copy_map: dict[int, av.stream.Stream] = {}
        self.copy_packets = 0
        #: copied packets left out for broken timestamps, per source stream index
        self.copy_dropped: dict[int, int] = {}
        self._copy_last_dts: dict[int, int] = {}
        self.partial = partial_path(path)
        self.dropped_streams: list[str] = []
        self._copy_iter = None
        self._copy_pending: av.Packet | None = None
        self._last_pts: int | None = None
        self._last_time = 0.0
        self._t0: float | None = None
        self._pad = (0, 0)
        self._live = False
        self._fps: Fraction = Fraction(30)
        self.timestamp_fixes = 0

    def open(self, info: StreamInfo) -> None:
        path = Path(self.path)
        _check_writable_dir(path.parent if str(path.parent) else Path("."), self.uri)
        if path.is_dir():
            raise SinkError(f"cannot write {self.uri}: it is a folder")
        # the file is encoded under a temporary name and renamed when finalized, so a failed
        # or killed run never leaves a half file under the final name
        self.partial = partial_path(path)
        try:
            # FFmpeg opens the file only at the first packet: create it now, so a path that
            # cannot be written fails here, before any work, with its name
            open(self.partial, "wb").close()
        except OSError as exc:
            raise SinkError(f"cannot write {self.uri}: {exc.strerror or exc}") from None
        try:
            self.container = av.open(str(self.partial), mode="w")
        except ValueError as exc:
            self.partial.unlink(missing_ok=True)
            raise SinkError(f"cannot write {self.uri}: unknown container for this file name "
                            f"({exc}); use .mp4, .mkv or .mov") from None
        except (av.error.FFmpegError, OSError) as exc:
            self.partial.unlink(missing_ok=True)
            raise SinkError(f"cannot write {self.uri}: {_reason(exc)}") from None
        try:
            self._setup_video(info)
            if info.copy_streams_from and (self.cfg.copy_audio or self.cfg.copy_other_streams):
                self._setup_copy(info.copy_streams_from)
        except BaseException:
            self._abandon()
            self.partial.unlink(missing_ok=True)
            raise

    def output_files(self) -> list[str]:
        return [self.path]

    def _setup_video(self, info: StreamInfo) -> None:
        assert self.container is not None
        cfg = self.cfg
        width = info.width * (2 if cfg.side_by_side else 1)
        height = info.height
        # 4:2:0 chroma needs even sizes; pad by one edge pixel rather than scale
        self._pad = (width % 2, height % 2) if cfg.pix_fmt.endswith("420p") else (0, 0)
        self._fps = info.fps or Fraction(30)
        self._live = info.live
        try:
            stream = self.container.add_stream(cfg.codec, rate=self._fps)
        except (ValueError, TypeError, av.error.FFmpegError) as exc:
            raise SinkError(f"sink.codec: encoder {cfg.codec!r} is not available: {exc}") from None
        if stream.type != "video":
            raise SinkError(f"sink.codec: {cfg.codec!r} is not a video encoder")
        stream.width = width + self._pad[0]
        stream.height = height + self._pad[1]
        try:
            stream.pix_fmt = cfg.pix_fmt
        except ValueError as exc:
            raise SinkError(f"sink.pix_fmt: {exc}") from None
        # Offline: keep the source's own time base and timestamps (VFR-safe).
        # Live: timestamps come from the capture clock, because a camera's or an RTSP server's
        # pts restart on every reconnect.
        tb = info.time_base if (info.time_base and not info.live) else Fraction(1, 90000)
        stream.time_base = tb
        stream.codec_context.time_base = tb
        options = {k: str(v) for k, v in cfg.codec_options.items()}
        if cfg.preset:
            options.setdefault("preset", cfg.preset)
        if cfg.codec == "libx265":
            # x265 prints its banner and summary straight to stderr (past -q and the log
            # level); the run's own stats say what it did
            options.setdefault("x265-params", "log-level=error")
        if cfg.bitrate:
            stream.bit_rate = _parse_bitrate(cfg.bitrate)
        elif cfg.crf is not None:
            options.setdefault("crf", f"{cfg.crf:g}")
        stream.options = options
        self.stream = stream

    def _setup_copy(self, source_path: str) -> None:
        """Open a second demuxer on the source file for the streams we copy unchanged."""
        assert self.container is not None
        try:
            self.copy_in = av.open(source_path, metadata_errors="ignore")
        except (av.error.FFmpegError, OSError) as exc:
            log.warning("cannot reopen %s to copy its audio: %s", source_path, exc)
            return
        mp4_like = self.container.format.name.split(",")[0] in ("mov", "mp4", "m4a", "3gp")
        for s in self.copy_in.streams:
            if s.type == "video":
                continue
            wanted = self.cfg.copy_audio if s.type == "audio" else self.cfg.copy_other_streams
            codec = s.codec_context.name if s.codec_context else "unknown"
            label = f"#{s.index} {s.type} ({codec})"
            if not wanted:
                continue
            if s.type not in ("audio", "subtitle", "data") or (mp4_like and codec not in MP4_COPYABLE):
                self.dropped_streams.append(label)
                continue
            try:
                self.copy_map[s.index] = self.container.add_stream_from_template(s)
            except (ValueError, TypeError, AttributeError, av.error.FFmpegError) as exc:
                log.debug("cannot copy %s: %s", label, exc)
                self.dropped_streams.append(label)
        if self.dropped_streams:
            log.warning("%s cannot hold stream(s) %s of the source; they are left out "
                        "(MKV keeps them)", self.path, ", ".join(self.dropped_streams))
        for key, value in self.copy_in.metadata.items():
            # creation_time and camera tags belong to the drive, not to our encode
            if key.lower() not in ("encoder", "major_brand", "minor_version",
                                   "compatible_brands"):
                self.container.metadata[key] = value
        if not self.copy_map:
            self.copy_in.close()
            self.copy_in = None
            return
        self._copy_iter = self.copy_in.demux([self.copy_in.streams[i] for i in self.copy_map])

    def _copy_until(self, t: float | None) -> None:
        """Mux copied packets whose time is at or before ``t`` seconds (None: all of them)."""
        if self._copy_iter is None or self.container is None:
            return
        while True:
            packet = self._copy_pending
            self._copy_pending = None
            if packet is None:
                try:
                    packet = next(self._copy_iter)
                except StopIteration:
                    self._copy_iter = None
                    return
                except (av.error.FFmpegError, OSError) as exc:
                    # a truncated source: keep what was copied so far
                    log.warning("stopped copying side streams: %s", exc)
                    self._copy_iter = None
                    return
            if packet.dts is None or packet.size == 0:
                continue
            ts = packet.dts if packet.pts is None else packet.pts
            if t is not None and ts * packet.time_base > t:
                self._copy_pending = packet
                return
            index = packet.stream.index
            last = self._copy_last_dts.get(index)
            if last is not None and packet.dts < last:
                # broken timestamps (a track whose samples all sit at DTS 0, a repeated DTS):
                # the muxer would refuse the packet and end the run; drop it and report
                self._drop_copied(index)
                continue
            dts = packet.dts  # in the source's time base (mux rescales the packet in place)
            packet.stream = self.copy_map[index]
            try:
                self.container.mux(packet)
            except ValueError:  # av.error.ArgumentError: the muxer refused this packet
                self._drop_copied(index)
                continue
            self._copy_last_dts[index] = dts
            self.copy_packets += 1

    def _drop_copied(self, index: int) -> None:
        self.copy_dropped[index] = self.copy_dropped.get(index, 0) + 1

    def _report_copy_drops(self) -> None:
        if self.copy_dropped:
            dropped = ", ".join(f"{n} from stream #{i}" for i, n in sorted(self.copy_dropped.items()))
            log.warning("%s: copied side streams have broken timestamps; packets left out: %s",
                        self.path, dropped)

    def _timestamp(self, frame: Frame) -> int:
        """The output pts of ``frame`` in the stream time base, strictly increasing."""
        assert self.stream is not None
        tb = self.stream.codec_context.time_base
        if self._live or frame.pts is None or frame.time_base is None:
            if self._live:
                if self._t0 is None:
                    self._t0 = frame.capture_time
                seconds = frame.capture_time - self._t0
            else:
                seconds = frame.index / self._fps
            pts = int(round(seconds / tb))
        elif frame.time_base == tb:
            pts = frame.pts
        else:
            pts = int(round(frame.pts * frame.time_base / tb))
        if self._last_pts is not None and pts <= self._last_pts:
            # equal or backward timestamps would make the muxer fail; nudge and count
            self.timestamp_fixes += 1
            pts = self._last_pts + 1
        self._last_pts = pts
        return pts

    def write(self, frame: Frame) -> None:
        if self.container is None or self.stream is None:
            raise SinkError("sink is not open")
        image = self.image(frame)
        if self._pad != (0, 0):
            image = np.pad(image, ((0, self._pad[1]), (0, self._pad[0]), (0, 0)), mode="edge")
        vf = video_frame_from_rgb(image, self.cfg.pix_fmt)
        vf.pts = self._timestamp(frame)
        vf.time_base = self.stream.codec_context.time_base
        try:
            for packet in self.stream.encode(vf):
                self.container.mux(packet)
            self._last_time = float(vf.pts * vf.time_base)
            self.frames_written += 1
            self._copy_until(self._last_time + self.COPY_LEAD_S)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            if not self.frames_written and isinstance(exc, av.error.ArgumentError):
                # FFmpeg opens the encoder at the first frame: EINVAL there is the encoder
                # refusing its settings, not the disk
                cfg = self.cfg
                raise SinkError(
                    f"the encoder refused its settings (sink.codec {cfg.codec!r}, sink.pix_fmt "
                    f"{cfg.pix_fmt!r}, sink.preset {cfg.preset!r}, sink.codec_options "
                    f"{dict(cfg.codec_options)!r}) writing {self.uri}: {_reason(exc)}") from None
            raise SinkError(f"writing {self.uri} failed: {_reason(exc)}") from None

    def close(self, complete: bool = True) -> None:
        """Flush the encoder, copy the side streams that go with the frames written, finalize
        the container and rename it to its final name; a file that cannot be finalized is
        removed (``SinkError``), and a run that wrote no frame leaves no file."""
        if self.container is None:
            return
        try:
            try:
                if self.stream is not None:
                    for packet in self.stream.encode(None):
                        self.container.mux(packet)
                if self.frames_written:
                    # a run that ended early keeps the audio that goes with the frames written
                    end = None if complete else self._last_time + 1.0 / float(self._fps)
                    self._copy_until(end)
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                raise SinkError(f"cannot finalize {self.path}: {_reason(exc)}; "
                                "the partial file was removed") from None
            finally:
                finalized = self._abandon()
            if not finalized:
                raise SinkError(f"cannot finalize {self.path}; the partial file was removed")
        except BaseException:
            self.partial.unlink(missing_ok=True)
            raise
        self._report_copy_drops()
        if not self.frames_written:
            self.partial.unlink(missing_ok=True)
            log.warning("no frame was written; %s not created", self.path)
            return
        if self.partial != Path(self.path):
            try:
                os.replace(self.partial, self.path)
            except OSError as exc:
                self.partial.unlink(missing_ok=True)
                raise SinkError(f"cannot rename the finished file to {self.path}: "
                                f"{exc.strerror or exc}") from None

    def _abandon(self) -> bool:
        """Close the containers; False when the output could not be finalized."""
        ok = True
        if self.container is not None:
            try:
                self.container.close()
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                log.debug("finalizing %s failed: %s", self.path, exc)
                ok = False
            self.container = None
        if self.copy_in is not None:
            try:
                self.copy_in.close()
            except (av.error.FFmpegError, OSError) as exc:  # only read from: nothing to lose
                log.debug("closing the copy demuxer of %s failed: %s", self.path, exc)
            self.copy_in = None
        return ok


class ImageFolderSink(Sink):
    """One image file per frame, named by the frame's index."""

    def __init__(self, uri: str, pattern: str, cfg: SinkConfig) -> None:
        super().__init__(uri, cfg)
        if "%" not in pattern:
            pattern = os.path.join(pattern, f"%06d.{cfg.image_format.lstrip('.')}")
        self.pattern = pattern

    def output_folder(self) -> str | None:
        return str(Path(self.pattern).parent)

    def open(self, info: StreamInfo) -> None:
        # the pattern and the image type first: a refused output leaves no folder behind
        try:
            self.pattern % 0
        except (TypeError, ValueError):
            raise SinkError(f"{self.uri}: the file pattern needs one integer field like %06d") \
                from None
        self.suffix = Path(self.pattern % 0).suffix.lower()
        if not self.suffix or not cv2.haveImageWriter(f"x{self.suffix}"):
            raise SinkError(f"{self.uri}: cannot write images of type {self.suffix or '(none)'!r}; "
                            "use png, jpg, bmp, tif or webp (sink.image_format)")
        directory = Path(self.pattern).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SinkError(f"cannot create image folder {directory}: {exc.strerror}") from None
        _check_writable_dir(directory, self.uri)

    def write(self, frame: Frame) -> None:
        path = Path(self.pattern % frame.index)
        image = cv2.cvtColor(self.image(frame), cv2.COLOR_RGB2BGR)
        try:
            ok, data = cv2.imencode(self.suffix, image)
        except cv2.error as exc:
            raise SinkError(f"cannot encode image {path}: {exc}") from None
        if not ok:
            raise SinkError(f"cannot encode image {path}")
        # written under a temporary name and renamed: a full disk never leaves half an image
        tmp = partial_path(path)
        try:
            tmp.write_bytes(data.tobytes())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise SinkError(f"cannot write image {path}: {exc.strerror or exc}") from None
        self.frames_written += 1


class NullSink(Sink):
    """Discards frames (benchmarks)."""

    def open(self, info: StreamInfo) -> None:
        pass

    def write(self, frame: Frame) -> None:
        self.frames_written += 1


class DisplaySink(Sink):
    """An OpenCV window with an FPS / latency overlay. ``q`` or Esc, or closing it, stops."""

    WINDOW = "Nocturne"

    def __init__(self, uri: str, cfg: SinkConfig) -> None:
        super().__init__(uri, cfg)
        self._created = False
        self._last = 0.0
        self._fps = 0.0

    def open(self, info: StreamInfo) -> None:
        if os.name == "posix" and not (os.environ.get("DISPLAY") or
                                       os.environ.get("WAYLAND_DISPLAY")):
            raise SinkError("display:// needs a screen, and DISPLAY is not set "
                            "(use a file sink, or ssh -X)")

    def write(self, frame: Frame) -> None:
        image = cv2.cvtColor(self.image(frame), cv2.COLOR_RGB2BGR)
        now = time.monotonic()
        if self._last:
            inst = 1.0 / max(now - self._last, 1e-6)
            self._fps = inst if not self._fps else 0.9 * self._fps + 0.1 * inst
        self._last = now
        if self.cfg.overlay:
            text = f"{self._fps:5.1f} fps  latency {1000 * (now - frame.capture_time):5.0f} ms"
            for color, thick in (((0, 0, 0), 3), ((255, 255, 255), 1)):
                cv2.putText(image, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, thick,
                            cv2.LINE_AA)
        try:
            if not self._created:
                cv2.namedWindow(self.WINDOW, cv2.WINDOW_NORMAL)
                self._created = True
            cv2.imshow(self.WINDOW, image)
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            raise SinkError(f"display failed: {exc}") from None
        if key in (ord("q"), 27) or cv2.getWindowProperty(self.WINDOW, cv2.WND_PROP_VISIBLE) < 1:
            self.stop_requested = True
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        if self._created:
            cv2.destroyWindow(self.WINDOW)
            self._created = False


class MultiSink(Sink):
    """Several sinks fed the same frames: the first (the recording) and live outputs whose
    ``write`` never blocks (they keep only the newest frame for their clients)."""

    def __init__(self, sinks: list[Sink], cfg: SinkConfig) -> None:
        super().__init__(" + ".join(s.uri for s in sinks), cfg)
        self.sinks = sinks

    @property
    def stop_requested(self) -> bool:  # type: ignore[override]
        return any(s.stop_requested for s in self.sinks)

    def open(self, info: StreamInfo) -> None:
        opened: list[Sink] = []
        try:
            for sink in self.sinks:
                sink.open(info)
                opened.append(sink)
        except BaseException:
            for sink in reversed(opened):
                try:
                    sink.close(complete=False)
                except Exception as exc:  # the open error is the one to report
                    log.debug("closing %s failed: %s", sink.describe(), exc)
            raise

    def write(self, frame: Frame) -> None:
        for sink in self.sinks:
            sink.write(frame)
        self.frames_written += 1

    def close(self, complete: bool = True) -> None:
        errors = []
        for sink in self.sinks:
            try:
                sink.close(complete)
            except Exception as exc:  # finalize every sink, then report the first failure
                errors.append(exc)
        if errors:
            raise errors[0]

    def output_files(self) -> list[str]:
        return [f for s in self.sinks for f in s.output_files()]

    def output_folder(self) -> str | None:
        return next((f for f in (s.output_folder() for s in self.sinks) if f), None)

    def describe(self) -> str:
        return " + ".join(s.describe() for s in self.sinks)

    def bind_stats(self, provider: Any) -> None:
        """Pass the live stats to the sinks that show them (the preview)."""
        for sink in self.sinks:
            if hasattr(sink, "bind_stats"):
                sink.bind_stats(provider)


def create_sinks(uris: list[str], cfg: SinkConfig) -> Sink:
    """One sink, or a :class:`MultiSink` of several (the first is the primary)."""
    sinks = [create_sink(u, cfg) for u in uris]
    seen: dict[str, str] = {}
    for sink in sinks:
        for target in [*sink.output_files(), sink.output_folder() or ""]:
            if not target:
                continue
            key = os.path.realpath(target)
            if key in seen:
                raise SinkError(f"outputs {seen[key]!r} and {sink.uri!r} would write the same "
                                f"{'folder' if os.path.isdir(key) else 'file'}")
            seen[key] = sink.uri
    return sinks[0] if len(sinks) == 1 else MultiSink(sinks, cfg)


def create_sink(uri: str, cfg: SinkConfig) -> Sink:
    """The ``Sink`` for ``uri`` (not opened yet); raises ``SinkError`` for a bad URI."""
    uri = uri.strip()
    if not uri:
        raise SinkError("empty sink URI")
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme and len(scheme) > 1 and "://" in uri:
        rest = unquote(parsed.netloc + parsed.path)
        if scheme == "null":
            return NullSink(uri, cfg)
        if scheme == "display":
            return DisplaySink(uri, cfg)
        if scheme == "images":
            if not rest.strip():
                # not the current folder by default: frames would land among whatever is there
                raise SinkError(f"{uri}: give the folder for the images, e.g. images://frames/")
            return ImageFolderSink(uri, rest, cfg)
        if scheme == "file":
            if not rest.strip():
                raise SinkError(f"{uri}: give a file name, e.g. file:///data/out.mp4")
            return _path_sink(uri, rest, cfg)
        if scheme == "http":
            from .preview import PreviewSink

            host, port = parse_listen(parsed.netloc, uri, 8080)
            return PreviewSink(uri, host, port, parsed.path, cfg)
        if scheme == "rtsp":
            from .rtsp_out import RtspSink

            host, port = parse_listen(parsed.netloc, uri, 8554)
            return RtspSink(uri, host, port, parsed.path, cfg)
        raise SinkError(f"unknown sink URI scheme {scheme!r} in {uri!r}; valid: "
                        f"{', '.join(SCHEMES)} or a plain path")
    return _path_sink(uri, uri, cfg)


def _path_sink(uri: str, path: str, cfg: SinkConfig) -> Sink:
    if path.endswith(("/", os.sep)) or "%" in path or os.path.isdir(path):
        return ImageFolderSink(uri, path, cfg)
    if not Path(path).suffix:
        raise SinkError(f"sink {uri!r}: give a file name with an extension (.mp4, .mkv, .mov), "
                        "or a folder ending in / for images")
    return FileSink(uri, path, cfg)
