#!/usr/bin/env python3
"""Batch benchmark: files per minute and frames per second for N generated drives, the local
batch path against Ray on this machine (one actor, and one actor per ``--cpus-per-worker``).

Each run writes to a fresh output folder (nothing is skipped). Ray's start-up is timed apart
from the work: "wall" includes it, "work" starts when the first actor is ready.

    python tools/bench_batch.py                            # 8 clips of 640x360, 4 s, gamma
    python tools/bench_batch.py --clips 12 --enhancer clahe --size 1280x720
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.batch.job import Manifest, discover, plan_jobs, settings_fingerprints  # noqa: E402
from pipeline.batch.local import run_local  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.media import parse_size  # noqa: E402
from pipeline.sample import write_night_clip  # noqa: E402


def run(kind: str, src: Path, out: Path, cfg, workers: int | None = None,
        cpus: float = 1.0) -> dict:
    """One timed batch over ``src``; returns files, frames, wall and work seconds."""
    if out.exists():
        shutil.rmtree(out)
    jobs, _ = plan_jobs(discover([str(src)]), out, "auto")
    settings = settings_fingerprints(cfg)
    t0 = time.perf_counter()
    if kind == "local":
        summary = run_local(jobs, cfg, Manifest(out), settings, progress=False)
        work = time.perf_counter() - t0
    else:
        import ray

        from pipeline.batch.ray_backend import run_ray

        ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        ready = time.perf_counter()
        summary = run_ray(jobs, cfg, Manifest(out), settings, workers=workers,
                          cpus_per_worker=cpus, progress=False)
        work = time.perf_counter() - ready
        ray.shutdown()
    wall = time.perf_counter() - t0
    frames = sum(r.frames for r in summary.records)
    bad = [r for r in summary.records if r.status != "done"]
    if bad:
        raise SystemExit(f"{kind}: {len(bad)} file(s) not done: {bad[0].error}")
    return {"run": kind if workers is None else f"{kind} x{workers}", "files": len(jobs),
            "frames": frames, "wall_s": round(wall, 2), "work_s": round(work, 2),
            "files_per_min": round(60 * len(jobs) / wall, 1),
            "fps": round(frames / wall, 1), "fps_work": round(frames / work, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--enhancer", default="gamma")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--json", default="out/bench_batch.json")
    args = parser.parse_args()
    if args.clips < 1:
        parser.error(f"--clips must be >= 1, got {args.clips}")
    logging.basicConfig(level=logging.ERROR)
    try:
        width, height = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    cfg = load_config(None, [f"enhancer={{type: {args.enhancer}}}",
                             f"sink.preset={args.preset}", "run.stats_interval_s=0"])
    with tempfile.TemporaryDirectory(prefix="nocturne-bench-batch-") as tmp:
        src = Path(tmp) / "drives"
        for i in range(args.clips):
            (src / f"day{i % 2}").mkdir(parents=True, exist_ok=True)
            write_night_clip(src / f"day{i % 2}" / f"drive{i:03d}.mp4", width=width,
                             height=height, seconds=args.seconds, seed=i)
        rows = [run("local", src, Path(tmp) / "local", cfg)]
        if not args.no_ray:
            import os

            cores = os.cpu_count() or 1
            rows.append(run("ray", src, Path(tmp) / "ray1", cfg, workers=1,
                            cpus=float(cores)))
            per = max(1, int(cores // args.cpus_per_worker))
            if per > 1:
                rows.append(run("ray", src, Path(tmp) / "rayN", cfg, workers=per,
                                cpus=args.cpus_per_worker))
    base = rows[0]["fps"]
    print(f"{args.clips} clips of {args.size}, {args.seconds:g} s, enhancer {args.enhancer}, "
          f"x264 {args.preset}")
    print("| run | files/min | frames/s (wall) | frames/s (after start-up) | vs local |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['run']} | {r['files_per_min']} | {r['fps']} | {r['fps_work']} | "
              f"{r['fps'] / base:.2f}x |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from pipeline.errors import run_tool

    sys.exit(run_tool("bench_batch.py", main))
