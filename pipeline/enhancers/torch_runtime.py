"""The PyTorch GPU runtime: uint8 frames through pinned staging buffers, three CUDA streams,
reduced precision and CUDA graphs — what the TensorRT runner does, for every PyTorch model.

:class:`TorchRunner` keeps ``SLOTS`` pinned uint8 buffers for input and output. ``submit``
copies a batch into a pinned slot and queues, each on its own stream and ordered by events,

1. the upload of the uint8 batch (``non_blocking`` from pinned memory: a DMA, 4x smaller than
   float),
2. the conversion and layout on the device (uint8 NHWC to ``precision`` NCHW), the model, and
   the conversion back to uint8 NHWC,
3. the download into the slot's pinned output buffer;

``collect`` waits for the oldest batch's download event. With two batches submitted, the upload
of N+1 and the download of N-1 overlap the compute of N. ``infer`` returns its own batch even
with others in flight. ``precision`` is ``fp32``, ``fp16`` or ``bf16``: the model is cast,
normalization layers kept in FP32 (a variance of FP16 values overflows); on a GPU the weights
are channels-last (the frame arrives NHWC: no transpose anywhere) and each GroupNorm's
statistics are split reductions over the whole GPU (``models.common.ReducedGroupNorm``:
PyTorch's own kernel keeps a few thread blocks busy at 1080p). With ``graphs`` the
compute step of a fixed batch shape is captured once as a CUDA graph and replayed (falling back
to eager for other shapes, or where capture fails); ``cudnn.benchmark`` picks kernels per shape.

The device is reached through a :class:`DeviceOps` object, so the whole pipelining logic runs
and is tested on a CPU (:class:`CpuOps`: streams and events that complete at once, buffers in
ordinary memory); :class:`CudaOps` is the real one.
"""
from __future__ import annotations

import abc
import collections
import contextlib
import copy
import logging
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, EnhancerError
from ..models.common import PRECISIONS, cast_model, prepare_for_gpu

log = logging.getLogger(__name__)

class DeviceOps(abc.ABC):
    """What the runner needs from a device: pinned buffers, streams, events."""

    device: torch.device

    @abc.abstractmethod
    def pinned(self, numel: int) -> torch.Tensor:
        """A host uint8 buffer of ``numel`` bytes the device can copy from asynchronously."""

    @abc.abstractmethod
    def stream(self) -> Any:
        """A new stream (queue of device work)."""

    @abc.abstractmethod
    def event(self) -> Any:
        """A new event: ``record(stream)`` marks a point, ``synchronize()`` waits for it."""

    @abc.abstractmethod
    def use(self, stream: Any) -> contextlib.AbstractContextManager[Any]:
        """A context in which device work goes to ``stream``."""

    @abc.abstractmethod
    def wait(self, stream: Any, event: Any) -> None:
        """Make ``stream``'s later work wait for ``event``."""


class CudaOps(DeviceOps):
    """CUDA through torch: page-locked host memory, side streams, blocking-sync events."""

    def __init__(self, device: torch.device) -> None:
        if not torch.cuda.is_available():
            raise EnhancerError(f"device {device} asked for, but torch sees no CUDA device")
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise EnhancerError(f"device cuda:{index} asked for, but torch sees "
                                f"{torch.cuda.device_count()} CUDA device(s)")
        self.device = torch.device("cuda", index)
        torch.backends.cudnn.benchmark = True  # kernels chosen per shape, once

    def pinned(self, numel: int) -> torch.Tensor:
        return torch.empty(numel, dtype=torch.uint8, pin_memory=True)

    def stream(self) -> Any:
        return torch.cuda.Stream(device=self.device)

    def event(self) -> Any:
        # blocking: a wait sleeps instead of spinning a core the decoder and encoder need
        return torch.cuda.Event(blocking=True)

    def use(self, stream: Any) -> contextlib.AbstractContextManager[Any]:
        return torch.cuda.stream(stream)

    def wait(self, stream: Any, event: Any) -> None:
        stream.wait_event(event)


class _DoneEvent:
    """A CPU event: the work before it is already done when it is recorded."""

    def __init__(self) -> None:
        self.recorded = False

    def record(self, stream: Any = None) -> None:
        self.recorded = True

    def synchronize(self) -> None:
        if not self.recorded:
            raise EnhancerError("waited for an event that was never recorded")


