"""TensorRT bookkeeping that runs without a GPU: build options and their checks, sidecars and
cache keys, compatibility refusals, ``build_engine.py``'s errors, the clear error without
TensorRT, and the GPU-only build/run tests (skipped here, with the reason)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.deploy.engine_info import (BuildOptions, EngineInfo, EngineMismatchError, build_path_for,
                                  frame_shape, parse_version)
from pipeline.errors import ConfigError, EngineBuildError, EnhancerError
from tests.clips import make_clip, probe
from tests.common import ROOT



def _has(module: str) -> bool:
    try:
        __import__(module)
    except Exception:
        return False
    return True


HAS_TRT = _has("tensorrt") and _has("pycuda.driver")


def _info(**changes: object) -> EngineInfo:
    base = dict(tensorrt_version="10.3.0.26", gpu_name="Orin (nvgpu)", compute_capability="8.7",
                precision="fp16", build_path="flags", min_shape=[1, 360, 640, 3],
                opt_shape=[1, 720, 1280, 3], max_shape=[1, 1080, 1920, 3],
                onnx_sha256="ab" * 32, model="zero_dce_pp")
    base.update(changes)
    return EngineInfo(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("version, path", [("10.3.0.26", "flags"), ("10.11.0", "flags"),
                                           ("10.12.0.36", "strongly_typed"),
                                           ("11.0.0", "strongly_typed"), ("8.6.1", "flags")])
def test_build_path_follows_the_version(version: str, path: str) -> None:
    assert build_path_for(version) == path


def test_parse_version() -> None:
    assert parse_version("10.3.0.26") == (10, 3, 0, 26)
    assert parse_version("11.0.0b1") == (11, 0, 0)
    with pytest.raises(ConfigError):
        parse_version("abc")


def test_frame_shape() -> None:
    assert frame_shape(2, "1280x720", "--opt") == (2, 720, 1280, 3)
    with pytest.raises(ConfigError, match="--opt: expected WIDTHxHEIGHT"):
        frame_shape(1, "720p", "--opt")


def test_key_changes_with_every_fact() -> None:
    base = _info().key()
    assert base.startswith("zero_dce_pp-abababababab-fp16-orin-nvgpu-sm87-trt10.3.0.26-s")
    for change in ({"precision": "int8"}, {"compute_capability": "8.6"},
                   {"tensorrt_version": "10.12.0"}, {"onnx_sha256": "cd" * 32},
                   {"max_shape": [1, 720, 1280, 3]}, {"dla_core": 0}):
        assert _info(**change).key() != base, change


def test_sidecar_round_trip(tmp_path: Path) -> None:
    info = _info(dla_core=1)
    info.write(tmp_path / "e.json")
    assert EngineInfo.read(tmp_path / "e.json") == info
    with pytest.raises(EngineBuildError, match="sidecar .* is missing"):
        EngineInfo.read(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(EngineBuildError, match="unreadable"):
        EngineInfo.read(tmp_path / "bad.json")


def test_compatibility_check() -> None:
    info = _info()
    assert info.check_compatible("10.3.0.26", "Orin (nvgpu)", "8.7") == []
    with pytest.raises(EngineMismatchError, match=r"built for Orin \(nvgpu\) with TensorRT "
                                                  r"10\.3\.0\.26 \(here 10\.12\.0\)"):
        info.check_compatible("10.12.0", "Orin (nvgpu)", "8.7")
    with pytest.raises(EngineMismatchError, match=r"compute capability 8\.7 \(here 9\.0\)"):
        info.check_compatible("10.3.0.26", "NVIDIA H100", "9.0")
    warnings = info.check_compatible("10.3.0.26", "Orin NX", "8.7")
    assert warnings and "rebuild here" in warnings[0]


@pytest.fixture()
def onnx_file(tmp_path: Path) -> str:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"stand-in: options are checked before the file is read")
    return str(path)


@pytest.mark.parametrize("changes, message", [
    ({"precision": "int8"}, "int8 needs calibration data"),
    ({"precision": "int8", "calib": "/no/such/folder"}, "calibration data .* does not exist"),
    ({"dla_core": 0}, "DLA needs fixed shapes"),
    ({"dla_core": 0, "precision": "fp32", "min_shape": (1, 720, 1280, 3),
      "max_shape": (1, 720, 1280, 3)}, "DLA runs only fp16 or int8"),
    ({"min_shape": (1, 1080, 1920, 3)}, "min <= opt"),
    ({"max_shape": (1, 480, 640, 3)}, "opt <= max"),
    ({"opt_level": 7}, "optimization level must be 0..5"),
    ({"min_side": 12, "min_shape": (1, 8, 8, 3)}, "below what the model accepts"),
    ({"onnx": "/no/such.onnx"}, "does not exist"),
])
def test_build_options_are_checked(onnx_file: str, changes: dict, message: str) -> None:
    options = BuildOptions(**{"onnx": onnx_file, **changes})
    with pytest.raises(ConfigError, match=message):
        options.validate()


def test_build_options_valid_cases(onnx_file: str, tmp_path: Path) -> None:
    BuildOptions(onnx=onnx_file).validate()
    cache = tmp_path / "calib.cache"
    cache.write_bytes(b"cache")
    BuildOptions(onnx=onnx_file, precision="int8", calib_cache=str(cache)).validate()
    fixed = (1, 720, 1280, 3)
    BuildOptions(onnx=onnx_file, dla_core=0, min_shape=fixed, opt_shape=fixed,
                 max_shape=fixed).validate()


def _build_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "build_engine.py"), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("args, message", [
    (["--model", "zero_dce_pp", "--precision", "int8"], "int8 needs calibration data"),
    (["--model", "zero_dce_pp", "--dla-core", "0"], "DLA needs fixed shapes"),
    (["--model", "zero_dce_pp", "--opt", "1280by720"], "--opt: expected WIDTHxHEIGHT"),
    (["--onnx", "missing.onnx"], "ONNX file 'missing.onnx' does not exist"),
    (["--onnx", "x.onnx", "--weights", "w.pt"], "--weights goes with --model"),
    (["--model", "zero_dce_pp", "--batch", "-1"], "--batch must be in 1..256, got -1"),
    (["--model", "zero_dce_pp", "--shape", "99999999x2"],
     "--shape: each side must be at most 16384 pixels"),
])
def test_build_engine_cli_errors(args: list[str], message: str) -> None:
    proc = _build_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert message in proc.stderr


@pytest.mark.skipif(HAS_TRT, reason="checks the message where TensorRT is missing")
def test_build_engine_without_tensorrt_is_a_clear_error(tmp_path: Path) -> None:
    proc = _build_cli("--model", "zero_dce_pp", "--engines-dir", str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "TensorRT is not available" in proc.stderr and "pip install" in proc.stderr
    assert "Traceback" not in proc.stderr
    # the model was exported (parity-checked) before TensorRT was needed
    assert list((tmp_path / "onnx").glob("zero_dce_pp-*.onnx"))


@pytest.mark.skipif(HAS_TRT, reason="checks the message where TensorRT is missing")
def test_tensorrt_enhancer_without_tensorrt() -> None:
    from pipeline.enhancers import build_enhancer

    with pytest.raises(EnhancerError, match="TensorRT is not available"):
        build_enhancer("tensorrt", model="zero_dce_pp")
    with pytest.raises(ConfigError, match="has no TensorRT engine; valid"):
        build_enhancer("tensorrt", model="clahe")


def test_calibration_frames_from_folder_and_video(tmp_path: Path) -> None:
    import cv2

    from pipeline.deploy.trt import calibration_frames

    folder = tmp_path / "calib"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((30, 50, 3), i * 20, np.uint8))
    batches = calibration_frames(str(folder), (2, 36, 64, 3), 5)
    assert len(batches) == 2 and batches[0].shape == (2, 36, 64, 3)
    clip = make_clip(tmp_path / "c.mp4", seconds=2.0, fps=10, audio=False)
    batches = calibration_frames(str(clip), (1, 32, 48, 3), 8)
    assert len(batches) == 2 and batches[0].dtype == np.uint8  # frames 0 and 10
    with pytest.raises(ConfigError, match="has 2 frames; a batch needs 4"):
        calibration_frames(str(clip), (4, 32, 48, 3), 8)


@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TRT, reason="needs TensorRT and pycuda on an NVIDIA GPU "
                                        "(pip install '.[tensorrt]')")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_and_run_engine_on_gpu(precision: str, tmp_path: Path) -> None:
    from pipeline.enhancers import build_enhancer

    proc = _build_cli("--model", "zero_dce_pp", "--precision", precision, "--min", "64x48",
                      "--opt", "320x240", "--max", "640x480", "--engines-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    frames = np.random.default_rng(0).integers(0, 80, (1, 240, 320, 3), dtype=np.uint8)
    with build_enhancer("tensorrt", model="zero_dce_pp", engines_dir=str(tmp_path)) as trt:
        out = trt(frames)
        # pipelined: two in flight, collected in order
        trt.submit(frames)
        trt.submit(frames[:, ::-1].copy())
        first, second = trt.collect(), trt.collect()
    ref = build_enhancer("zero_dce_pp", lut=False)(frames)
    tol = 1 if precision == "fp32" else 3
    assert np.abs(out.astype(int) - ref).max() <= tol
    np.testing.assert_array_equal(first, out)
    assert not np.array_equal(second, first)



@pytest.mark.trt
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TRT, reason="needs TensorRT and pycuda on an NVIDIA GPU "
                                        "(pip install '.[tensorrt]')")
def test_engine_through_pipeline_and_batch_job_on_gpu(tmp_path: Path) -> None:
    """The threads of production: the runner started in the enhance thread and closed from
    the main thread (Pipeline), started once and fed from each file's thread (batch job)."""
    from pipeline.batch.cli import main as batch_main
    from pipeline.config import load_config
    from pipeline.streaming.runner import Pipeline

    proc = _build_cli("--model", "zero_dce_pp", "--precision", "fp16", "--min", "64x48",
                      "--opt", "96x64", "--max", "320x240", "--batch", "2",
                      "--engines-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    clip = make_clip(tmp_path / "night.mp4", seconds=1.0)
    enhancer = f"{{type: tensorrt, model: zero_dce_pp, engines_dir: '{tmp_path}'}}"
    cfg = load_config(None, [f"source.uri={clip}", f"sink.uri={tmp_path / 'o.mp4'}",
                             f"enhancer={enhancer}", "enhancer.batch_size=2",
                             "run.progress=false"])
    result = Pipeline(cfg).run()
    assert result.error is None and result.stats.frames_out == probe(clip).frames
    drives = tmp_path / "drives"
    drives.mkdir()
    for name in ("a.mp4", "b.mp4"):
        make_clip(drives / name, seconds=0.5)
    assert batch_main([str(drives), "-o", str(tmp_path / "out"), "--no-progress",
                       "--set", f"enhancer={enhancer}"]) == 0
    assert probe(tmp_path / "out" / "b.mp4").frames == probe(drives / "b.mp4").frames
