#!/usr/bin/env python3
"""Enhancement-only benchmark: FPS of each model on each CPU backend, at 720p and 1080p.

Times ``enhancer(frame)`` on a generated night frame (uint8 RGB in, uint8 RGB out: the work the
enhance thread does per frame, conversions included), after warm-up, best of ``--repeat``
timed runs of ``--frames`` calls. Backends: ``torch`` (the registered PyTorch enhancer; Zero-DCE++
applies its curve by lookup table) and ``onnxruntime`` (the exported uint8 frame graph).
A ratio column compares each backend with the first one of its model.

    python tools/bench_models.py                                  # all models, both sizes
    python tools/bench_models.py --models zero_dce_pp --sizes 1280x720 --threads 2

End-to-end file -> file FPS with a backend is ``tools/bench.py --enhancers onnxruntime``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipeline.enhancers import build_enhancer  # noqa: E402
from pipeline.errors import NocturneError  # noqa: E402
from pipeline.media import parse_size  # noqa: E402

MODELS = ("lowres_guided", "zero_dce_pp", "zero_dce", "unet_gn")
BACKENDS = ("torch", "onnxruntime")


def night_frame(width: int, height: int) -> np.ndarray:
    """One frame of the procedural night road (the same generator as the sample clip)."""
    from pipeline.sample import render_night_frames

    return next(render_night_frames(width, height, 1, seed=0))[None]


def make(model: str, backend: str, threads: int | None) -> object:
    if backend == "torch":
        return build_enhancer(model, threads=threads)
    return build_enhancer("onnxruntime", model=model, threads=threads)


def time_enhancer(enhancer: object, frame: np.ndarray, frames: int, repeat: int) -> float:
    """Best frames per second over ``repeat`` runs of ``frames`` calls."""
    enhancer.start()  # type: ignore[attr-defined]
    for _ in range(2):
        enhancer(frame)  # type: ignore[operator]
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(frames):
            enhancer(frame)  # type: ignore[operator]
        best = max(best, frames / (time.perf_counter() - t0))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"])
    parser.add_argument("--frames", type=int, default=10, help="calls per timed run")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads (default: the backend's own choice)")
    parser.add_argument("--json", default=str(ROOT / "bench_out" / "bench_models.json"))
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error(f"--frames must be >= 1, got {args.frames}")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    results = []
    print(f"cpu cores: {os.cpu_count()}, threads {args.threads or 'default'}, best of "
          f"{args.repeat} x {args.frames} frames")
    print(f"{'size':>10} {'model':>12} {'backend':>12} {'fps':>8} {'ms/frame':>9} {'ratio':>6}")
    for size in args.sizes:
        w, h = parse_size(size)  # a bad one: ValueError, one line from run_tool
        frame = night_frame(w, h)
        for model in args.models:
            first: float | None = None
            for backend in args.backends:
                try:
                    enhancer = make(model, backend, args.threads)
                    fps = time_enhancer(enhancer, frame, args.frames, args.repeat)
                    enhancer.close()  # type: ignore[attr-defined]
                except NocturneError as exc:
                    print(f"{size:>10} {model:>12} {backend:>12}  failed: {exc}")
                    continue
                first = first or fps
                print(f"{size:>10} {model:>12} {backend:>12} {fps:8.1f} {1000 / fps:9.1f} "
                      f"{fps / first:6.2f}", flush=True)
                results.append({"size": size, "model": model, "backend": backend,
                                "fps": round(fps, 2), "ms_per_frame": round(1000 / fps, 2)})
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpu_cores": os.cpu_count(), "threads": args.threads,
                               "results": results}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    from pipeline.errors import run_tool

    sys.exit(run_tool("bench_models.py", main))
