"""A stand-in for ``pycuda.driver`` and ``tensorrt`` that fails the way the real ones do where
threads and CUDA contexts are concerned, so the TensorRT runtime's threading is tested on CPU.

What it enforces, as pycuda and the CUDA driver do:

* every thread has its own context stack; memory, stream, event and copy calls need a current
  context (else ``LogicError: ... invalid context``, CUDA_ERROR_INVALID_CONTEXT);
* ``Context.pop()`` on an empty stack fails;
* a thread that ends with contexts still on its stack is recorded in ``ABORTS`` (pycuda calls
  ``abort()`` then);
* device memory freed twice, or used after ``free``, fails.

The "engine" inverts its uint8 input (``255 - x``), so a test can tell whose frames came back.
"""
from __future__ import annotations

import sys
import threading
import types
from typing import Any

import numpy as np

#: names of threads that ended with a non-empty context stack
ABORTS: list[str] = []
#: every device buffer ever allocated (to check they were freed)
BUFFERS: list["_DeviceBuffer"] = []
VERSION = "10.3.0"
GPU_NAME = "Fake GPU"
COMPUTE_CAPABILITY = (8, 9)
PROFILE = ((1, 16, 16, 3), (1, 64, 96, 3), (4, 256, 256, 3))


class LogicError(RuntimeError):
    """pycuda's error type for driver misuse."""


class _Stack(list):
    """A thread's context stack; when the thread ends with one still pushed, pycuda aborts."""

    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.current_thread().name

    def __del__(self) -> None:
        if len(self):
            ABORTS.append(self.thread)


_local = threading.local()


def _stack() -> _Stack:
    if not hasattr(_local, "stack"):
        _local.stack = _Stack()
    return _local.stack


def _require(what: str) -> None:
    if not _stack():
        raise LogicError(f"{what} failed: invalid device context")


class _Context:
    def __init__(self) -> None:
        self.detached = False

    def push(self) -> None:
        if self.detached:
            raise LogicError("cuCtxPushCurrent failed: context released")
        _stack().append(self)

    def detach(self) -> None:
        self.detached = True


class Context:
    @staticmethod
    def pop() -> None:
        stack = _stack()
        if not stack:
            raise LogicError("cuCtxPopCurrent failed: invalid context (nothing pushed)")
        stack.pop()


class Device:
    def __init__(self, index: int) -> None:
        if index != 0:
            raise LogicError("cuDeviceGet failed: invalid device ordinal")

    def name(self) -> str:
        return GPU_NAME

    def compute_capability(self) -> tuple[int, int]:
        return COMPUTE_CAPABILITY

    def retain_primary_context(self) -> _Context:
        return _Context()


class _DeviceBuffer:
    def __init__(self, nbytes: int) -> None:
        _require("cuMemAlloc")
        self.data = np.zeros(nbytes, np.uint8)
        self.freed = False
        BUFFERS.append(self)

    def free(self) -> None:
        _require("cuMemFree")
        if self.freed:
            raise LogicError("cuMemFree failed: freed twice")
        self.freed = True

    def __int__(self) -> int:
        return id(self)


_ADDRESSES: dict[int, _DeviceBuffer] = {}


def mem_alloc(nbytes: int) -> _DeviceBuffer:
    buf = _DeviceBuffer(nbytes)
    _ADDRESSES[id(buf)] = buf
    return buf


def pagelocked_empty(n: int, dtype: Any) -> np.ndarray:
    _require("cuMemHostAlloc")
    return np.zeros(n, dtype)


class Stream:
    def __init__(self) -> None:
        _require("cuStreamCreate")
        self.handle = id(self)

    def wait_for_event(self, event: "Event") -> None:
        _require("cuStreamWaitEvent")


class event_flags:  # noqa: N801 (pycuda's name)
    DEFAULT = 0
    BLOCKING_SYNC = 1
    DISABLE_TIMING = 2


class Event:
    created_flags: list[int] = []

    def __init__(self, flags: int = 0) -> None:
        _require("cuEventCreate")
        Event.created_flags.append(flags)

    def record(self, stream: Stream) -> None:
        _require("cuEventRecord")

    def synchronize(self) -> None:
        _require("cuEventSynchronize")


