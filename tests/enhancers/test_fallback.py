"""The ``fallback`` chain (start-up choice, run-time step-down on live sources) and the runner's
pipelined path (submit N+1 before collecting N) with a real concurrent enhancer."""
from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import load_config
from pipeline.enhancers import build_enhancer
from pipeline.enhancers.base import Enhancer
from pipeline.errors import ConfigError, NocturneError
from pipeline.streaming.runner import Pipeline
from tests.clips import make_clip, probe

FRAME = np.full((1, 24, 32, 3), 40, np.uint8)


def test_default_chain_takes_the_first_that_starts() -> None:
    enhancer = build_enhancer("fallback")
    with enhancer:
        out = enhancer(FRAME)
    assert out.shape == FRAME.shape
    try:
        import tensorrt  # noqa: F401
    except Exception:
        if not torch.cuda.is_available():
            assert enhancer.active == "onnxruntime:lowres_guided"
            assert set(enhancer.skipped) == {"tensorrt:unet_gn", "cuda:unet_gn",
                                             "tensorrt:zero_dce_pp"}
            assert "torch sees no CUDA device" in enhancer.skipped.pop("cuda:unet_gn")
            assert all("TensorRT is not available" in r for r in enhancer.skipped.values())


def test_cuda_entries_take_the_measured_gpu_settings() -> None:
    from pipeline.enhancers.fallback import parse_entry

    assert parse_entry("cuda:unet_gn") == ("unet_gn", {"device": "cuda", "precision": "fp16",
                                                        "graphs": True})
    # lowres_guided runs its own CUDA path: the device alone
    assert parse_entry("cuda:lowres_guided") == ("lowres_guided", {"device": "cuda"})
    for entry in ("cuda:clahe", "cuda:onnxruntime"):
        with pytest.raises(ConfigError, match="is not a PyTorch model"):
            parse_entry(entry)
    with pytest.raises(ConfigError, match="unknown enhancer 'nosuch'; valid names"):
        parse_entry("cuda:nosuch")


def test_chain_errors() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'gpu'"):
        build_enhancer("fallback", chain=["gpu:unet_gn"])
    with pytest.raises(ConfigError, match="unknown enhancer 'sharpen'"):
        build_enhancer("fallback", chain=["sharpen"])
    with pytest.raises(ConfigError, match="non-empty list"):
        build_enhancer("fallback", chain=[])
    broken = build_enhancer("fallback", chain=[{"type": "zero_dce", "weights": "/no/file.pt"}])
    with pytest.raises(NocturneError, match="no enhancer of the chain could start.*does not exist"):
        broken.start()


def _slow_then_fast() -> Enhancer:
    return build_enhancer("fallback", chain=[{"type": "passthrough", "delay_ms": 40},
                                             "classical:gamma"], window=3, patience=2)


def test_steps_down_on_a_live_source_that_it_cannot_hold() -> None:
    enhancer = _slow_then_fast()
    enhancer.configure_stream(live=True, target_fps=50.0)  # 20 ms budget, 40 ms taken
    with enhancer:
        for _ in range(6):
            enhancer(FRAME)
        assert enhancer.active == "classical:gamma"
        for _ in range(6):
            enhancer(FRAME)
    stats = enhancer.stats()
    assert stats["switches"] == 1 and stats["switch_log"][0]["budget_ms"] == pytest.approx(20)


def test_never_switches_offline_or_within_budget() -> None:
    offline = _slow_then_fast()
    offline.configure_stream(live=False, target_fps=50.0)
    relaxed = _slow_then_fast()
    relaxed.configure_stream(live=True, target_fps=10.0)  # 100 ms budget
    for enhancer in (offline, relaxed):
        with enhancer:
            for _ in range(8):
                enhancer(FRAME)
        assert enhancer.stats()["switches"] == 0


def test_switch_is_counted_in_the_run_stats(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "live.mp4", width=64, height=48, fps=15, seconds=2.0)
    stats_path = tmp_path / "stats.json"
    cfg = load_config(raw={
        "source": {"uri": str(clip), "realtime": True},
        "sink": {"uri": str(tmp_path / "o.mp4")},
        "enhancer": {"type": "fallback", "target_fps": 50.0, "window": 3, "patience": 2,
                     "chain": [{"type": "passthrough", "delay_ms": 40}, "classical:gamma"]},
        "run": {"stats_interval_s": 0, "progress": False, "stats_json": str(stats_path)},
    })
    Pipeline(cfg).run()
    stats = json.loads(stats_path.read_text())["enhancer_stats"]
    assert stats["switches"] == 1 and stats["active"] == "classical:gamma"


class ThreadedGamma(Enhancer):
    """A real pipelined enhancer: each batch is computed on a worker thread while the runner
    submits the next one (what the TensorRT enhancer does with CUDA streams)."""

    name = "threaded_gamma"
    max_in_flight = 2

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2)
        self.futures: list[Future[np.ndarray]] = []
        self.most_in_flight = 0
        self.lock = threading.Lock()
        lut = (np.linspace(0, 1, 256) ** 0.5 * 255).round().astype(np.uint8)
        self.lut = lut

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        return self.lut[frames]

    def submit(self, frames: np.ndarray) -> None:
        self.futures.append(self.pool.submit(self.enhance, frames.copy()))
        self.most_in_flight = max(self.most_in_flight, len(self.futures))

    def collect(self) -> np.ndarray:
        return self.futures.pop(0).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def test_pipelined_enhancer_keeps_every_frame_in_order(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", width=64, height=48, fps=15, seconds=2.0)
    frames_dir = tmp_path / "frames"
    cfg = load_config(raw={"source": {"uri": str(clip)},
                           "sink": {"uri": f"images://{frames_dir}"},
                           "run": {"stats_interval_s": 0, "progress": False}})
    enhancer = ThreadedGamma()
    result = Pipeline(cfg, enhancer=enhancer).run()
    assert result.stats.frames_out == probe(clip).frames == 30
    assert enhancer.most_in_flight == 2
    written = sorted(frames_dir.iterdir())
    assert len(written) == 30
    # in order: each written frame is the gamma of the source frame with the same index
    import av

    with av.open(str(clip)) as c:
        source = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    import cv2

    # (the sink's and this decode's YUV->RGB conversions differ by a few levels at chroma
    # edges, so compare means: each frame is far closer to its own source than to another's)
    def error(i: int, j: int) -> float:
        got = cv2.cvtColor(cv2.imread(str(written[i])), cv2.COLOR_BGR2RGB).astype(float)
        return float(np.abs(got - enhancer.lut[source[j]]).mean())

    for i in (1, 14, 28):
        own = error(i, i)
        assert own < 4.0 and own < 0.8 * min(error(i, i - 1), error(i, i + 1))


def test_synchronous_enhancers_refuse_submit() -> None:
    from pipeline.errors import EnhancerError

    with pytest.raises(EnhancerError, match="is not pipelined"):
        build_enhancer("gamma").submit(FRAME)
