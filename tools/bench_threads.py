#!/usr/bin/env python3
"""Enhancer thread counts under load: per-frame time with the machine idle and with cores busy.

The enhance stage shares the CPU with the decoder, the encoder and whatever else the box runs.
An intra-op thread pool as wide as the machine stalls at every operator barrier when one of
its threads loses its core, so the default thread count must leave room. This measures the
median and 95th-percentile time of ``enhancer(frame)`` for each ``threads`` value (``auto`` is
the default the enhancers pick, :func:`pipeline.enhancers.base.default_threads`), idle and with
``--busy`` processes spinning on the CPU, side by side; then the same inside a live pipeline
(``run_stream.py`` on a generated clip read in real time, so the decoder and encoder compete
too): the enhance stage's median and the share of frames the live queue dropped.

    python tools/bench_threads.py                                # onnxruntime zero_dce_pp, 720p
    python tools/bench_threads.py --enhancer zero_dce_pp --threads auto 1 2 --busy 1
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipeline.enhancers import build_enhancer  # noqa: E402
from pipeline.enhancers.base import default_threads  # noqa: E402


def _spin() -> None:
    while True:
        pass


def _timings(spec: str, threads: int | None, frame: np.ndarray, frames: int) -> np.ndarray:
    kwargs = {"model": "zero_dce_pp"} if spec == "onnxruntime" else {}
    if threads is not None:
        kwargs["threads"] = threads
    enhancer = build_enhancer(spec, **kwargs)
    enhancer.start()
    try:
        for _ in range(3):
            enhancer(frame)
        out = []
        for _ in range(frames):
            t0 = time.perf_counter()
            enhancer(frame)
            out.append(time.perf_counter() - t0)
        return np.array(out) * 1000
    finally:
        enhancer.close()


def _live_run(threads: int | None, clip: Path, out: Path) -> tuple[float, float]:
    """(enhance p50 ms, dropped %) of a live run of ``clip`` through onnxruntime zero_dce_pp."""
    import json
    import subprocess

    stats = out.with_suffix(".json")
    sets = ["--set", "enhancer={type: onnxruntime, model: zero_dce_pp}",
            "--set", "source.realtime=true"]
    if threads is not None:
        sets += ["--set", f"enhancer.threads={threads}"]
    subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "-i", str(clip), "-o", str(out),
                    "--stats-json", str(stats), "-q", "--no-progress", *sets], check=True)
    data = json.loads(stats.read_text())
    dropped = 100.0 * data["dropped"] / max(1, data["frames_in"])
    return data["stages"]["enhance"]["latency_ms_p50"], dropped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enhancer", default="onnxruntime",
                        help="enhancer name (onnxruntime runs zero_dce_pp)")
    parser.add_argument("--threads", nargs="+", default=["auto", "1", "2"])
    parser.add_argument("--busy", type=int, default=1, help="spinning processes for 'loaded'")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=6.0, help="live clip length")
    parser.add_argument("--no-live", action="store_true", help="skip the live pipeline runs")
    args = parser.parse_args(argv)
    from pipeline.sample import render_night_frames

    w, h = (int(v) for v in args.size.split("x"))
    frame = next(render_night_frames(w, h, 1, seed=0))[None]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{args.enhancer} at {args.size}, {cores} cores; auto = {default_threads()} thread(s);"
          f" loaded = {args.busy} spinning process(es)")
    print(f"{'threads':>8} | {'idle p50':>9} {'p95':>7} | {'loaded p50':>10} {'p95':>7} | "
          f"{'loaded/idle':>11}")
    for t in args.threads:
        threads = None if t == "auto" else int(t)
        idle = _timings(args.enhancer, threads, frame, args.frames)
        busy = [mp.Process(target=_spin, daemon=True) for _ in range(args.busy)]
        for p in busy:
            p.start()
        try:
            loaded = _timings(args.enhancer, threads, frame, args.frames)
        finally:
            for p in busy:
                p.terminate()
                p.join()
        i50, i95 = np.percentile(idle, [50, 95])
        l50, l95 = np.percentile(loaded, [50, 95])
        print(f"{t:>8} | {i50:8.1f}ms {i95:6.1f}ms | {l50:9.1f}ms {l95:6.1f}ms | "
              f"{l50 / i50:10.1f}x")
    if args.no_live:
        return 0
    import tempfile

    from pipeline.sample import write_night_clip

    with tempfile.TemporaryDirectory() as tmp:
        clip = write_night_clip(Path(tmp) / "drive.mp4", w, h, fps=30, seconds=args.seconds,
                                audio=False).path
        print(f"\nlive pipeline, onnxruntime zero_dce_pp, {args.size} 30 fps read in real time")
        print(f"{'threads':>8} | {'idle enh p50':>12} {'dropped':>8} | {'loaded enh p50':>14} "
              f"{'dropped':>8}")
        for t in args.threads:
            threads = None if t == "auto" else int(t)
            idle = _live_run(threads, clip, Path(tmp) / f"idle_{t}.mp4")
            busy = [mp.Process(target=_spin, daemon=True) for _ in range(args.busy)]
            for p in busy:
                p.start()
            try:
                loaded = _live_run(threads, clip, Path(tmp) / f"busy_{t}.mp4")
            finally:
                for p in busy:
                    p.terminate()
                    p.join()
            print(f"{t:>8} | {idle[0]:10.1f}ms {idle[1]:7.0f}% | {loaded[0]:12.1f}ms "
                  f"{loaded[1]:7.0f}%")
    return 0


if __name__ == "__main__":
    from pipeline.errors import run_tool

    sys.exit(run_tool("bench_threads.py", main))
