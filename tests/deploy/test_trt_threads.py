"""The TensorRT runtime across threads, on CPU, against a driver stand-in that fails as pycuda
does (``tests/fake_gpu.py``): a runner started in one thread, fed in a second and closed in a
third; ``infer`` with batches in flight; the tensorrt enhancer through ``Pipeline`` (enhance
thread vs main thread) and through the batch job."""
from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import pytest

from tests import fake_gpu
from tests.clips import make_clip, probe


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    fake_gpu.install(monkeypatch)
    return fake_gpu.write_engine(tmp_path)


def _frames(seed: int, shape=(1, 32, 48, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _in_thread(fn, *args):
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # reported in the calling thread
            box["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _no_context_left_behind() -> None:
    gc.collect()
    assert fake_gpu.ABORTS == [], f"threads ended with a CUDA context pushed: {fake_gpu.ABORTS}"


def test_start_feed_and_close_in_three_threads(engine: Path) -> None:
    from pipeline.deploy.trt import TrtRunner

    runner = _in_thread(TrtRunner, engine)
    a, b = _frames(1), _frames(2)

    def feed() -> list[np.ndarray]:
        runner.submit(a)
        runner.submit(b)
        return [runner.collect(), runner.collect()]

    out = _in_thread(feed)
    assert np.array_equal(out[0], 255 - a) and np.array_equal(out[1], 255 - b)
    _in_thread(runner.close)
    runner.close()  # twice is fine
    assert all(buf.freed for buf in fake_gpu.BUFFERS)
    # waits sleep instead of spinning a core
    assert all(flags & fake_gpu.event_flags.BLOCKING_SYNC for flags in
               fake_gpu.Event.created_flags)
    _no_context_left_behind()


def test_infer_returns_its_own_batch_with_others_in_flight(engine: Path) -> None:
    from pipeline.deploy.trt import TrtRunner

    with TrtRunner(engine) as runner:
        first, second = _frames(3), _frames(4)
        runner.submit(first)
        assert np.array_equal(runner.infer(second), 255 - second)
        assert runner.pending == 1
        assert np.array_equal(runner.collect(), 255 - first)
        runner.submit(_frames(5))
        runner.submit(_frames(6))
        third = _frames(7)
        assert np.array_equal(runner.infer(third), 255 - third)  # both slots were busy
        assert runner.pending == 2
    _no_context_left_behind()


def test_tensorrt_enhancer_through_the_pipeline(engine: Path, tmp_path: Path) -> None:
    from pipeline.config import load_config
    from pipeline.streaming.runner import Pipeline

    clip = make_clip(tmp_path / "night.mp4", seconds=0.6)
    out = tmp_path / "o.mp4"
    cfg = load_config(None, [f"source.uri={clip}", f"sink.uri={out}", "run.progress=false",
                             f"enhancer={{type: tensorrt, engine: '{engine}'}}",
                             "enhancer.batch_size=2"])
    result = Pipeline(cfg).run()  # started in the enhance thread, closed from this one
    assert result.error is None and result.stats.frames_out == probe(clip).frames
    assert probe(out).frames == probe(clip).frames
    assert all(buf.freed for buf in fake_gpu.BUFFERS)
    _no_context_left_behind()


def test_tensorrt_enhancer_through_the_batch_job(engine: Path, tmp_path: Path) -> None:
    from pipeline.batch.cli import main

    drives = tmp_path / "drives"
    drives.mkdir()
    make_clip(drives / "a.mp4", seconds=0.4)
    make_clip(drives / "b.mp4", seconds=0.4)
    # run_local starts the enhancer in this thread; each file's pipeline submits from its
    # enhance thread
    code = main([str(drives), "-o", str(tmp_path / "out"), "--no-progress", "--set",
                 f"enhancer={{type: tensorrt, engine: '{engine}'}}"])
    assert code == 0
    assert probe(tmp_path / "out" / "b.mp4").frames == probe(drives / "b.mp4").frames
    _no_context_left_behind()


def test_frames_below_the_profile_are_padded_and_cropped(engine: Path) -> None:
    from pipeline.enhancers import build_enhancer

    enhancer = build_enhancer("tensorrt", engine=str(engine))
    small = _frames(8, (1, 9, 13, 3))  # the profile starts at 16x16
    try:
        assert np.array_equal(enhancer(small), 255 - small)
        enhancer.submit(small)
        enhancer.submit(_frames(9, (2, 20, 24, 3)))
        assert enhancer.collect().shape == (1, 9, 13, 3)
        assert enhancer.collect().shape == (2, 20, 24, 3)
    finally:
        enhancer.close()
    _no_context_left_behind()


def test_find_engine_skips_engines_of_another_gpu(engine: Path) -> None:
    import json
    import os

    from pipeline.deploy.trt import find_engine

    # a newer engine for another architecture sits beside ours
    other = engine.with_name(engine.name.replace("sm89", "sm87"))
    other.write_bytes(b"plan")
    data = json.loads(engine.with_suffix(".json").read_text())
    data.update(gpu_name="Jetson Orin", compute_capability="8.7")
    other.with_suffix(".json").write_text(json.dumps(data))
    os.utime(other, (engine.stat().st_mtime + 100,) * 2)
    here = (fake_gpu.VERSION, fake_gpu.GPU_NAME, "8.9")
    assert find_engine(engine.parent, "zero_dce_pp") == other  # no target: the newest
    assert find_engine(engine.parent, "zero_dce_pp", target=here) == engine
    assert find_engine(engine.parent, "zero_dce_pp", "int8", target=here) is None


def test_int8_from_a_cache_alone_is_refused_before_building_on_new_tensorrt(
        tmp_path: Path) -> None:
    from pipeline.deploy.engine_info import BuildOptions
    from pipeline.errors import ConfigError

    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"graph")
    cache = tmp_path / "m.cache"
    cache.write_bytes(b"cache")
    options = BuildOptions(onnx=str(onnx_file), precision="int8", min_shape=(1, 64, 64, 3),
                           opt_shape=(1, 64, 64, 3), max_shape=(1, 64, 64, 3),
                           calib_cache=str(cache), engines_dir=str(tmp_path))
    options.validate(tensorrt_version="10.3.0")  # implicit INT8: a cache is enough
    with pytest.raises(ConfigError, match="explicit Q/DQ"):
        options.validate(tensorrt_version="10.12.0")


def test_caches_are_keyed_by_graph_shapes_version_and_gpu(tmp_path: Path) -> None:
    from pipeline.deploy.cli import default_calib_cache
    from pipeline.deploy.trt import timing_cache_path

    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(b"model v1")
    b.write_bytes(b"model v2 (retrained)")
    shapes = [(1, 64, 64, 3)] * 3
    assert default_calib_cache("m", str(a), shapes, "10.3.0") != \
        default_calib_cache("m", str(b), shapes, "10.3.0")
    assert default_calib_cache("m", str(a), shapes, "10.3.0") != \
        default_calib_cache("m", str(a), shapes, "10.12.0")
    assert "trt10.3.0" in default_calib_cache("m", str(a), shapes, "10.3.0")
    one = timing_cache_path("engines/timing.cache", "10.3.0", "8.7")
    assert one == Path("engines/timing-trt10.3.0-sm87.cache")
    assert timing_cache_path("engines/timing.cache", "10.3.0", "8.9") != one
    assert timing_cache_path(str(one), "10.3.0", "8.7") == one
