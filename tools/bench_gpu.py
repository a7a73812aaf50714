#!/usr/bin/env python3
"""GPU benchmark of a TensorRT engine, trtexec-style: H2D, compute and D2H times measured with
CUDA events, and the throughput of the pipelined runner (upload of N+1 overlapping compute of N).

Needs an NVIDIA GPU with TensorRT and pycuda, and an engine from ``build_engine.py``:

    python build_engine.py --model zero_dce_pp --precision fp16
    python tools/bench_gpu.py --model zero_dce_pp --sizes 1280x720 1920x1080
    python tools/bench_gpu.py --engine engines/X.engine --iterations 500
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipeline.errors import NocturneError  # noqa: E402


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
            "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99))}


def bench(engine: Path, width: int, height: int, iterations: int) -> dict[str, object]:
    from pipeline.deploy.trt import TrtRunner, check_cuda

    frame = np.random.default_rng(0).integers(0, 80, (1, height, width, 3), dtype=np.uint8)
    with TrtRunner(engine) as runner:
        cuda = runner._cuda
        stream = runner._streams[0]
        events = [check_cuda("cuEventCreate", cuda.Event) for _ in range(4)]
        host_in, host_out = runner._host_in[0], runner._host_out[0]
        dev_in, dev_out = runner._dev_in[0], runner._dev_out[0]
        n = frame.size
        host_in[:n] = frame.reshape(-1)
        runner.context.set_input_shape(runner.input_name, frame.shape)
        runner.context.set_tensor_address(runner.input_name, int(dev_in))
        runner.context.set_tensor_address(runner.output_name, int(dev_out))
        phases: dict[str, list[float]] = {"h2d_ms": [], "compute_ms": [], "d2h_ms": []}
        for i in range(iterations + 10):
            events[0].record(stream)
            cuda.memcpy_htod_async(dev_in, host_in[:n], stream)
            events[1].record(stream)
            runner.context.execute_async_v3(stream.handle)
            events[2].record(stream)
            cuda.memcpy_dtoh_async(host_out[:n], dev_out, stream)
            events[3].record(stream)
            events[3].synchronize()
            if i >= 10:  # warm-up done
                phases["h2d_ms"].append(events[1].time_since(events[0]))
                phases["compute_ms"].append(events[2].time_since(events[1]))
                phases["d2h_ms"].append(events[3].time_since(events[2]))
        # the runner as the pipeline uses it: two batches in flight
        t0 = time.perf_counter()
        runner.submit(frame)
        for _ in range(iterations - 1):
            runner.submit(frame)
            runner.collect()
        runner.collect()
        pipelined_fps = iterations / (time.perf_counter() - t0)
    return {"engine": str(engine), "size": f"{width}x{height}",
            **{k: percentiles(v) for k, v in phases.items()},
            "pipelined_fps_incl_host_copies": pipelined_fps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--engine", help="an engine file (sidecar beside it)")
    group.add_argument("--model", help="the newest engine of this model under --engines-dir")
    parser.add_argument("--engines-dir", default="engines")
    parser.add_argument("--sizes", nargs="+", default=["1280x720"])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--json", default=str(ROOT / "bench_out" / "bench_gpu.json"))
    args = parser.parse_args(argv)
    try:
        from pipeline.deploy.trt import find_engine

        engine = Path(args.engine) if args.engine else find_engine(args.engines_dir, args.model)
        if engine is None:
            raise NocturneError(f"no engine for {args.model!r} under {args.engines_dir!r}; "
                                f"run build_engine.py --model {args.model}")
        rows = []
        for size in args.sizes:
            w, h = (int(v) for v in size.lower().split("x"))
            row = bench(engine, w, h, args.iterations)
            rows.append(row)
            print(f"{row['size']:>10}  H2D {row['h2d_ms']['mean']:.3f} ms  compute "
                  f"{row['compute_ms']['mean']:.3f} ms (p95 {row['compute_ms']['p95']:.3f})  "
                  f"D2H {row['d2h_ms']['mean']:.3f} ms  pipelined "
                  f"{row['pipelined_fps_incl_host_copies']:.1f} FPS")
    except (NocturneError, ValueError) as exc:
        print(f"bench_gpu.py: error: {exc}", file=sys.stderr)
        return 1
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