def memcpy_htod_async(dest: _DeviceBuffer, src: np.ndarray, stream: Stream) -> None:
    _require("cuMemcpyHtoDAsync")
    if dest.freed:
        raise LogicError("cuMemcpyHtoDAsync failed: freed memory")
    dest.data[:src.size] = src


def memcpy_dtoh_async(dest: np.ndarray, src: _DeviceBuffer, stream: Stream) -> None:
    _require("cuMemcpyDtoHAsync")
    if src.freed:
        raise LogicError("cuMemcpyDtoHAsync failed: freed memory")
    dest[:] = src.data[:dest.size]


def init() -> None:
    """``pycuda.driver.init``: the stand-in has no driver to initialize."""


# --- tensorrt ---------------------------------------------------------------------------------
class _Severity:
    INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)


class ILogger:
    Severity = _Severity

    def __init__(self) -> None:
        """``trt.ILogger()``: subclasses call it; the stand-in keeps no state."""


class TensorIOMode:
    INPUT = "input"
    OUTPUT = "output"


class _ExecutionContext:
    def __init__(self) -> None:
        self.shape: tuple[int, ...] | None = None
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.shape = tuple(shape)
        return all(lo <= s <= hi for s, lo, hi in zip(shape, PROFILE[0], PROFILE[2]))

    def set_tensor_address(self, name: str, address: int) -> None:
        self.addresses[name] = address

    def execute_async_v3(self, stream_handle: int) -> bool:
        _require("enqueueV3")
        assert self.shape is not None
        n = int(np.prod(self.shape))
        src = _ADDRESSES[self.addresses["frames"]]
        dst = _ADDRESSES[self.addresses["enhanced"]]
        dst.data[:n] = 255 - src.data[:n]
        return True


class _Engine:
    num_io_tensors = 2

    def get_tensor_name(self, i: int) -> str:
        return ("frames", "enhanced")[i]

    def get_tensor_mode(self, name: str) -> str:
        return TensorIOMode.INPUT if name == "frames" else TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name: str) -> str:
        return "uint8"

    def get_tensor_profile_shape(self, name: str, profile: int) -> tuple[tuple[int, ...], ...]:
        return PROFILE

    def create_execution_context(self) -> _ExecutionContext:
        _require("createExecutionContext")
        return _ExecutionContext()


class Runtime:
    def __init__(self, logger: Any) -> None:
        self.DLA_core = -1

    def deserialize_cuda_engine(self, data: bytes) -> _Engine:
        _require("deserializeCudaEngine")
        return _Engine()


def nptype(dtype: str) -> Any:
    return np.uint8


def install(monkeypatch: Any) -> None:
    """Make ``import tensorrt`` and ``import pycuda.driver`` find these fakes."""
    ABORTS.clear()
    BUFFERS.clear()
    Event.created_flags.clear()
    me = sys.modules[__name__]
    trt = types.ModuleType("tensorrt")
    for name in ("ILogger", "TensorIOMode", "Runtime", "nptype"):
        setattr(trt, name, getattr(me, name))
    trt.__version__ = VERSION
    pycuda = types.ModuleType("pycuda")
    driver = types.ModuleType("pycuda.driver")
    for name in ("LogicError", "Context", "Device", "mem_alloc", "pagelocked_empty", "Stream",
                 "Event", "event_flags", "memcpy_htod_async", "memcpy_dtoh_async", "init"):
        setattr(driver, name, getattr(me, name))
    pycuda.driver = driver
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)


def write_engine(folder: Any, model: str = "zero_dce_pp") -> Any:
    """An engine file and its sidecar for the fake GPU; returns the engine's path."""
    from pipeline.deploy.engine_info import EngineInfo

    info = EngineInfo(tensorrt_version=VERSION, gpu_name=GPU_NAME,
                      compute_capability="%d.%d" % COMPUTE_CAPABILITY, precision="fp16",
                      build_path="flags", min_shape=list(PROFILE[0]),
                      opt_shape=list(PROFILE[1]), max_shape=list(PROFILE[2]),
                      onnx_sha256="0" * 64, model=model)
    path = folder / f"{info.key()}.engine"
    path.write_bytes(b"fake plan")
    info.write(path.with_suffix(".json"))
    return path
