"""Test clips: generated night-road video, encoded for real (H.264 + AAC) by PyAV."""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from pipeline.sample import write_night_clip


@dataclass(frozen=True)
class Decoded:
    """What a test needs to know about an encoded file."""

    frames: int
    times: list[float]
    width: int
    height: int
    audio_packets: int
    streams: list[str]


def make_clip(path: Path, width: int = 96, height: int = 64, fps: float = 15,
              seconds: float = 1.0, audio: bool = True, faststart: bool = False) -> Path:
    """Write a small generated night-road clip and return its path."""
    write_night_clip(path, width=width, height=height, fps=fps, seconds=seconds, audio=audio,
                     seed=1, faststart=faststart)
    return path


def probe(path: Path) -> Decoded:
    """Decode every video frame and count audio packets of ``path``."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        times = [float(f.pts * f.time_base) for f in c.decode(vs)]
        width, height = vs.codec_context.width, vs.codec_context.height
        streams = [f"{s.type}:{s.codec_context.name}" for s in c.streams]
    audio = 0
    with av.open(str(path)) as c:
        if c.streams.audio:
            audio = sum(1 for p in c.demux(c.streams.audio[0]) if p.size)
    return Decoded(len(times), times, width, height, audio, streams)


def frame_time_tolerance(path: Path) -> float:
    """Half a frame of ``path``: timestamps must match closer than this."""
    with av.open(str(path)) as c:
        rate = c.streams.video[0].average_rate or Fraction(30)
    return 0.5 / float(rate)
