"""Damaged media for the hostile tests: truncations, flipped and zeroed byte ranges, broken
audio timestamps, streams without a key frame and mid-stream size changes, made from real
PyAV encodes of the generated night road (MP4, MOV and MKV)."""
from __future__ import annotations

import random
import struct
from fractions import Fraction
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from tests.clips import make_clip

#: the containers damaged; ``faststart`` is an MP4 with its index (moov) in front
CONTAINERS = ("mp4", "mov", "mkv", "faststart")
#: frames of every base clip (1 s at 15 fps)
FRAMES = 15


def suffix(container: str) -> str:
    """The file suffix of a ``CONTAINERS`` entry."""
    return "mp4" if container == "faststart" else container


def base_clip(folder: Path, container: str) -> Path:
    """The undamaged clip: 96x64, 15 fps, 1 s, H.264 + AAC."""
    return make_clip(folder / f"base.{suffix(container)}", fps=15, seconds=1.0, audio=True,
                     faststart=container == "faststart")


def truncations(data: bytes, fractions: tuple[float, ...]) -> Iterator[tuple[str, bytes]]:
    for f in fractions:
        yield f"cut{int(f * 100):02d}", data[: int(len(data) * f)]


#: where damage goes: the first tenth (MKV header, MP4 ftyp and first samples), the body, and
#: the last tenth (the MP4/MOV index, ``moov``, sits there unless the file is fast-start)
REGIONS = ("head", "body", "tail")


def _ranges(data: bytes, seed: int, region: str, count: int) -> Iterator[tuple[int, int]]:
    rng = random.Random(seed)
    n = len(data)
    lo, hi = {"head": (16, n // 10), "body": (n // 10, 9 * n // 10),
              "tail": (9 * n // 10, n - 64)}[region]
    for _ in range(count):
        yield rng.randrange(lo, max(lo + 1, hi)), rng.randrange(8, 64)


def flips(data: bytes, seed: int, count: int = 4) -> Iterator[tuple[str, bytes]]:
    """Byte ranges inverted, ``count`` in each region."""
    for r, region in enumerate(REGIONS):
        for k, (start, n) in enumerate(_ranges(data, seed + r, region, count)):
            b = bytearray(data)
            b[start:start + n] = bytes(x ^ 0xFF for x in b[start:start + n])
            yield f"flip_{region}{k}", bytes(b)


def zeros(data: bytes, seed: int, count: int = 2) -> Iterator[tuple[str, bytes]]:
    """Byte ranges (up to half a KiB) zeroed, ``count`` in each region."""
    for r, region in enumerate(REGIONS):
        for k, (start, n) in enumerate(_ranges(data, seed + 100 + r, region, count)):
            b = bytearray(data)
            b[start:start + n * 8] = bytes(len(b[start:start + n * 8]))
            yield f"zero_{region}{k}", bytes(b)


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, str]]:
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[i:i + 8])
        if size < 8:
            return
        yield i, size, kind.decode("latin1")
        i += size


def _find(buf: bytes, start: int, end: int, path: list[str]) -> Iterator[tuple[int, int]]:
    for i, size, kind in _boxes(buf, start, end):
        if kind == path[0]:
            if len(path) == 1:
                yield i, size
            else:
                yield from _find(buf, i + 8, i + size, path[1:])


def audio_at_dts_zero(mp4: bytes) -> bytes:
    """An MP4/MOV whose audio track's ``stts`` puts every sample at DTS 0 (all deltas 0)."""
    b = bytearray(mp4)
    for moov, msize in _find(b, 0, len(b), ["moov"]):
        for trak, tsize in _find(b, moov + 8, moov + msize, ["trak"]):
            hdlr = next(_find(b, trak + 8, trak + tsize, ["mdia", "hdlr"]))[0]
            if b[hdlr + 16:hdlr + 20] != b"soun":
                continue
            stts = next(_find(b, trak + 8, trak + tsize, ["mdia", "minf", "stbl", "stts"]))[0]
            entries = struct.unpack(">I", b[stts + 12:stts + 16])[0]
            for k in range(entries):
                off = stts + 16 + 8 * k + 4
                b[off:off + 4] = bytes(4)
    return bytes(b)


def remux(src: Path, dst: Path, audio_fix=None, video_filter=None) -> Path:
    """Copy ``src`` into ``dst`` packet by packet, letting ``audio_fix(packet, n)`` change
    audio timestamps and ``video_filter(packet)`` drop video packets (False)."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        out = {s.index: o.add_stream_from_template(s) for s in i.streams}
        n = 0
        for packet in i.demux():
            if packet.size == 0:
                continue
            if packet.stream.type == "audio" and audio_fix is not None:
                audio_fix(packet, n)
                n += 1
            if packet.stream.type == "video" and video_filter is not None \
                    and not video_filter(packet):
                continue
            packet.stream = out[packet.stream.index]
            o.mux(packet)
    return dst


def repeated_audio_dts(src: Path, dst: Path) -> Path:
    """Every third audio packet repeats the previous packet's DTS (Matroska accepts it)."""
    def fix(packet: av.Packet, n: int) -> None:
        if n % 3 == 1:
            step = packet.duration or 1
            packet.dts -= step
            packet.pts -= step
    return remux(src, dst, audio_fix=fix)


def without_key_frames(src: Path, dst: Path) -> Path:
    """The video without its key frames: nothing can be decoded."""
    return remux(src, dst, video_filter=lambda p: not p.is_keyframe and p.dts is not None)


def _h264_annexb(width: int, height: int, frames: int, level: int) -> list[bytes]:
    """Packets of a raw H.264 stream with SPS/PPS repeated in-band, no B-frames."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = ctx.framerate = 15
    ctx.options = {"x264-params": "repeat-headers=1:bframes=0:keyint=5"}
    out = []
    for i in range(frames):
        image = np.full((height, width, 3), level + 5 * i, np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = i
        out += [bytes(p) for p in ctx.encode(frame)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out


def size_change(dst: Path, first: tuple[int, int] = (96, 64),
                second: tuple[int, int] = (128, 80), frames: int = 8) -> Path:
    """A clip whose picture size changes half-way (in-band SPS), in ``dst``'s container."""
    packets = _h264_annexb(*first, frames, 30) + _h264_annexb(*second, frames, 60)
    tb = Fraction(1, 15)
    with av.open(str(dst), "w") as o:
        stream = o.add_stream("h264", rate=15)
        stream.width, stream.height = first
        for i, data in enumerate(packets):
            packet = av.Packet(data)
            packet.stream = stream
            packet.time_base = tb
            packet.pts = packet.dts = i
            packet.is_keyframe = i % 5 == 0
            o.mux(packet)
    return dst
