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


def make_drive(path: Path, subtitle: str = "subrip", seconds: float = 1.0, width: int = 96,
               height: int = 64, creation_time: str = "2026-11-20T21:15:00.000000Z") -> Path:
    """A dashcam-like drive: a generated clip (H.264 + AAC) remuxed with a subtitle track of
    GPS lines (``subrip`` for MKV, ``mov_text`` for MP4) and a container creation time."""
    import os

    from fractions import Fraction as F

    base = path.with_name(f".{path.stem}.base.mp4")
    make_clip(base, width=width, height=height, seconds=seconds)
    with av.open(str(base)) as src, av.open(str(path), "w") as dst:
        dst.metadata["creation_time"] = creation_time
        mapping = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        sub = dst.add_mux_stream(subtitle)
        sub.time_base = F(1, 1000)
        for packet in src.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            dst.mux(packet)
        for i in range(int(seconds * 2)):
            text = f"GPS {48.1 + i / 1000:.4f}N 11.5167E".encode()
            if subtitle == "mov_text":
                text = len(text).to_bytes(2, "big") + text
            pk = av.Packet(text)
            pk.stream, pk.pts, pk.dts, pk.duration = sub, i * 500, i * 500, 500
            pk.time_base = F(1, 1000)
            dst.mux(pk)
    os.unlink(base)
    return path
