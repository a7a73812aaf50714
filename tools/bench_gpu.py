#!/usr/bin/env python3
"""GPU benchmark, trtexec-style: H2D, compute and D2H times measured with CUDA events, and the
throughput of the pipelined runner (upload of N+1 and download of N-1 overlapping compute of N),
host uint8 in and host uint8 out, for a TensorRT engine or a PyTorch model
(``pipeline.enhancers.torch_runtime.TorchRunner``); with ``--encoder`` also the encoder's own
FPS on this machine (libx264 at the given presets), and GPU utilization where NVML is there.

    python build_engine.py --model zero_dce_pp --precision fp16
    python tools/bench_gpu.py --model zero_dce_pp --sizes 1280x720 1920x1080
    python tools/bench_gpu.py --engine engines/X.engine --iterations 500
    python tools/bench_gpu.py --torch unet_gn zero_dce_pp zero_dce --precision fp16 \
        --batch 1 4 --graphs --sizes 1920x1080 --encoder ultrafast superfast veryfast
    python tools/bench_gpu.py --torch unet_gn --precision fp16 --batch 4 --plain  # NCHW
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipeline.errors import NocturneError  # noqa: E402
from pipeline.media import parse_size  # noqa: E402


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
            "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99))}


def pipelined(runner: object, frames: np.ndarray, iterations: int) -> float:
    """Frames per second of a runner used as the pipeline uses it: two batches in flight."""
    t0 = time.perf_counter()
    runner.submit(frames)  # type: ignore[attr-defined]
    for _ in range(iterations - 1):
        runner.submit(frames)  # type: ignore[attr-defined]
        runner.collect()  # type: ignore[attr-defined]
    runner.collect()  # type: ignore[attr-defined]
    return iterations * len(frames) / (time.perf_counter() - t0)


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
        pipelined_fps = pipelined(runner, frame, iterations)
    return {"engine": str(engine), "size": f"{width}x{height}",
            **{k: percentiles(v) for k, v in phases.items()},
            "pipelined_fps_incl_host_copies": pipelined_fps}


def bench_torch(model_name: str, width: int, height: int, iterations: int, precision: str,
                batch: int, graphs: bool, device: str, gpu_layout: bool = True
                ) -> dict[str, object]:
    """The PyTorch runner on CUDA: phases by CUDA events on one stream, then pipelined FPS."""
    import torch

    from pipeline.enhancers import build_enhancer
    from pipeline.enhancers.torch_runtime import CudaOps, TorchRunner

    enhancer = build_enhancer(model_name, device=device)  # the shipped weights, checked
    runner = TorchRunner(enhancer.model, CudaOps(torch.device(device)), precision, graphs=graphs,
                         gpu_layout=gpu_layout)
    frames = np.random.default_rng(0).integers(0, 80, (batch, height, width, 3), dtype=np.uint8)
    host_in = torch.from_numpy(frames).pin_memory()
    host_out = torch.empty_like(host_in).pin_memory()
    events = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
    phases: dict[str, list[float]] = {"h2d_ms": [], "compute_ms": [], "d2h_ms": []}
    with torch.inference_mode():
        for i in range(iterations + 10):
            events[0].record()
            dev_in = host_in.to(device, non_blocking=True)
            events[1].record()
            out = runner._compute_batch(dev_in)
            events[2].record()
            host_out.copy_(out, non_blocking=True)
            events[3].record()
            events[3].synchronize()
            if i >= 10:
                phases["h2d_ms"].append(events[0].elapsed_time(events[1]))
                phases["compute_ms"].append(events[1].elapsed_time(events[2]))
                phases["d2h_ms"].append(events[2].elapsed_time(events[3]))
    with Utilization(runner.ops.device.index or 0) as busy:
        fps = pipelined(runner, frames, iterations)
    return {"model": model_name, "backend": "torch", "precision": precision, "batch": batch,
            "graphs": graphs, "graph_runs": runner.graph_runs, "gpu_layout": gpu_layout,
            "size": f"{width}x{height}",
            "gpu": torch.cuda.get_device_name(torch.device(device)),
            **{k: percentiles(v) for k, v in phases.items()},
            "pipelined_fps_incl_host_copies": fps, "gpu_utilization_pct": busy.value}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


class Utilization:
    """Mean GPU utilization (%) while the ``with`` block runs, sampled by NVML (pynvml) every
    50 ms in a thread; ``value`` is None where NVML is not installed or not answering."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.value: float | None = None
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self, handle: object) -> None:
        import pynvml  # type: ignore[import-not-found]

        while not self._stop.wait(0.05):
            self._samples.append(float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu))

    def __enter__(self) -> "Utilization":
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
        except Exception:  # no NVML: utilization is simply not reported
            return self
        self._thread = threading.Thread(target=self._poll, args=(handle,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            if self._samples:
                self.value = float(np.mean(self._samples))


def encoder_fps(width: int, height: int, preset: str, frames: int = 120) -> float:
    """libx264 alone (yuv420p, CRF 20) on generated night frames: the ceiling of any file job."""
    import io

    import av

    from pipeline.sample import render_night_frames

    images = list(render_night_frames(width, height, 30, seed=0))
    with av.open(io.BytesIO(), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": preset, "crf": "20"}
        video = [av.VideoFrame.from_ndarray(images[i % len(images)], format="rgb24")
                 .reformat(format="yuv420p") for i in range(frames)]
        t0 = time.perf_counter()
        for i, frame in enumerate(video):
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        return frames / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--engine", help="an engine file (sidecar beside it)")
    group.add_argument("--model", help="the newest engine of this model under --engines-dir")
    group.add_argument("--torch", nargs="+", metavar="MODEL",
                       help="PyTorch models through the CUDA runner (shipped weights)")
    parser.add_argument("--precision", nargs="+", default=["fp32"],
                        choices=["fp32", "fp16", "bf16"], help="--torch precisions")
    parser.add_argument("--batch", nargs="+", type=int, default=[1], help="--torch batch sizes")
    parser.add_argument("--graphs", action="store_true", help="--torch: CUDA graphs")
    parser.add_argument("--plain", action="store_true",
                        help="--torch: PyTorch's own layout and GroupNorm (NCHW), to compare")
    parser.add_argument("--device", default="cuda:0", help="--torch: the CUDA device")
    parser.add_argument("--encoder", nargs="*", default=[], metavar="PRESET",
                        help="also time libx264 alone at these presets")
    parser.add_argument("--engines-dir", default="engines")
    parser.add_argument("--sizes", nargs="+", default=["1280x720"])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--json", default=str(ROOT / "bench_out" / "bench_gpu.json"))
    args = parser.parse_args(argv)
    try:
        sizes = [(size, *parse_size(size)) for size in args.sizes]
    except ValueError as exc:
        parser.error(str(exc))
    rows = []
    for size, w, h in sizes:
        for preset in args.encoder:
            fps = encoder_fps(w, h, preset)
            rows.append({"size": size, "encoder": preset, "fps": fps})
            print(f"{size:>10}  libx264 {preset}: {fps:.1f} FPS")
    for model in args.torch or []:
        for size, w, h in sizes:
            for precision in args.precision:
                for batch in args.batch:
                    row = bench_torch(model, w, h, args.iterations, precision, batch,
                                      args.graphs, args.device, not args.plain)
                    rows.append(row)
                    layout = "plain" if args.plain else "nhwc"
                    print(f"{size:>10} {model:>14} {precision} b{batch} {layout}  H2D "
                          f"{row['h2d_ms']['mean']:.3f} ms  compute "
                          f"{row['compute_ms']['mean']:.3f} ms  D2H "
                          f"{row['d2h_ms']['mean']:.3f} ms  pipelined "
                          f"{row['pipelined_fps_incl_host_copies']:.1f} FPS "
                          f"util {_pct(row['gpu_utilization_pct'])} ({row['gpu']})")
    from pipeline.deploy.trt import find_engine

    engine = None if args.torch else (
        Path(args.engine) if args.engine else find_engine(args.engines_dir, args.model))
    if engine is None and not args.torch:
        raise NocturneError(f"no engine for {args.model!r} under {args.engines_dir!r}; "
                            f"run build_engine.py --model {args.model}")
    for size, w, h in sizes if engine is not None else []:
        row = bench(engine, w, h, args.iterations)
        rows.append(row)
        print(f"{row['size']:>10}  H2D {row['h2d_ms']['mean']:.3f} ms  compute "
              f"{row['compute_ms']['mean']:.3f} ms (p95 {row['compute_ms']['p95']:.3f})  "
              f"D2H {row['d2h_ms']['mean']:.3f} ms  pipelined "
              f"{row['pipelined_fps_incl_host_copies']:.1f} FPS")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    from pipeline.errors import run_tool

    sys.exit(run_tool("bench_gpu.py", main))
