"""``tensorrt``: a model's TensorRT engine run with pinned memory and async copies (NVIDIA GPUs,
Jetson). Build the engine on the target first: ``build_engine.py --model zero_dce_pp``.

The enhancer is pipelined (``max_in_flight = 2``): the runner submits batch N+1 before it
collects batch N, so the upload of one overlaps the compute of the other.
"""
from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, EngineBuildError, EnhancerError
from ..media import file_problem
from .base import Enhancer, register_enhancer
from .neural import NEURAL_MODELS

#: the models that have frame engines (uint8 NHWC in and out)
ENGINE_MODELS = NEURAL_MODELS


def _target(device: int) -> tuple[str, str, str] | None:
    """``(TensorRT version, GPU name, compute capability)`` of this machine, or None when the
    GPU cannot be asked (then the newest engine is tried, and refused with a reason)."""
    from ..deploy.trt import gpu_facts, import_pycuda, import_tensorrt

    try:
        name, cc = gpu_facts(import_pycuda(), device)
        return str(import_tensorrt().__version__), name, cc
    except EngineBuildError:
        return None


@register_enhancer("tensorrt")
class TensorRTEnhancer(Enhancer):
    """Run a TensorRT engine built by ``build_engine.py``.

    Args:
        model: the model whose newest engine under ``engines_dir`` is used.
        engine: an engine file instead (its ``.json`` sidecar must sit beside it).
        engines_dir: where ``build_engine.py`` put the engines (``None``: ``$NOCTURNE_ENGINES``
            or ``engines/``).
        precision: only use an engine of this precision (``fp32``, ``fp16``, ``int8``).
        device: CUDA device index.
    """

    max_in_flight = 2

    def __init__(self, model: str = "zero_dce_pp", engine: str | None = None,
                 engines_dir: str | None = None, precision: str | None = None,
                 device: int = 0) -> None:
        from ..deploy.trt import find_engine, import_tensorrt
        from .onnx_runtime import default_engines_dir

        if model not in ENGINE_MODELS:
            raise ConfigError(f"model {model!r} has no TensorRT engine; valid: "
                              f"{', '.join(ENGINE_MODELS)}")
        if precision not in (None, "fp32", "fp16", "int8"):
            raise ConfigError(f"precision must be fp32, fp16 or int8, got {precision!r}")
        if isinstance(device, bool) or not isinstance(device, int) or device < 0:
            raise ConfigError(f"device must be a CUDA device index >= 0, got {device!r}")
        try:
            import_tensorrt()  # fail at build time, so a fallback chain moves on at once
        except EngineBuildError as exc:
            raise EnhancerError(f"enhancer 'tensorrt': {exc}") from None
        if engine is not None:
            path = Path(engine)
            problem = file_problem(path)
            if problem:
                raise ConfigError(f"engine file {engine!r} {problem}")
        else:
            engines_dir = engines_dir or default_engines_dir()
            found = find_engine(engines_dir, model, precision, target=_target(device))
            if found is None:
                raise EnhancerError(
                    f"enhancer 'tensorrt': no {precision or ''} engine for {model!r} under "
                    f"{engines_dir!r}; build one here with build_engine.py --model {model}")
            path = found
        self.engine_path = path
        self.model_name = model
        self.device = device
        self.runner: Any = None
        self._sizes: collections.deque[tuple[int, int, int]] = collections.deque()

    def start(self) -> None:
        from ..deploy.trt import TrtRunner

        if self.runner is None:
            try:
                self.runner = TrtRunner(self.engine_path, self.device)
            except EngineBuildError as exc:
                raise EnhancerError(f"enhancer 'tensorrt': {exc}") from exc

    def _fit(self, frames: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
        """Frames padded up to the engine's smallest profile shape (edge pixels, the last
        frame repeated), as the ONNX Runtime enhancer pads, and the size to crop back to."""
        n, h, w, _ = frames.shape
        min_n, min_h, min_w = self.runner.min_shape[:3]
        pad_n, pad_h, pad_w = max(0, min_n - n), max(0, min_h - h), max(0, min_w - w)
        if pad_n or pad_h or pad_w:
            frames = np.pad(frames, ((0, pad_n), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        return np.ascontiguousarray(frames), (n, h, w)

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        self.start()
        fitted, (n, h, w) = self._fit(frames)
        return self.runner.infer(fitted)[:n, :h, :w]

    def submit(self, frames: np.ndarray) -> None:
        self.start()
        fitted, size = self._fit(frames)
        self.runner.submit(fitted)
        self._sizes.append(size)

    def collect(self) -> np.ndarray:
        n, h, w = self._sizes.popleft()
        return self.runner.collect()[:n, :h, :w]

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None
