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


FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16}


@pytest.mark.parametrize("name", MODELS.names())
def test_uint8_only_at_the_graph_edges_through_casts(name: str, tmp_path: Path) -> None:
    """TensorRT takes a uint8 network input only straight into a Cast to float, and a uint8
    output only straight out of a Cast: no Transpose, Shape or Gather on uint8."""
    path = tmp_path / "m.onnx"
    export_onnx(_model(name), path, io="uint8", check_shapes=((1, 40, 64),))
    graph = onnx.load(str(path)).graph
    consumers = [n for n in graph.node if INPUT_NAME in n.input]
    assert consumers and all(n.op_type == "Cast" for n in consumers), \
        [n.op_type for n in consumers]
    assert all(next(a.i for a in n.attribute if a.name == "to") in FLOAT_TYPES
               for n in consumers)
    producer = [n for n in graph.node if OUTPUT_NAME in n.output]
    assert len(producer) == 1 and producer[0].op_type == "Cast"
    # nothing else in the graph is uint8: every Cast to uint8 is the output's
    to_uint8 = [n for n in graph.node if n.op_type == "Cast" and
                next(a.i for a in n.attribute if a.name == "to") == onnx.TensorProto.UINT8]
    assert to_uint8 == producer


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


@pytest.mark.parametrize("name", ["zero_dce", "unet_gn", "lowres_guided"])
def test_int8_qdq_graph_is_symmetric_for_tensorrt(name: str, tmp_path: Path) -> None:
    """TensorRT's ONNX parser rejects non-zero zero points and int32-quantized biases."""
    from onnx import numpy_helper

    from pipeline.deploy.trt import qdq_onnx

    path = tmp_path / "m.onnx"
    export_onnx(_model(name), path, io="uint8", check_shapes=((1, 48, 64),))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 120, (1, 48, 64, 3), dtype=np.uint8) for _ in range(3)]
    graph = onnx.load_from_string(qdq_onnx(path.read_bytes(), frames)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    qdq = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq, "nothing was quantized"
    for node in qdq:
        if len(node.input) > 2 and node.input[2] in inits:
            assert not np.any(inits[node.input[2]]), f"{node.name}: non-zero zero point"
    for node in (n for n in qdq if n.op_type == "DequantizeLinear"):
        source = inits.get(node.input[0])
        assert source is None or source.dtype != np.int32, f"{node.name}: int32 bias"


@pytest.mark.parametrize("name", MODELS.names())
def test_fp16_graph_for_tensorrt(name: str, tmp_path: Path) -> None:
    """The FP16 frame graph (strongly typed TensorRT builds) is exported from PyTorch in half
    precision, normalization in FP32: quick, ONNX Runtime runs it, within 2 levels of FP32."""
    import time

    from pipeline.deploy.trt import is_fp16_graph

    path = tmp_path / "half.onnx"
    t0 = time.monotonic()
    report = export_onnx(_model(name), path, io="uint8", precision="fp16",
                         check_shapes=((1, 48, 80), (2, 37, 53)))
    assert time.monotonic() - t0 < 60
    assert max(report.max_abs_diff.values()) <= 2 and report.io == "uint8-fp16"
    data = path.read_bytes()
    assert is_fp16_graph(data)
    graph = onnx.load_from_string(data).graph
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer)
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8


def test_strongly_typed_fp16_takes_an_fp16_graph_only(tmp_path: Path) -> None:
    from pipeline.deploy.engine_info import BuildOptions
    from pipeline.deploy.trt import strongly_typed_fp16

    fp32, fp16 = tmp_path / "m.onnx", tmp_path / "m-fp16.onnx"
    export_onnx(_model("zero_dce"), fp32, io="uint8", check_shapes=((1, 32, 48),))
    export_onnx(_model("zero_dce"), fp16, io="uint8", precision="fp16",
                check_shapes=((1, 32, 48),))
    options = BuildOptions(onnx=str(fp32))
    with pytest.raises(ConfigError, match="from an FP16 graph"):
        strongly_typed_fp16(fp32.read_bytes(), options, "10.12.0")
    assert strongly_typed_fp16(fp16.read_bytes(), options, "10.12.0") == fp16.read_bytes()
    with_half = BuildOptions(onnx=str(fp32), onnx_fp16=str(fp16))
    assert strongly_typed_fp16(fp32.read_bytes(), with_half, "11.0") == fp16.read_bytes()


#: operators onnx-tensorrt lists as supported by TensorRT 10.3 (JetPack 6) that the exported
#: real-time graphs may use (``docs/operators.md`` of onnx-tensorrt's release/10.3 branch);
#: GridSample (rank 4 only there), Einsum, NonZero and the like must not creep in
TRT_10_3_OPS = {
    "Abs", "Add", "AveragePool", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape",
    "Conv", "ConvTranspose", "Div", "Equal", "Exp", "Expand", "Floor", "Gather", "Gemm",
    "Identity", "InstanceNormalization", "LeakyRelu", "Log", "MatMul", "Max", "MaxPool", "Min",
    "Mod", "Mul", "Neg", "Pad", "Pow", "Reciprocal", "ReduceMax", "ReduceMean", "ReduceSum",
    "Relu", "Reshape", "Resize", "Round", "Shape", "Sigmoid", "Slice", "Softplus", "Sqrt",
    "Split", "Sub", "Tanh", "Transpose", "Unsqueeze", "Where",
}


@pytest.mark.parametrize("name", ["lowres_guided", "zero_dce_pp", "zero_dce"])
@pytest.mark.parametrize("io", ["uint8", "low"])
def test_real_time_graphs_use_only_operators_tensorrt_10_3_parses(name: str, io: str,
                                                                  tmp_path: Path) -> None:
    """The real-time models' frame graphs (lowres_guided with its bilateral filter, noise
    estimate and deblocking in the graph) hold only TensorRT 10.3 operators, and every Pad
    is ``constant`` or ``edge`` (the modes TensorRT's Pad importer has always taken)."""
    if io == "low" and name != "lowres_guided":
        pytest.skip("only lowres_guided has a low-view graph")
    path = tmp_path / "m.onnx"
    model = create_model(name, channels=[8, 16, 32, 64], global_context=True) \
        if name == "lowres_guided" else _model(name)
    export_onnx(model.eval(), path, name=name, io=io, check_shapes=((1, 48, 80),))
    graph = onnx.load(str(path)).graph
    ops = {n.op_type for n in graph.node}
    assert ops <= TRT_10_3_OPS, sorted(ops - TRT_10_3_OPS)
    for node in (n for n in graph.node if n.op_type == "Pad"):
        modes = [a.s.decode() for a in node.attribute if a.name == "mode"]
        assert modes in ([], ["constant"], ["edge"]), modes
