#!/usr/bin/env python3
"""Temporal stability of enhancers on video: brightness pumping and flicker, side by side.

* **Pumping** (a generated night drive, 640x360, 48 frames): from frame 20 to 27 a headlight
  (a bright blob) sweeps across the lower right of the frame. An enhancer that adapts its
  transform to the frame's content brightens or darkens the *rest* of the picture while it is
  there. Reported: the largest change of the output's mean luma in the top-left quarter (far
  from the light) against its mean over the 10 frames before, in levels; the input's own
  change is the floor.
* **Flicker** (``../shared/data/sequences``: real near-still frames in low light, 4 per scene):
  mean absolute change between consecutive output frames divided by the same for the input
  frames (1: the output moves exactly as much as the input).

Each enhancer runs as it would on a stream (one instance per clip, its temporal state kept):

    python tools/bench_temporal.py --enhancer zero_dce_pp --enhancer unet_gn \\
        --enhancer lowres_guided --enhancer nosmooth:lowres_guided,temporal=0
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.enhancers import build_enhancer  # noqa: E402
from pipeline.training.evaluate import parse_enhancer_spec  # noqa: E402

SEQUENCES = ROOT.parent / "shared" / "data" / "sequences"
LIGHT_FRAMES = range(20, 28)


def headlight_clip(width: int = 640, height: int = 360, frames: int = 48) -> np.ndarray:
    """The night drive with a headlight sweeping across its lower right in LIGHT_FRAMES."""
    from pipeline.sample import render_night_frames

    clip = np.stack(list(render_night_frames(width, height, frames, fps=30, seed=3)))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for k, i in enumerate(LIGHT_FRAMES):
        cx, cy = width * (0.55 + 0.05 * k), height * 0.75
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.08 * height) ** 2))
        light = (blob[..., None] * np.array([255.0, 250.0, 235.0])).astype(np.float32)
        clip[i] = np.clip(clip[i].astype(np.float32) + light, 0, 255).astype(np.uint8)
    return clip


def pumping(frames: np.ndarray) -> float:
    """Largest change of the top-left quarter's mean luma in LIGHT_FRAMES against before."""
    h, w = frames.shape[1:3]
    luma = np.array([cv2.cvtColor(f[: h // 2, : w // 2], cv2.COLOR_RGB2GRAY).mean()
                     for f in frames])
    before = luma[LIGHT_FRAMES.start - 10:LIGHT_FRAMES.start].mean()
    return float(np.abs(luma[LIGHT_FRAMES.start:LIGHT_FRAMES.stop] - before).max())


def flicker(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> float:
    def steps(frames: list[np.ndarray]) -> float:
        return float(np.mean([np.abs(a.astype(np.float32) - b).mean()
                              for a, b in zip(frames, frames[1:])]))
    return steps(outputs) / max(steps(inputs), 1e-6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enhancer", action="append", default=[], metavar="SPEC")
    args = parser.parse_args(argv)
    clip = headlight_clip()
    scenes: dict[str, list[np.ndarray]] = {}
    if SEQUENCES.is_dir():
        for path in sorted(SEQUENCES.glob("*.png")):
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            scenes.setdefault(path.stem.rsplit("_f", 1)[0], []).append(image)
    rows = [("input", pumping(clip), 1.0)]
    for spec in args.enhancer:
        label, name, kwargs = parse_enhancer_spec(spec)
        enhancer = build_enhancer(name, **kwargs)
        out = np.stack([enhancer(f[None])[0] for f in clip])
        ratios = []
        for frames in scenes.values():
            fresh = build_enhancer(name, **kwargs)  # one stream per scene
            ratios.append(flicker(frames, [fresh(f[None])[0] for f in frames]))
        rows.append((label, pumping(out), float(np.mean(ratios)) if ratios else float("nan")))
    print(f"{'method':>24} | {'pumping (levels)':>16} | {'flicker vs input':>16}")
    for label, pump, flick in rows:
        print(f"{label:>24} | {pump:16.2f} | {flick:16.2f}")
    return 0


if __name__ == "__main__":
    from pipeline.errors import run_tool

    sys.exit(run_tool("bench_temporal.py", main))
