"""ONNX export of the enhancement models: one function, checked end to end.

:func:`export_onnx` puts the model in eval mode, runs the PyTorch reference, exports with
``torch.onnx.export`` (TorchScript exporter, fixed tensor names, dynamic batch/height/width),
checks the graph with ``onnx.checker`` and compares ONNX Runtime's output with the reference at
two sizes, within a stated tolerance (as timm's ``utils/onnx.py`` does).

The opset is at most 20 (17 by default): there GroupNorm exports as a reshape around
InstanceNormalization, which every TensorRT release parses (JetPack 6's TensorRT 10.3 cannot
parse opset-21 GroupNormalization, and opset-18's normalizes differently from PyTorch).

By default the graph takes **uint8 NHWC RGB frames** and returns uint8 NHWC frames
(:class:`FrameModel`): the cast, layout change and scaling run inside the graph, so the host
only copies bytes and the engine's input is 4x smaller than float.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, EngineBuildError, reason

log = logging.getLogger(__name__)

#: fixed tensor names of every exported graph
INPUT_NAME = "frames"
OUTPUT_NAME = "enhanced"
#: default and highest opset (see the module docstring)
DEFAULT_OPSET = 17
MAX_OPSET = 20
#: parity tolerances of ONNX Runtime against PyTorch: float graphs in [0, 1], uint8 graphs in
#: levels (one level: float rounding can tip a value that lies on a .5 boundary)
FLOAT_TOLERANCE = 1e-4
UINT8_TOLERANCE = 1
#: ``rows`` graphs output Zero-DCE++ lookup-table rows (0..4095) at low resolution
ROWS_TOLERANCE = 0.05
#: ``low`` graphs output lowres_guided's coefficients (A ~ 0..10, 255 * B ~ -255..255, in
#: levels): 0.05 of a level, as for ``rows`` (float rounding of the guided filter's divisions)
LOW_TOLERANCE = 0.05
#: an FP16 frame graph against the FP32 model, in levels
FP16_TOLERANCE = 2

IO = Literal["uint8", "float", "rows", "low"]


class FrameModel(nn.Module):
    """A model wrapped to take and return frames as the pipeline holds them.

    ``forward`` takes uint8 ``(N, H, W, 3)`` RGB and returns uint8 ``(N, H, W, 3)``: the model's
    float output is scaled by 255 and rounded half up (``+0.5``, clamp, cast: ONNX's float to
    integer cast truncates, as torch's does).
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        # TensorRT takes uint8 only as a network input that goes straight into a Cast to float
        # and as an output that comes straight out of a Cast: cast first, lay out and compute
        # in float, and cast last (not Transpose or Shape on uint8: every build would fail)
        x = frames.to(self.dtype)
        forward_frames = getattr(self.model, "forward_frames", None)
        if forward_frames is not None:
            # the model has a faster frame path of its own (Zero-DCE++: the curve by lookup)
            return forward_frames(x)
        y = self.model(x.permute(0, 3, 1, 2) * (1.0 / 255.0))
        return (y * 255.0 + 0.5).clamp(0.0, 255.0).permute(0, 2, 3, 1).to(torch.uint8)


def half_model(model: nn.Module) -> nn.Module:
    """An FP16 copy of ``model`` for strongly typed TensorRT builds: weights and activations in
    FP16, normalization in FP32 (``models.common.cast_model``)."""
    import copy

    from ..models.common import cast_model

    return cast_model(copy.deepcopy(model).eval(), "fp16")


class RowsModel(nn.Module):
    """Zero-DCE++ up to its curve map: uint8 ``(N, H, W, 3)`` frames in, the lookup-table rows
    of the map out, ``(N, h, w, 3)`` float at 1/scale resolution.

    On a CPU the table lookup itself is fastest on the host (``cv2.remap``); ONNX Runtime's
    Gather takes longer than the whole rest of the graph at 720p. The host then upsamples the
    rows and looks the pixels up (``enhancers.neural.apply_rows``).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model.forward_rows(frames)


class LowModel(nn.Module):
    """``lowres_guided`` from host-made low views to its coefficients: float ``(N, h, w, 4)``
    (RGB and grey box averages in [0, 1]) in, ``(N, h, w, 6)`` (``A`` and ``255 * B``) out.

    A CPU host downscales and applies the transform faster with OpenCV than a graph would on
    full-resolution tensors (``enhancers.neural.low_views`` / ``apply_guided``), and smooths the
    coefficients over time between the two.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return self.model.forward_low(views)


@dataclass
class ExportReport:
    """What :func:`export_onnx` did and measured."""

    path: str
    model: str
    io: str
    opset: int
    #: largest |ONNX Runtime - PyTorch| per checked input shape ``NxHxW``
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    tolerance: float = 0.0
    #: SHA-256 of the ONNX file (engine cache keys use it)
    sha256: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sample(io_kind: IO, n: int, h: int, w: int, seed: int) -> torch.Tensor:
    """A dark, textured test input: night frames are what the models must get right."""
    g = torch.Generator().manual_seed(seed)
    frames = (torch.rand(n, h, w, 3, generator=g) ** 2 * 120).round().to(torch.uint8)
    if io_kind in ("uint8", "rows"):
        return frames
    if io_kind == "low":
        from ..enhancers.neural import low_views

        return torch.from_numpy(low_views(frames.numpy(), 8))
    return frames.permute(0, 3, 1, 2).float() / 255.0


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    name: str = "",
    io: IO = "uint8",
    opset: int = DEFAULT_OPSET,
    check_shapes: tuple[tuple[int, int, int], ...] = ((1, 96, 160), (2, 75, 131)),
    tolerance: float | None = None,
    precision: Literal["fp32", "fp16"] = "fp32",
) -> ExportReport:
    """Export ``model`` to ONNX at ``path`` and prove the file computes what the model does.

    Args:
        model: a registered model (``forward`` on float ``(N, 3, H, W)`` in [0, 1]).
        path: the ``.onnx`` file to write (its folder is created).
        name: the model's registry name, recorded in the report.
        io: ``uint8`` (frames in, frames out: :class:`FrameModel`), ``float`` (the bare model),
            ``rows`` (Zero-DCE++ only: frames in, its curve's lookup-table rows out at the
            map's low resolution, for a host that applies the table itself; see
            :class:`RowsModel`), or ``low`` (lowres_guided only: host-made low views in, its
            coefficients out; see :class:`LowModel`).
        opset: ONNX opset, 13 to 20.
        check_shapes: ``(N, H, W)`` inputs ONNX Runtime is compared on; the first is also the
            export's example input. Two different sizes prove the dynamic axes.
        tolerance: largest allowed difference (default: ``FLOAT_TOLERANCE`` or
            ``UINT8_TOLERANCE`` levels; ``FP16_TOLERANCE`` for an FP16 graph).
        precision: ``fp16`` exports the uint8 frame graph in half precision
            (:func:`half_model`: normalization kept in FP32), for TensorRT's strongly typed
            FP16 builds; its parity is checked against the FP32 model.

    Raises:
        ConfigError: bad arguments.
        EngineBuildError: the export, the checker or the parity check failed.
    """
    import onnx
    import onnxruntime as ort

    if io not in ("uint8", "float", "rows", "low"):
        raise ConfigError(f"io must be 'uint8', 'float', 'rows' or 'low', got {io!r}")
    if io == "rows" and not hasattr(model, "forward_rows"):
        raise ConfigError(f"io 'rows' needs a model with one curve map for all steps "
                          f"(zero_dce_pp), not {type(model).__name__}")
    if io == "low" and not hasattr(model, "forward_low"):
        raise ConfigError(f"io 'low' needs a low-resolution model (lowres_guided), not "
                          f"{type(model).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= MAX_OPSET:
        raise ConfigError(f"opset must be an integer in 13..{MAX_OPSET} (opset 21's "
                          f"GroupNormalization is not parsed by TensorRT 10.3), got {opset!r}")
    if not check_shapes:
        raise ConfigError("check_shapes needs at least one (N, H, W)")
    if precision not in ("fp32", "fp16"):
        raise ConfigError(f"precision must be 'fp32' or 'fp16', got {precision!r}")
    if precision == "fp16" and io != "uint8":
        raise ConfigError("an FP16 graph is exported as a uint8 frame graph (io 'uint8')")
    tol = tolerance if tolerance is not None else FP16_TOLERANCE if precision == "fp16" else {
        "uint8": UINT8_TOLERANCE, "float": FLOAT_TOLERANCE, "rows": ROWS_TOLERANCE,
        "low": LOW_TOLERANCE}[io]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)

    model = model.eval()
    # The wrapper must be in eval mode too: the exporter restores the wrapper's mode
    # recursively afterwards, and a fresh wrapper is in training mode — which would switch
    # BatchNorm and dropout back to training for the parity check and every later use.
    graph = {"uint8": FrameModel, "rows": RowsModel, "low": LowModel}.get(
        io, lambda m: m)(model).eval()
    # the reference is always the FP32 model; an FP16 graph is exported from a half copy
    reference = graph
    if precision == "fp16":
        graph = FrameModel(half_model(model), torch.float16).eval()
    example = _sample(io, *check_shapes[0], seed=0)
    axes = {0: "batch", 1: "height", 2: "width"} if io != "float" else \
        {0: "batch", 2: "height", 3: "width"}
    buffer = BytesIO()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer warns about every shape it reads; the parity check below is what
            # proves the graph right at other sizes.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph, (example,), buffer, input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME], opset_version=opset, do_constant_folding=True,
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, dynamo=False,
            )
    except Exception as exc:  # the exporter raises many types; all mean the same here
        raise EngineBuildError(f"torch.onnx.export of {name or type(model).__name__} failed: "
                               f"{exc}") from exc
    data = buffer.getvalue()
    try:
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:
        raise EngineBuildError(f"onnx.checker rejected the exported graph: {exc}") from exc

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    diffs: dict[str, float] = {}
    for i, shape in enumerate(check_shapes):
        x = _sample(io, *shape, seed=i + 1)
        with torch.no_grad():
            ref = reference(x).numpy()
        out = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
        if out.shape != ref.shape:
            raise EngineBuildError(f"ONNX Runtime output shape {out.shape} differs from "
                                   f"PyTorch's {ref.shape} for input {shape}")
        diff = float(np.abs(out.astype(np.float64) - ref.astype(np.float64)).max())
        diffs["x".join(map(str, shape))] = diff
        if not diff <= tol:
            raise EngineBuildError(
                f"ONNX Runtime differs from PyTorch by {diff:.3g} (tolerance {tol:g}) for "
                f"input {shape}: the exported graph does not compute the model")
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(target)  # never a half-written model under the real name
    except OSError as exc:  # a full disk, a file-size limit, a folder gone read-only
        tmp.unlink(missing_ok=True)
        raise EngineBuildError(f"cannot write {str(target)!r}: {reason(exc)}") from None
    report = ExportReport(str(target), name, io if precision == "fp32" else f"{io}-fp16", opset,
                          diffs, float(tol), file_sha256(target))
    log.info("exported %s to %s (opset %d, %s I/O, parity %s)", name or "model", target, opset,
             io, diffs)
    return report
