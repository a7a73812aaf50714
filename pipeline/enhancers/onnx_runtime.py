"""``onnxruntime``: a registered model run by ONNX Runtime on the CPU (the embedded default).

The graph takes and returns uint8 NHWC frames (``pipeline.deploy.export.FrameModel``), so a call is one
``session.run`` on the batch as the pipeline holds it: no host-side casts or transposes.

Without ``onnx=PATH`` the model is exported on first use with its weights (the shipped ones by
default) and cached under ``cache_dir`` by a key of the model, the weights file's hash, the
model arguments and the opset, so a changed weights file is exported again, never served stale.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, EngineBuildError, EnhancerError, reason
from ..media import file_problem
from .base import Enhancer, check_threads, default_threads, register_enhancer
from .neural import apply_rows

log = logging.getLogger(__name__)


#: model arguments that never reach an exported graph (the host's temporal smoothing, the
#: runtime's threads and device)
HOST_ONLY_ARGS = ("temporal", "cut_threshold", "threads", "device")
#: ... and those the host applies itself when it does ``lowres_guided``'s full-resolution part
LOW_GRAPH_HOST_ARGS = ("deblock", "denoise", "tone", "bilateral")


def default_engines_dir() -> str:
    """Where exported graphs and engines live: ``$NOCTURNE_ENGINES``; else the checkout's
    ``engines/`` folder (beside ``run_stream.py``, wherever the command is run from: a run from
    another folder must not leave an ``engines/`` there) when it can be written; else (an
    installed package, a read-only checkout) ``$XDG_CACHE_HOME/nocturne/engines``
    (``~/.cache/nocturne/engines``)."""
    env = os.environ.get("NOCTURNE_ENGINES")
    if env:
        return env
    root = Path(__file__).resolve().parents[2]
    engines = root / "engines"
    if (root / "run_stream.py").is_file() and (root / "pipeline").is_dir() and \
            os.access(engines if engines.is_dir() else root, os.W_OK | os.X_OK):
        return str(engines)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "nocturne", "engines")


def onnx_cache_path(cache_dir: str | os.PathLike[str], model: str, weights_sha: str,
                    model_args: Mapping[str, Any], opset: int, io: str = "uint8") -> Path:
    """The cached ONNX file of ``model`` with these weights, arguments, opset and graph kind."""
    args = hashlib.sha256(json.dumps(dict(model_args), sort_keys=True).encode()).hexdigest()
    kind = "" if io == "uint8" else f"-{io}"
    return (Path(cache_dir) / "onnx" /
            f"{model}-w{weights_sha[:12]}-a{args[:8]}-op{opset}{kind}.onnx")


@register_enhancer("onnxruntime")
class OnnxRuntimeEnhancer(Enhancer):
    """A registered model through ONNX Runtime's CPU execution provider.

    Args:
        model: the registered model: ``lowres_guided`` (the default, the real-time quality
            model), ``zero_dce_pp``, ``zero_dce``, ``unet_gn``, ...
        weights: its weights file; ``None``: the shipped weights.
        onnx: an already exported uint8-frame graph to run instead of exporting.
        threads: ONNX Runtime intra-op threads; ``None``: half the available cores
            (``default_threads``), leaving room for the decoder and the encoder.
        model_args: extra arguments of the model, e.g. ``{scale: 12}`` for Zero-DCE++.
        opset: opset of the export (<= 20).
        cache_dir: folder of exported graphs (``onnx/`` below it); ``None``:
            ``$NOCTURNE_ENGINES`` or ``engines/``.
        host_lut: Zero-DCE++ and lowres_guided: the graph does the low-resolution work and
            the host the full-resolution part — Zero-DCE++'s curve lookup table
            (``cv2.remap``, several times faster on a CPU than ONNX Runtime's Gather),
            lowres_guided's downscale and guided transform (OpenCV) with its temporal
            smoothing between them; ``false`` runs the whole uint8 frame graph (what TensorRT
            builds).
    """

    def __init__(self, model: str = "lowres_guided", weights: str | None = None,
                 onnx: str | None = None, threads: int | None = None,
                 model_args: Mapping[str, Any] | None = None, opset: int = 17,
                 cache_dir: str | None = None, host_lut: bool = True) -> None:
        from ..deploy.export import MAX_OPSET

        threads = check_threads(threads)
        if isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= MAX_OPSET:
            raise ConfigError(f"opset must be an integer in 13..{MAX_OPSET}, got {opset!r}")
        if model_args is not None and not isinstance(model_args, Mapping):
            raise ConfigError(f"model_args must be a mapping, got {model_args!r}")
        if not isinstance(host_lut, bool):
            raise ConfigError(f"host_lut must be true or false, got {host_lut!r}")
        self.model_name = model
        self.io = ("rows" if host_lut and model == "zero_dce_pp" else
                   "low" if host_lut and model == "lowres_guided" else "uint8")
        self.threads = threads
        self.opset = opset
        self.model_args = dict(model_args or {})
        if "weights" in self.model_args:
            raise ConfigError("enhancer.model_args.weights: give the weights as "
                              "enhancer.weights, not among the model's arguments")
        if onnx is not None:
            if weights is not None or model_args:
                raise ConfigError("give either onnx=PATH or weights/model_args, not both: an "
                                  "exported graph already holds its weights")
            self.onnx_path = Path(onnx)
            problem = file_problem(self.onnx_path)
            if problem:
                raise ConfigError(f"ONNX file {str(self.onnx_path)!r} {problem}")
            self._torch: Enhancer | None = None
        else:
            from . import ENHANCERS, build_enhancer

            from .neural import NEURAL_MODELS

            if model not in NEURAL_MODELS:
                raise ConfigError(f"model {model!r} cannot run on ONNX Runtime; valid: "
                                  f"{', '.join(NEURAL_MODELS)}")
            # The PyTorch enhancer reads and checks the weights now, so a bad file fails
            # before the pipeline starts; the export itself waits for start().
            self._torch = build_enhancer(model, where="enhancer", weights=weights,
                                         **self.model_args)
            weights_path = Path(getattr(self._torch, "weights_path"))
            from ..deploy.export import file_sha256

            # only what the graph holds keys the cache: a new temporal smoothing or, for the
            # low-resolution graph whose full-resolution part the host does, a new tone
            # curve must not export the same graph again
            host_only = HOST_ONLY_ARGS + (LOW_GRAPH_HOST_ARGS if self.io == "low" else ())
            key = {k: v for k, v in self.model_args.items() if k not in host_only}
            exposure = getattr(getattr(self._torch, "model", None), "exposure", None)
            if exposure is not None:
                key["exposure"] = exposure  # baked into the graph, default or not
            self.onnx_path = onnx_cache_path(cache_dir or default_engines_dir(), model,
                                             file_sha256(weights_path), key, opset, self.io)
        self.session: Any = None
        #: frames smaller than this on a side are edge-padded for the graph and cropped back
        #: (Zero-DCE++ estimates its map at 1/scale: the graph needs at least scale pixels)
        model_scale = getattr(getattr(self._torch, "model", None), "scale", 1.0)
        self.min_side = max(1, int(np.ceil(model_scale)))

    @property
    def torch_model(self) -> Any:
        """The PyTorch model behind the graph (None for a given ONNX file)."""
        return getattr(self._torch, "model", None)

    def export(self) -> None:
        """Export the model to :attr:`onnx_path` (parity-checked), with a JSON report beside it."""
        from ..deploy.export import export_onnx

        if self._torch is None:
            raise EnhancerError(f"enhancer {self.name!r}: {str(self.onnx_path)!r} is missing")
        log.info("exporting %s to %s (first use of these weights)", self.model_name,
                 self.onnx_path)
        folder = self.onnx_path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(13, "not writable", str(folder))
        except OSError as exc:
            raise EnhancerError(f"enhancer {self.name!r}: cannot write the exported graph to "
                                f"{str(folder)!r} ({reason(exc)}); set enhancer.cache_dir "
                                "(or $NOCTURNE_ENGINES) to a writable folder") from None
        report = export_onnx(getattr(self._torch, "model"), self.onnx_path,
                             name=self.model_name, io=self.io, opset=self.opset)
        sidecar = self.onnx_path.with_suffix(".json")
        try:
            sidecar.write_text(report.to_json() + "\n")
        except OSError as exc:
            raise EngineBuildError(f"cannot write {str(sidecar)!r}: {reason(exc)}") from None

    def start(self) -> None:
        if self.session is not None:
            return
        import onnxruntime as ort

        if not self.onnx_path.is_file():
            try:
                self.export()
            except EngineBuildError as exc:
                raise EnhancerError(f"enhancer {self.name!r}: {exc}") from exc
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.intra_op_num_threads = self.threads or default_threads()
        options.inter_op_num_threads = 1
        # No spin-waiting between runs: in the pipeline the decoder and the encoder need the
        # same cores, and spinning ORT threads starve them (measured: tools/bench.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(str(self.onnx_path), options,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for bad files
            raise EnhancerError(f"enhancer {self.name!r}: ONNX Runtime cannot load "
                                f"{str(self.onnx_path)!r}: {exc}") from None
        inputs = session.get_inputs()
        low_graph = (len(inputs) == 1 and inputs[0].type == "tensor(float)"
                     and len(inputs[0].shape) == 4 and inputs[0].shape[3] == 4)
        if not low_graph and (len(inputs) != 1 or inputs[0].type != "tensor(uint8)"
                              or len(inputs[0].shape) != 4):
            raise EnhancerError(f"enhancer {self.name!r}: {str(self.onnx_path)!r} is not a "
                                f"uint8 NHWC frame graph (input {inputs[0].type} "
                                f"{inputs[0].shape}); export it with pipeline.deploy.export")
        self.input_name = inputs[0].name
        output = session.get_outputs()[0]
        self.output_name = output.name
        # a float output is a rows graph (Zero-DCE++ map as table rows) or, from low views, a
        # lowres_guided coefficient graph: the host applies either
        self.io = "low" if low_graph else "uint8" if output.type == "tensor(uint8)" else "rows"
        if self.io == "low":
            from .neural import GuidedApplier, TemporalSmoother

            torch_model = getattr(self._torch, "model", None)
            self._scale = int(getattr(torch_model, "scale", 8))
            self._smoother = getattr(self._torch, "smoother", None) or TemporalSmoother()
            self._applier = GuidedApplier(bool(getattr(torch_model, "deblock", True)),
                                          float(getattr(torch_model, "denoise", 0.0)),
                                          float(getattr(torch_model, "tone", 1.0)),
                                          float(getattr(torch_model, "bilateral", 0.0)))
        if self.io == "rows":
            from ..models.curves import CurveLUT

            self._curve = CurveLUT()
        self.session = session

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        self.start()
        n, h, w, _ = frames.shape
        pad_h, pad_w = max(0, self.min_side - h), max(0, self.min_side - w)
        if pad_h or pad_w:
            frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        frames = np.ascontiguousarray(frames)
        if self.io == "low":
            from .neural import low_views

            greys = self._applier.grey_buffer(frames)
            views = low_views(frames, self._scale, greys)
            rows = self.session.run([self.output_name], {self.input_name: views})[0]
            out = self._applier(frames, self._smoother(rows, frames, views[..., 3]),
                                self._scale, views[..., 3], greys)
            return out[:, :h, :w] if pad_h or pad_w else out
        out = self.session.run([self.output_name], {self.input_name: frames})[0]
        if self.io == "rows":
            out = apply_rows(frames, out, self._curve)
        return out[:, :h, :w] if pad_h or pad_w else out

    def stats(self) -> dict[str, Any]:
        """The model run (a user's graph: its file) and, for ``lowres_guided``'s host path,
        the scene cuts its temporal smoothing restarted at."""
        out: dict[str, Any] = {"model": self.model_name if self._torch is not None
                               else str(self.onnx_path)}
        smoother = getattr(self, "_smoother", None)
        if smoother is not None:
            out["scene_cuts"] = smoother.cuts
        return out

    def reset(self) -> None:
        smoother = getattr(self, "_smoother", None)
        if smoother is not None:
            smoother.reset()

    def close(self) -> None:
        self.session = None
