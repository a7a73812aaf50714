"""ONNX export of every registered model: checker, ONNX Runtime parity at two sizes (dynamic
axes), the uint8 frame graph against the float path, GroupNorm as InstanceNormalization."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from pipeline.errors import ConfigError
from pipeline.deploy.export import (INPUT_NAME, OUTPUT_NAME, FrameModel, export_onnx,
                             file_sha256)
from pipeline.models import MODELS, create_model

#: small variants keep the suite fast; the architecture is the same at every width
SMALL = {"unet_gn": {"width": 0.25}, "ratio_log": {"width": 0.125},
         "guided_cgan": {"width": 0.125}, "pix2pix_vgg": {"width": 0.125}}


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, **SMALL.get(name, {})).eval()


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("io", ["float", "uint8"])
def test_export_parity_at_two_sizes(name: str, io: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.onnx"
    report = export_onnx(_model(name), path, name=name, io=io,
                         check_shapes=((1, 48, 80), (2, 37, 53)))
    assert path.is_file() and report.sha256 == file_sha256(path)
    assert set(report.max_abs_diff) == {"1x48x80", "2x37x53"}
    assert max(report.max_abs_diff.values()) <= report.tolerance
    graph = onnx.load(str(path))
    assert [i.name for i in graph.graph.input] == [INPUT_NAME]
    assert [o.name for o in graph.graph.output] == [OUTPUT_NAME]
    assert graph.opset_import[0].version == 17
    ops = {n.op_type for n in graph.graph.node}
    assert "GroupNormalization" not in ops
    if name == "unet_gn":
        assert "InstanceNormalization" in ops
    dtype = graph.graph.input[0].type.tensor_type.elem_type
    assert dtype == (onnx.TensorProto.UINT8 if io == "uint8" else onnx.TensorProto.FLOAT)


@pytest.mark.parametrize("name", MODELS.names())
def test_uint8_graph_equals_float_path(name: str, tmp_path: Path) -> None:
    """Frames through the uint8 graph equal the float model's output rounded, within 1/255."""
    model = _model(name)
    export_onnx(model, tmp_path / "m.onnx", io="uint8", check_shapes=((1, 40, 64),))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(3).integers(0, 90, (1, 57, 91, 3), dtype=np.uint8)
    out = session.run([OUTPUT_NAME], {INPUT_NAME: frames})[0]
    with torch.no_grad():
        ref = model(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255)
    ref = ref.permute(0, 2, 3, 1).numpy() * 255
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert np.abs(out.astype(np.float64) - ref).max() <= 1.0


def test_frame_model_rounds_half_up() -> None:
    class Const(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.full_like(x, 100.5 / 255)

    out = FrameModel(Const())(torch.zeros(1, 2, 2, 3, dtype=torch.uint8))
    assert out.dtype == torch.uint8 and int(out[0, 0, 0, 0]) == 101


def test_export_argument_errors(tmp_path: Path) -> None:
    model = _model("zero_dce_pp")
    with pytest.raises(ConfigError, match="opset must be an integer in 13..20"):
        export_onnx(model, tmp_path / "m.onnx", opset=21)
    with pytest.raises(ConfigError, match="io must be"):
        export_onnx(model, tmp_path / "m.onnx", io="fp16")  # type: ignore[arg-type]



def test_rows_graph_for_a_host_side_lookup(tmp_path: Path) -> None:
    """Zero-DCE++'s map as table rows: the host applies the table (fastest on a CPU)."""
    from pipeline.enhancers.neural import apply_rows
    from pipeline.models.curves import CurveLUT

    model = _model("zero_dce_pp")
    report = export_onnx(model, tmp_path / "rows.onnx", io="rows",
                         check_shapes=((1, 48, 80), (2, 37, 53)))
    assert max(report.max_abs_diff.values()) <= report.tolerance
    session = ort.InferenceSession(str(tmp_path / "rows.onnx"),
                                   providers=["CPUExecutionProvider"])
    frames = np.random.default_rng(4).integers(0, 90, (1, 60, 96, 3), dtype=np.uint8)
    rows = session.run([OUTPUT_NAME], {INPUT_NAME: frames})[0]
    assert rows.shape == (1, 5, 8, 3) and rows.dtype == np.float32
    out = apply_rows(frames, rows, CurveLUT())
    with torch.no_grad():
        ref = model(torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255)
    ref = ref.permute(0, 2, 3, 1).numpy() * 255
    assert np.abs(out.astype(np.float64) - ref).max() <= 1.0
    with pytest.raises(ConfigError, match="io 'rows' needs a model with one curve map"):
        export_onnx(_model("zero_dce"), tmp_path / "x.onnx", io="rows")
