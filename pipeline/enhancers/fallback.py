"""``fallback``: a chain of enhancers, best first; the first that starts is used, and on a live
source the next faster one takes over when the current cannot hold the target frame rate.

Chain entries are ``BACKEND:MODEL`` (``tensorrt:unet_gn``, ``cuda:unet_gn``,
``onnxruntime:zero_dce_pp``, ``torch:zero_dce``, ``classical:clahe``), the name of any
registered enhancer, or a mapping with ``type:`` and its settings, like
DeepStream's and jetson-inference's habit of falling back from the GPU path to what the device
can run. Start-up logs why each skipped entry did not start.

Switching (live sources with a target rate only): the mean enhance time per frame over the last
``window`` frames is compared with the frame budget ``1 / target_fps``; after ``patience``
windows in a row above ``budget * (1 + margin)`` the next entry is started and the current one
closed. Never back up: a slower model that once fell behind would fall behind again, and
flapping between models is worse for the viewer than a steady, cheaper one.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, NocturneError
from .base import Enhancer, register_enhancer

log = logging.getLogger(__name__)

#: backends of ``BACKEND:MODEL`` entries
BACKENDS = ("tensorrt", "cuda", "onnxruntime", "torch", "classical")

#: ``cuda:MODEL``: the PyTorch enhancer on the GPU with the settings measured fastest there
#: (README, "Measured on an NVIDIA H200"), for a GPU without TensorRT; a model whose enhancer
#: has no precision or graphs setting gets the device alone
CUDA_SETTINGS = {"device": "cuda", "precision": "fp16", "graphs": True}

DEFAULT_CHAIN = ("tensorrt:unet_gn", "cuda:unet_gn", "tensorrt:zero_dce_pp",
                 "onnxruntime:lowres_guided", "onnxruntime:zero_dce_pp", "classical:clahe")


def parse_entry(entry: Any) -> tuple[str, dict[str, Any]]:
    """A chain entry to ``(enhancer name, keyword arguments)``."""
    if isinstance(entry, dict):
        params = dict(entry)
        name = params.pop("type", None)
        if not isinstance(name, str):
            raise ConfigError(f"chain entry {entry!r}: a mapping needs 'type'")
        return name, params
    if not isinstance(entry, str) or not entry.strip():
        raise ConfigError(f"chain entry {entry!r}: expected 'BACKEND:MODEL', a name or a mapping")
    if ":" not in entry:
        return entry.strip(), {}
    backend, model = (part.strip() for part in entry.split(":", 1))
    if backend not in BACKENDS:
        raise ConfigError(f"chain entry {entry!r}: unknown backend {backend!r}; valid: "
                          f"{', '.join(BACKENDS)}")
    if backend in ("tensorrt", "onnxruntime"):
        return backend, {"model": model}
    if backend == "cuda":
        from . import ENHANCERS

        accepted = ENHANCERS.parameters(model)  # an unknown name lists the valid ones
        if "device" not in accepted or model in ("tensorrt", "onnxruntime"):
            raise ConfigError(f"chain entry {entry!r}: {model!r} is not a PyTorch model "
                              f"(cuda:MODEL runs one on the GPU)")
        return model, {k: v for k, v in CUDA_SETTINGS.items() if k in accepted}
    return model, {}


@register_enhancer("fallback")
class FallbackEnhancer(Enhancer):
    """The first enhancer of ``chain`` that starts; steps down the chain when too slow.

    Args:
        chain: entries, best first (see the module docstring).
        target_fps: the rate to hold; ``None`` takes the run's ``run.target_fps``.
        window: frames per timing window.
        margin: how far over budget (fraction) a window must be to count as too slow.
        patience: too-slow windows in a row before switching.
    """

    def __init__(self, chain: Sequence[Any] = DEFAULT_CHAIN, target_fps: float | None = None,
                 window: int = 30, margin: float = 0.1, patience: int = 2) -> None:
        if isinstance(chain, (str, bytes)) or not isinstance(chain, Sequence) or not chain:
            raise ConfigError(f"chain must be a non-empty list, got {chain!r}")
        self.entries = [parse_entry(e) for e in chain]
        self.labels = [str(e) for e in chain]
        from . import ENHANCERS

        for (name, _), label in zip(self.entries, self.labels):
            if name not in ENHANCERS or name == "fallback":
                raise ConfigError(f"chain entry {label!r}: unknown enhancer {name!r}; valid: "
                                  f"{', '.join(n for n in ENHANCERS.names() if n != 'fallback')}")
        if target_fps is not None and not target_fps > 0:
            raise ConfigError(f"target_fps must be > 0, got {target_fps!r}")
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f"window must be a positive integer, got {window!r}")
        if not margin >= 0:
            raise ConfigError(f"margin must be >= 0, got {margin!r}")
        if not isinstance(patience, int) or patience < 1:
            raise ConfigError(f"patience must be a positive integer, got {patience!r}")
        self.target_fps = target_fps
        self.window, self.margin, self.patience = window, float(margin), patience
        self.live = False
        self.current: Enhancer | None = None
        self.index = -1
        self.skipped: dict[str, str] = {}
        self.switches: list[dict[str, Any]] = []
        self._times: deque[float] = deque(maxlen=window)
        self._slow_windows = 0
        self._seen = 0

    def configure_stream(self, live: bool, target_fps: float | None) -> None:
        self.live = live
        if self.target_fps is None:
            self.target_fps = target_fps

    def _activate_from(self, start: int) -> None:
        """Build and start the first entry at or after ``start`` that works."""
        from . import build_enhancer

        for i in range(start, len(self.entries)):
            name, params = self.entries[i]
            label = self.labels[i]
            try:
                enhancer = build_enhancer(name, where=f"fallback chain entry {label!r}", **params)
                enhancer.start()
            except (NocturneError, ImportError, OSError) as exc:
                reason = str(exc).splitlines()[0]
                self.skipped[label] = reason
                log.warning("fallback: %s not used: %s", label, reason)
                continue
            self.current, self.index = enhancer, i
            log.info("fallback: using %s", label)
            return
        raise NocturneError("fallback: no enhancer of the chain could start: " + "; ".join(
            f"{k}: {v}" for k, v in self.skipped.items()))

    @property
    def active(self) -> str:
        """The label of the enhancer in use (empty before ``start``)."""
        return self.labels[self.index] if self.index >= 0 else ""

    def start(self) -> None:
        if self.current is None:
            self._activate_from(0)

    def _account(self, frames: int, seconds: float) -> None:
        if not (self.live and self.target_fps):
            return
        self._times.append(seconds / max(frames, 1))
        self._seen += 1
        if self._seen < self.window:
            return
        self._seen = 0
        budget = 1.0 / self.target_fps
        mean = sum(self._times) / len(self._times)
        self._slow_windows = self._slow_windows + 1 if mean > budget * (1 + self.margin) else 0
        if self._slow_windows >= self.patience and self.index < len(self.entries) - 1:
            old = self.active
            previous = self.current
            try:
                self._activate_from(self.index + 1)
            except NocturneError:
                log.warning("fallback: %s is too slow (%.1f ms/frame for a %.1f ms budget) but "
                            "nothing after it starts; keeping it", old, mean * 1e3, budget * 1e3)
                self.current = previous
                self._slow_windows = 0
                return
            if previous is not None:
                previous.close()
            self.switches.append({"from": old, "to": self.active, "ms_per_frame": mean * 1e3,
                                  "budget_ms": budget * 1e3, "at": time.time()})
            log.warning("fallback: %s took %.1f ms/frame for a %.1f ms budget (%.1f FPS target);"
                        " switched to %s", old, mean * 1e3, budget * 1e3, self.target_fps,
                        self.active)
            self._times.clear()
            self._slow_windows = 0

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        self.start()
        current = self.current
        if current is None:  # start() either sets it or raises; closed meanwhile
            raise NocturneError("fallback: enhancer used after close()")
        t0 = time.monotonic()
        out = current(frames)
        self._account(len(frames), time.monotonic() - t0)
        return out

    def reset(self) -> None:
        if self.current is not None:
            self.current.reset()

    def stats(self) -> dict[str, Any]:
        return {"active": self.active, "skipped": dict(self.skipped),
                "switches": len(self.switches), "switch_log": list(self.switches)}

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
