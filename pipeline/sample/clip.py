"""``write_night_clip``: render a night drive and encode it (H.264 + AAC) with PyAV, under a
temporary name renamed when complete."""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2

from .audio import RoadSound
from .checks import as_fps, check_int
from .constants import AUDIO_SAMPLE_RATE, MIN_SIZE
from .frames import iter_frames


@dataclass(frozen=True)
class ClipInfo:
    """What ``write_night_clip`` wrote.

    ``width`` and ``height`` are the encoded size, which is the requested size rounded up to
    even numbers (4:2:0 chroma needs them; see ``write_night_clip``).
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    num_frames: int
    has_audio: bool

    @property
    def duration(self) -> float:
        """Length of the video in seconds (``num_frames / fps``)."""
        return float(self.num_frames / self.fps)


_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
_X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")


def _container_format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the container of {str(path)!r} from its extension; "
                         f"use one of {', '.join(_FORMATS)}")
    return fmt


@dataclass(frozen=True)
class _ClipPlan:
    path: Path
    fmt: str
    width: int
    height: int
    rate: Fraction
    num_frames: int
    seed: int
    options: dict[str, str]
    crf: float
    preset: str


def plan_clip(path: str | os.PathLike[str], width: object, height: object, fps: object,
               seconds: object, seed: object, crf: object, preset: object, faststart: bool,
               container_options: Mapping[str, object] | None) -> _ClipPlan:
    """Check every argument of ``write_night_clip``; raises ``ValueError`` with a clear message."""
    path = Path(path)
    fmt = _container_format(path)
    w = check_int("width", width, MIN_SIZE)
    h = check_int("height", height, MIN_SIZE)
    rate = as_fps(fps)
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise ValueError(f"seconds must be a number, not {seconds!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    num_frames = round(float(rate) * float(seconds))
    if num_frames < 1:
        raise ValueError(f"{seconds} s at {rate} fps is less than one frame")
    seed = check_int("seed", seed)
    if isinstance(crf, bool) or not isinstance(crf, numbers.Real) or not 0 <= crf <= 51:
        raise ValueError(f"crf must be a number from 0 to 51, not {crf!r}")
    if preset not in _X264_PRESETS:
        raise ValueError(f"preset must be one of {', '.join(_X264_PRESETS)}, not {preset!r}")
    options = {str(k): str(v) for k, v in (container_options or {}).items()}
    if faststart:
        if fmt not in ("mp4", "mov"):
            raise ValueError(f"faststart applies to .mp4 and .mov files, not {path.suffix}")
        flags = options.get("movflags", "")
        options["movflags"] = f"{flags}+faststart" if flags else "+faststart"
    return _ClipPlan(path, fmt, w, h, rate, num_frames, seed, options, float(crf), preset)


def write_night_clip(path: str | os.PathLike[str], width: int = 1280, height: int = 720,
                     fps: float | Fraction = 30, seconds: float = 4.0, *, audio: bool = True,
                     seed: int = 0, crf: float = 20, preset: str = "veryfast",
                     faststart: bool = False,
                     container_options: Mapping[str, object] | None = None) -> ClipInfo:
    """Render a night drive (``render_night_frames``) and encode it to ``path`` with PyAV.

    * container from the extension: ``.mp4``, ``.mov`` or ``.mkv``;
    * video: H.264 (libx264, yuv420p, ``crf``, ``preset``), exactly ``round(fps * seconds)``
      frames at a constant ``fps`` (int, float or ``Fraction``; 29.97 and 30000/1001 are kept
      exact). The stream time base is ``1 / fps`` and frame ``i`` has pts ``i``, so every
      timestamp is exact in the encoder; .mp4/.mov keep them exact, Matroska stores
      milliseconds;
    * odd sizes: the frame is rendered at the requested size and its last column and/or row is
      repeated to reach even dimensions (4:2:0 chroma needs them), as the pipeline's file sink
      does; ``ClipInfo`` reports the encoded size;
    * ``audio``: an AAC stereo 48 kHz track of the same duration (``render_night_audio``);
    * ``faststart``: put the mp4/mov index (moov) at the front, so a truncated file still
      plays; ``container_options`` go to the muxer as they are (``movflags`` are merged).

    The file is written under a temporary name and renamed when complete, so an interrupted
    run never leaves a half-written clip at ``path``. Raises ``ValueError`` for bad arguments,
    ``OSError`` / ``av.FFmpegError`` when the file cannot be written.
    """
    plan = plan_clip(path, width, height, fps, seconds, seed, crf, preset, faststart,
                      container_options)
    tmp = plan.path.with_name(f".{plan.path.name}.{os.getpid()}.partial")
    try:
        _encode(plan, tmp, bool(audio))
        os.replace(tmp, plan.path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ClipInfo(plan.path, plan.width + plan.width % 2, plan.height + plan.height % 2,
                    plan.rate, plan.num_frames, bool(audio))


class _SoundTrack:
    """The AAC stream of a clip and the synthesiser feeding it, kept level with the video."""

    def __init__(self, out: av.container.OutputContainer, seed: int, total: int) -> None:
        self.out = out
        self.stream = out.add_stream("aac", rate=AUDIO_SAMPLE_RATE, layout="stereo")
        self.stream.time_base = Fraction(1, AUDIO_SAMPLE_RATE)
        self.sound = RoadSound(seed)
        self.total = total

    def write_until(self, sample: int) -> None:
        """Encode the sound up to ``sample`` (never past the end of the clip)."""
        sound = self.sound
        while sound.done < min(sample, self.total):
            start = sound.done
            n = min(RoadSound.BLOCK, self.total - start)
            frame = av.AudioFrame.from_ndarray(sound.render(n), format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_SAMPLE_RATE
            frame.pts = start
            frame.time_base = self.stream.time_base
            for packet in self.stream.encode(frame):
                self.out.mux(packet)

    def finish(self) -> None:
        self.write_until(self.total)
        for packet in self.stream.encode(None):
            self.out.mux(packet)


def _encode(plan: _ClipPlan, tmp: Path, audio: bool) -> None:
    pad_w, pad_h = plan.width % 2, plan.height % 2
    tb = 1 / plan.rate
    with av.open(str(tmp), "w", format=plan.fmt, container_options=plan.options) as out:
        video = out.add_stream("libx264", rate=plan.rate)
        video.width, video.height = plan.width + pad_w, plan.height + pad_h
        video.pix_fmt = "yuv420p"
        video.time_base = video.codec_context.time_base = tb
        video.options = {"crf": f"{plan.crf:g}", "preset": plan.preset}
        # the sound lasts exactly as long as the video, to the sample
        total = round(plan.num_frames / plan.rate * AUDIO_SAMPLE_RATE)
        track = _SoundTrack(out, plan.seed, total) if audio else None
        frames = iter_frames(plan.width, plan.height, plan.num_frames, plan.rate, plan.seed)
        for i, rgb in enumerate(frames):
            if pad_w or pad_h:
                rgb = cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = tb
            for packet in video.encode(frame):
                out.mux(packet)
            if track is not None:
                # interleave: the sound keeps up with the video written so far
                track.write_until(math.ceil((i + 1) / plan.rate * AUDIO_SAMPLE_RATE))
        for packet in video.encode(None):
            out.mux(packet)
        if track is not None:
            track.finish()
