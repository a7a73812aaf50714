"""The ``onnxruntime`` enhancer: export on first use into a keyed cache, parity with PyTorch,
a user's ONNX file, clear errors, and a real file job through the pipeline."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.enhancers import build_enhancer
from pipeline.enhancers.onnx_runtime import default_engines_dir, onnx_cache_path
from pipeline.errors import ConfigError, EnhancerError
from pipeline.deploy.export import export_onnx
from pipeline.models import create_model
from tests.clips import make_clip, probe
from tests.common import assert_clean_error, run_cli


def _frames(n: int = 2, h: int = 45, w: int = 70, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 70, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("model, host_lut", [("unet_gn", True), ("zero_dce", True),
                                             ("zero_dce_pp", True), ("zero_dce_pp", False)])
def test_matches_the_pytorch_enhancer(model: str, host_lut: bool, tmp_path: Path) -> None:
    frames = _frames()
    ort_enh = build_enhancer("onnxruntime", model=model, cache_dir=str(tmp_path), threads=1,
                             host_lut=host_lut)
    with ort_enh:
        out = ort_enh(frames)
    # the PyTorch reference: exact curves for Zero-DCE++, whose graph uses the lookup table
    ref = build_enhancer(model, **({"lut": False} if model == "zero_dce_pp" else {}))(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    cached = list((tmp_path / "onnx").glob(f"{model}-*.onnx"))
    assert len(cached) == 1 and cached[0].with_suffix(".json").is_file()


def test_cache_key_follows_weights_and_arguments(tmp_path: Path) -> None:
    a = onnx_cache_path(tmp_path, "zero_dce_pp", "ab" * 32, {"scale": 12}, 17)
    assert a != onnx_cache_path(tmp_path, "zero_dce_pp", "cd" * 32, {"scale": 12}, 17)
    assert a != onnx_cache_path(tmp_path, "zero_dce_pp", "ab" * 32, {"scale": 4}, 17)
    assert a != onnx_cache_path(tmp_path, "zero_dce_pp", "ab" * 32, {"scale": 12}, 18)
    assert a == onnx_cache_path(tmp_path, "zero_dce_pp", "ab" * 32, {"scale": 12}, 17)
    # new weights: a new export, not the stale cached graph
    w1, w2 = tmp_path / "w1.pt", tmp_path / "w2.pt"
    for seed, path in ((1, w1), (2, w2)):
        torch.manual_seed(seed)
        torch.save(create_model("zero_dce_pp").state_dict(), path)
    e1 = build_enhancer("onnxruntime", model="zero_dce_pp", weights=str(w1),
                        cache_dir=str(tmp_path))
    e2 = build_enhancer("onnxruntime", model="zero_dce_pp", weights=str(w2),
                        cache_dir=str(tmp_path))
    assert e1.onnx_path != e2.onnx_path
    # the frame graph (what TensorRT builds) and the rows graph are cached apart
    frames_graph = build_enhancer("onnxruntime", model="zero_dce_pp", weights=str(w1),
                                  cache_dir=str(tmp_path), host_lut=False)
    assert frames_graph.onnx_path != e1.onnx_path and e1.onnx_path.stem.endswith("-rows")


def test_host_only_arguments_do_not_key_the_graph(tmp_path: Path) -> None:
    """lowres_guided's smoothing and, for the low-resolution graph, its tone, bilateral
    filter, denoise and deblock are the host's: changing them reuses the graph; the exposure
    is in the graph, and so is the bilateral filter in the whole-frame graph."""
    def path(host_lut: bool = True, **args: object) -> Path:
        return build_enhancer("onnxruntime", model="lowres_guided", cache_dir=str(tmp_path),
                              model_args=args, host_lut=host_lut).onnx_path

    low = path()
    assert path(temporal=0.5, tone=1.2, denoise=0.3, deblock=False, bilateral=0.0) == low
    assert path(exposure=0.3) != low
    whole = path(host_lut=False)
    assert path(host_lut=False, temporal=0.5) == whole
    assert path(host_lut=False, tone=1.2) != whole
    assert path(host_lut=False, bilateral=2.0) != whole


def test_runs_a_users_onnx_file(tmp_path: Path) -> None:
    model = create_model("zero_dce_pp", scale=4)
    path = tmp_path / "mine.onnx"
    export_onnx(model, path, io="uint8", check_shapes=((1, 32, 48),))
    frames = _frames(1, 33, 47)
    with build_enhancer("onnxruntime", onnx=str(path)) as enhancer:
        out = enhancer(frames)
    with torch.no_grad():
        ref = model.forward_frames(torch.from_numpy(frames)).numpy()
    np.testing.assert_array_equal(out, ref)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_enhancer("onnxruntime", onnx=str(tmp_path / "nope.onnx"))
    with pytest.raises(ConfigError, match="'/dev/zero' is not a regular file"):
        build_enhancer("onnxruntime", onnx="/dev/zero")
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        build_enhancer("onnxruntime", onnx=str(tmp_path))
    with pytest.raises(ConfigError, match="cannot run on ONNX Runtime; valid: unet_gn"):
        build_enhancer("onnxruntime", model="clahe")
    with pytest.raises(ConfigError, match="give either onnx=PATH or weights"):
        build_enhancer("onnxruntime", onnx=str(tmp_path / "x.onnx"), weights="w.pt")
    with pytest.raises(ConfigError, match="threads must be an integer in 1..256"):
        build_enhancer("onnxruntime", threads=0)
    float_graph = tmp_path / "float.onnx"
    export_onnx(create_model("zero_dce_pp"), float_graph, io="float", check_shapes=((1, 24, 24),))
    with pytest.raises(EnhancerError, match="is not a uint8 NHWC frame graph"):
        build_enhancer("onnxruntime", onnx=str(float_graph)).start()
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(EnhancerError, match="ONNX Runtime cannot load"):
        build_enhancer("onnxruntime", onnx=str(junk)).start()


def test_engines_cache_is_the_checkouts_not_the_working_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOCTURNE_ENGINES", raising=False)
    monkeypatch.chdir(tmp_path)
    root = Path(__file__).resolve().parents[2]
    assert Path(default_engines_dir()) == root / "engines"
    monkeypatch.setenv("NOCTURNE_ENGINES", str(tmp_path / "mine"))
    assert default_engines_dir() == str(tmp_path / "mine")
    # a checkout the user cannot write to (root can write anywhere here, so the permission
    # answer is what is replaced): the user's cache
    monkeypatch.delenv("NOCTURNE_ENGINES")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("os.access", lambda *args, **kwargs: False)
    assert default_engines_dir() == str(tmp_path / "cache" / "nocturne" / "engines")


def test_default_enhancer_is_lowres_guided_on_onnx_runtime(tmp_path: Path) -> None:
    """No config, no --enhancer: the embedded default (configs/default.yaml's choice) runs."""
    clip = make_clip(tmp_path / "night.mp4", width=96, height=64, fps=15, seconds=0.5)
    out = tmp_path / "out.mp4"
    stats = tmp_path / "stats.json"
    proc = run_cli("-i", str(clip), "-o", str(out), "--no-progress", "--stats-json", str(stats))
    assert proc.returncode == 0, proc.stderr
    assert probe(out).frames == probe(clip).frames
    report = json.loads(stats.read_text())
    assert report["enhancer"] == "onnxruntime"
    assert report["enhancer_stats"]["model"] == "lowres_guided"


def test_file_job_on_onnx_runtime(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", width=96, height=64, fps=15, seconds=1.0)
    out = tmp_path / "out.mp4"
    proc = run_cli("-i", str(clip), "-o", str(out), "--enhancer", "onnxruntime", "--no-progress",
                   "--set", "enhancer.model=zero_dce_pp",
                   "--set", f"enhancer.cache_dir={tmp_path / 'engines'}")
    assert proc.returncode == 0, proc.stderr
    assert probe(out).frames == probe(clip).frames


def test_cli_user_mistake_is_one_line(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "night.mp4", seconds=0.5)
    proc = run_cli("-i", str(clip), "-o", str(tmp_path / "o.mp4"), "--enhancer", "onnxruntime",
                   "--set", "enhancer.model=retinex")
    assert_clean_error(proc, r"cannot run on ONNX Runtime", 2)