class CpuOps(DeviceOps):
    """The same runner on a CPU (tests, and the logic's reference): work completes at once."""

    def __init__(self) -> None:
        self.device = torch.device("cpu")

    def pinned(self, numel: int) -> torch.Tensor:
        return torch.empty(numel, dtype=torch.uint8)

    def stream(self) -> Any:
        return None

    def event(self) -> Any:
        return _DoneEvent()

    def use(self, stream: Any) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def wait(self, stream: Any, event: Any) -> None:
        if not event.recorded:
            raise EnhancerError("a stream waited for an event that was never recorded")


class TorchRunner:
    """Pipelined uint8-in, uint8-out inference of ``model`` (float ``(N, 3, H, W)`` in [0, 1]
    to the same) on a device; see the module docstring."""

    SLOTS = 2

    def __init__(self, model: nn.Module, ops: DeviceOps, precision: str = "fp32",
                 graphs: bool = False,
                 forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
                 gpu_layout: bool = True) -> None:
        self.ops = ops
        self.precision = precision
        self.dtype = PRECISIONS.get(precision)
        if self.dtype is None:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, "
                              f"got {precision!r}")
        # a copy: the caller's model stays as it was (FP32, its own layout) for other uses
        self.model = cast_model(copy.deepcopy(model).eval().to(ops.device), precision)
        #: channels-last weights and split-reduction GroupNorms (``models.common``), on a GPU
        self.gpu_layout = bool(gpu_layout) and ops.device.type == "cuda"
        if self.gpu_layout:
            self.model = prepare_for_gpu(self.model)
        self._forward = forward or (lambda m, x: m(x))
        self.graphs = bool(graphs) and ops.device.type == "cuda"
        self._graph: dict[tuple[int, ...], tuple[Any, torch.Tensor, torch.Tensor]] = {}
        self._graph_failed: set[tuple[int, ...]] = set()
        self._upload, self._compute, self._download = (ops.stream() for _ in range(3))
        self._host_in: list[torch.Tensor] = [ops.pinned(0) for _ in range(self.SLOTS)]
        self._host_out: list[torch.Tensor] = [ops.pinned(0) for _ in range(self.SLOTS)]
        self._uploaded = [ops.event() for _ in range(self.SLOTS)]
        self._computed = [ops.event() for _ in range(self.SLOTS)]
        self._done = [ops.event() for _ in range(self.SLOTS)]
        self._keep: list[Any] = [None] * self.SLOTS  # device tensors alive until downloaded
        self._pending: collections.deque[tuple[int, tuple[int, ...]]] = collections.deque()
        self._ready: collections.deque[np.ndarray] = collections.deque()
        self._next = 0
        #: batches run through a CUDA graph, and eagerly
        self.graph_runs = 0
        self.eager_runs = 0

    # -- the device work -----------------------------------------------------------------------
    def _convert_and_run(self, dev_in: torch.Tensor) -> torch.Tensor:
        """uint8 NHWC on the device to uint8 NHWC, through the model in ``precision``."""
        x = dev_in.permute(0, 3, 1, 2).to(self.dtype).mul_(1.0 / 255.0)
        y = self._forward(self.model, x)
        return (y.float() * 255.0 + 0.5).clamp_(0.0, 255.0).to(torch.uint8).permute(0, 2, 3, 1)

    def _compute_batch(self, dev_in: torch.Tensor) -> torch.Tensor:
        shape = tuple(dev_in.shape)
        if self.graphs and shape not in self._graph_failed:
            entry = self._graph.get(shape) or self._capture(dev_in)
            if entry is not None:
                graph, static_in, static_out = entry
                static_in.copy_(dev_in)
                graph.replay()
                self.graph_runs += 1
                return static_out.clone()
        self.eager_runs += 1
        return self._convert_and_run(dev_in).contiguous()

    def _capture(self, dev_in: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor] | None:
        """Capture the compute of this shape as a CUDA graph (warm-up on a side stream first,
        as torch requires); None, remembered, where capture fails (eager from then on)."""
        shape = tuple(dev_in.shape)
        try:
            static_in = dev_in.clone()
            side = torch.cuda.Stream(device=self.ops.device)
            side.wait_stream(torch.cuda.current_stream(self.ops.device))
            with torch.cuda.stream(side):
                for _ in range(2):
                    self._convert_and_run(static_in)
            torch.cuda.current_stream(self.ops.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._convert_and_run(static_in).contiguous()
        except Exception as exc:  # any capture failure: eager is always correct
            log.warning("CUDA graph capture for %s failed (%s); running eagerly", shape, exc)
            self._graph_failed.add(shape)
            return None
        self._graph[shape] = (graph, static_in, static_out)
        return self._graph[shape]

    # -- submit / collect ----------------------------------------------------------------------
    def _slot_buffers(self, slot: int, numel: int) -> None:
        if self._host_in[slot].numel() < numel:  # grown once per larger shape
            self._host_in[slot] = self.ops.pinned(numel)
            self._host_out[slot] = self.ops.pinned(numel)

    def submit(self, frames: np.ndarray) -> None:
        """Queue a uint8 ``(N, H, W, 3)`` batch; at most ``SLOTS`` may be outstanding."""
        if len(self._pending) >= self.SLOTS:
            raise EnhancerError("both slots are busy: collect() before submitting more")
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
            raise EnhancerError(f"frames must be uint8 (N, H, W, 3), got {frames.dtype} "
                                f"{frames.shape}")
        shape = tuple(frames.shape)
        numel = frames.size
        slot = self._next
        self._next = (slot + 1) % self.SLOTS
        self._slot_buffers(slot, numel)
        host_in = self._host_in[slot][:numel]
        host_in.copy_(torch.from_numpy(np.ascontiguousarray(frames).reshape(-1)))
        ops = self.ops
        with torch.inference_mode():
            with ops.use(self._upload):
                dev_in = host_in.to(ops.device, non_blocking=True).view(shape)
                self._uploaded[slot].record(self._upload)
            with ops.use(self._compute):
                ops.wait(self._compute, self._uploaded[slot])
                out = self._compute_batch(dev_in)
                self._computed[slot].record(self._compute)
            with ops.use(self._download):
                ops.wait(self._download, self._computed[slot])
                self._host_out[slot][:numel].copy_(out.reshape(-1), non_blocking=True)
                self._done[slot].record(self._download)
        # the caching allocator must not hand these to another stream before they are done
        self._keep[slot] = (dev_in, out)
        if ops.device.type == "cuda":
            dev_in.record_stream(self._compute)
            out.record_stream(self._download)
        self._pending.append((slot, shape))

    def _wait_oldest(self) -> np.ndarray:
        slot, shape = self._pending.popleft()
        self._done[slot].synchronize()
        self._keep[slot] = None
        numel = int(np.prod(shape))
        return self._host_out[slot][:numel].numpy().reshape(shape).copy()

    def collect(self) -> np.ndarray:
        """Wait for the oldest submitted batch; its frames (a fresh array)."""
        if self._ready:
            return self._ready.popleft()
        if not self._pending:
            raise EnhancerError("nothing submitted")
        return self._wait_oldest()

    @property
    def pending(self) -> int:
        """Batches submitted and not yet collected."""
        return len(self._pending) + len(self._ready)

    def infer(self, frames: np.ndarray) -> np.ndarray:
        """One batch, synchronously: its own frames even with others in flight (those are kept,
        in order, for :meth:`collect`)."""
        if len(self._pending) >= self.SLOTS:
            self._ready.append(self._wait_oldest())
        self.submit(frames)
        while len(self._pending) > 1:
            self._ready.append(self._wait_oldest())
        return self._wait_oldest()

    def close(self) -> None:
        """Wait for the batches in flight and drop the buffers (safe to call twice)."""
        while self._pending:
            self._ready.append(self._wait_oldest())
        self._ready.clear()
        self._graph.clear()
        self._host_in = self._host_out = []
        self._keep = [None] * self.SLOTS


def make_ops(device: torch.device) -> DeviceOps:
    """The device operations for ``device``."""
    return CudaOps(device) if device.type == "cuda" else CpuOps()
