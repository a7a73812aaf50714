"""The ``Enhancer`` interface: a batch of uint8 RGB frames in, the same shape out."""
from __future__ import annotations

import abc
import logging
import os
from types import TracebackType
from typing import Any

import numpy as np

from ..errors import ConfigError, EnhancerError
from ..registry import Registry

log = logging.getLogger(__name__)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a container
    quota's cpuset), not the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Intra-op threads of a CPU enhancer when ``threads`` is not given: half the available
    cores. The decoder and the encoder run beside the enhancer and need cores too; a pool as
    wide as the machine stalls at every operator barrier when one of its threads loses its
    core (``tools/bench_threads.py``: ``zero_dce_pp`` on 2 cores with one core busy, 2
    threads ran hundreds of ms per frame, 1 thread a few ms)."""
    return max(1, available_cores() // 2)


#: the most intra-op threads a config may ask for: each is a real thread with its own stack,
#: and a pool of 100,000 (a typo) took 17 GB and never started
MAX_THREADS = 256


def check_threads(threads: object) -> int | None:
    """``None`` (the default) or an intra-op thread count in 1..``MAX_THREADS``;
    ``ConfigError`` otherwise. More threads than the process's cores only slow a CPU
    enhancer down (a warning says so)."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or \
            not 1 <= threads <= MAX_THREADS:
        raise ConfigError(f"threads must be an integer in 1..{MAX_THREADS}, got {threads!r}")
    if threads > available_cores():
        log.warning("threads %d: more than the %d cores this process may use (slower, not "
                    "faster)", threads, available_cores())
    return threads


class Enhancer(abc.ABC):
    """Turns a batch of dark frames into enhanced frames.

    ``enhance`` takes an array of shape ``(N, H, W, 3)``, dtype ``uint8``, RGB channel order, and
    returns an array of the same shape and dtype. Implementations may keep state between calls
    (temporal smoothing), so one instance serves one stream, called from one thread (the
    pipeline's enhance thread: GPU contexts are per thread, so heavy set-up belongs in ``start``).
    """

    #: name under which the class is registered (set by ``register_enhancer``)
    name: str = ""
    #: batches the enhancer can have in flight through :meth:`submit` / :meth:`collect`;
    #: 0 means only the synchronous :meth:`enhance` (the runner then never calls those two)
    max_in_flight: int = 0

    def configure_stream(self, live: bool, target_fps: float | None) -> None:
        """Told by the runner, before ``start``, whether the source is live and the output
        rate it must hold (enhancers that adapt to load use it; the default ignores it)."""

    def start(self) -> None:
        """Acquire thread-bound resources; called once, in the thread that calls ``enhance``."""

    def reset(self) -> None:
        """Forget the previous frames: a new stream (the next file of a batch, an unrelated
        image) starts. Enhancers with temporal state clear it; the default has none."""

    @abc.abstractmethod
    def enhance(self, frames: np.ndarray) -> np.ndarray:
        """Enhance a ``(N, H, W, 3)`` uint8 RGB batch; returns the same shape and dtype."""

    def submit(self, frames: np.ndarray) -> None:
        """Start enhancing a batch without waiting (pipelined enhancers, ``max_in_flight`` > 0;
        the runner never calls it on others, which refuse with ``EnhancerError``)."""
        raise EnhancerError(f"enhancer {self.name!r} is not pipelined: call it synchronously")

    def collect(self) -> np.ndarray:
        """The result of the oldest submitted batch (pipelined enhancers)."""
        raise EnhancerError(f"enhancer {self.name!r} is not pipelined: call it synchronously")

    def stats(self) -> dict[str, Any]:
        """Enhancer-specific counters for the run's stats (e.g. fallback switches)."""
        return {}

    def close(self) -> None:
        """Release resources; safe to call more than once."""

    def __enter__(self) -> "Enhancer":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Check the batch, enhance it, check the result."""
        check_batch(frames)
        out = self.enhance(frames)
        if out.shape != frames.shape or out.dtype != np.uint8:
            raise EnhancerError(
                f"enhancer {self.name!r} returned {out.dtype}{tuple(out.shape)}, "
                f"expected uint8{tuple(frames.shape)}"
            )
        return out


def check_batch(frames: np.ndarray) -> None:
    """Raise ``EnhancerError`` unless ``frames`` is an ``(N, H, W, 3)`` uint8 array."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise EnhancerError(f"expected a uint8 numpy array, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise EnhancerError(f"expected shape (N, H, W, 3), got {tuple(frames.shape)}")


ENHANCERS: Registry[Enhancer] = Registry("enhancer")


def register_enhancer(name: str) -> Any:
    """Class decorator: register an ``Enhancer`` subclass under ``name``."""

    def decorator(cls: type[Enhancer]) -> type[Enhancer]:
        cls.name = name
        ENHANCERS.register(name)(cls)
        return cls

    return decorator


def build_enhancer(name: str, where: str = "enhancer", **kwargs: Any) -> Enhancer:
    """Build the enhancer registered as ``name`` with keyword arguments ``kwargs``."""
    return ENHANCERS.build(name, where=where, **kwargs)
