#!/usr/bin/env python3
"""The encoder's cost of each enhancer's picture: x264 on the enhanced frames against x264 on
the original frames, nothing else in the loop.

An end-to-end run is compared with pass-through (decode → encode of the same clip), but the
two encode different pictures: the dark original, mostly flat, and the enhanced one, brighter,
with its noise and detail lifted — which x264 takes longer over at any preset. This measures
that part alone: the clip (the generated night drive, or ``--input``) is decoded into memory
and each enhancer run over it first, untimed; then each picture is encoded from memory with
libx264 (yuv420p, ``--crf``) at each preset, best of ``--repeat`` interleaved rounds. The
ratio enhanced / original is the most any end-to-end run of that enhancer can reach against
pass-through at those settings, however fast the model::

    python tools/bench_encode.py --size 1920x1080 --seconds 4 \\
        --enhancers unet_gn lowres_guided zero_dce_pp --presets ultrafast superfast veryfast
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.enhancers import build_enhancer  # noqa: E402
from pipeline.errors import ConfigError  # noqa: E402
from pipeline.media import parse_size  # noqa: E402
from pipeline.training.evaluate import parse_enhancer_spec  # noqa: E402

RATE = Fraction(30)


def decode(path: Path, limit: int) -> list[np.ndarray]:
    """Up to ``limit`` RGB frames of ``path``'s first video stream, each with even sides
    (4:2:0 needs them: the last row or column repeated, as the file sink does)."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            frames.append(np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))
            if len(frames) == limit:
                break
    if not frames:
        raise ValueError(f"{path}: no video frame could be decoded")
    return frames


def enhance(spec: str, frames: list[np.ndarray]) -> list[np.ndarray]:
    """``frames`` through the enhancer ``spec`` (``NAME[,key=value...]``), one at a time, as a
    stream would pass them."""
    _, name, kwargs = parse_enhancer_spec(spec)
    with build_enhancer(name, **kwargs) as enhancer:
        return [enhancer(frame[None])[0] for frame in frames]


def encode_fps(frames: list[av.VideoFrame], preset: str, crf: float, dst: Path) -> float:
    """Frames per second of libx264 encoding ``frames`` (already yuv420p) into ``dst``."""
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height = frames[0].width, frames[0].height
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = 1 / RATE
        stream.options = {"preset": preset, "crf": f"{crf:g}"}
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            frame.pts, frame.time_base = i, 1 / RATE
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        return len(frames) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1920x1080", help="WxH of the generated clip")
    parser.add_argument("--seconds", type=float, default=4.0, help="generated clip length")
    parser.add_argument("--input", default=None, help="a video of one's own instead")
    parser.add_argument("--frames", type=int, default=120, help="frames used, at most")
    parser.add_argument("--enhancers", nargs="+", default=["lowres_guided"], metavar="SPEC")
    parser.add_argument("--presets", nargs="+", default=["ultrafast", "superfast", "veryfast"])
    parser.add_argument("--crf", type=float, default=20)
    parser.add_argument("--repeat", type=int, default=5, help="rounds; best kept")
    args = parser.parse_args(argv)
    try:
        width, height = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    for name, ok, rule in (("--seconds", 0 < args.seconds <= 600, "in (0, 600]"),
                           ("--frames", 1 <= args.frames <= 10_000, "in 1..10000"),
                           ("--crf", 0 <= args.crf <= 51, "in 0..51"),
                           ("--repeat", 1 <= args.repeat <= 100, "in 1..100")):
        if not ok:
            parser.error(f"{name} must be {rule}, got {getattr(args, name[2:])}")
    for preset in args.presets:
        # each preset checked as a run's config checks it: one line naming the valid ones
        load_config(raw={"sink": {"preset": preset, "crf": args.crf}})
    specs: dict[str, str] = {}  # column label -> enhancer spec
    for spec in args.enhancers:
        label = parse_enhancer_spec(spec)[0]
        if label in specs or label == "original":
            raise ConfigError(f"--enhancers: {label!r} is there twice (or is the original's "
                              f"name); name one LABEL:{spec}")
        specs[label] = spec
    with tempfile.TemporaryDirectory(prefix="nocturne-bench-encode-") as work:
        if args.input is not None:
            source = Path(args.input)
            if not source.is_file():
                raise ValueError(f"--input {source}: no such file")
        else:
            from pipeline.sample import write_night_clip

            source = Path(work) / "night.mp4"
            write_night_clip(source, width=width, height=height, fps=RATE,
                             seconds=args.seconds, audio=False, seed=0)
        frames = decode(source, args.frames)
        pictures = {"original": frames}
        for label, spec in specs.items():
            pictures[label] = enhance(spec, frames)
        yuv = {name: [av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p")
                      for f in images] for name, images in pictures.items()}
        h, w = frames[0].shape[:2]
        print(f"cpu cores: {os.cpu_count()}, {w}x{h}, {len(frames)} frames, libx264 crf "
              f"{args.crf:g}, best of {args.repeat}; FPS (enhanced / original)")
        widths = {name: max(24, len(name)) for name in yuv}
        print(f"{'preset':>10} " + " ".join(f"{name:>{widths[name]}}" for name in yuv))
        for preset in args.presets:
            # rounds interleaved (each picture once per round), so that a slow spell of a
            # shared machine falls on every picture alike; the best of the rounds is kept
            best = dict.fromkeys(yuv, 0.0)
            for _ in range(args.repeat):
                for name, images in yuv.items():
                    best[name] = max(best[name], encode_fps(images, preset, args.crf,
                                                            Path(work) / "out.mp4"))
            base = best["original"]
            cells = [f"{base:{widths['original']}.1f}"] + [
                f"{fps:{widths[name] - 7}.1f} ({fps / base:4.2f})" for name, fps in best.items()
                if name != "original"]
            print(f"{preset:>10} " + " ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    from pipeline.errors import run_tool

    sys.exit(run_tool("bench_encode.py", main))
