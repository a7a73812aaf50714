"""TensorRT: building engines from ONNX, and running them with pinned memory on CUDA streams.

Two halves, both needing ``tensorrt`` (and the runtime ``pycuda``), imported only when used:

* :func:`build_engine` parses an ONNX graph (every parser error is reported), sets precision the
  way the installed TensorRT wants it — builder flags and an INT8 entropy calibrator before
  10.12 (JetPack 6 ships 10.3), a strongly typed network from an FP16 or Q/DQ ONNX from 10.12 on
  (where the flags and calibrators are deprecated, and gone in 11) — with a dynamic shape
  profile, a timing cache, a workspace limit, an optimization level and optionally a DLA core
  with GPU fallback; it writes the engine and its sidecar (``pipeline.deploy.engine_info``).
* :class:`TrtRunner` deserializes an engine in the calling thread's CUDA context (pycuda
  contexts are per thread: create it in the enhance thread), and runs batches through page-locked
  host buffers and async copies. Two slots, each with its own stream: the upload of batch N+1 on
  one stream overlaps the compute of batch N on the other; an event keeps the single execution
  context's enqueues in order.

Every CUDA call goes through :func:`check_cuda`, which names the call that failed.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from .engine_info import BuildOptions, EngineInfo, EngineMismatchError, build_path_for
from ..errors import ConfigError, EngineBuildError

log = logging.getLogger(__name__)

T = TypeVar("T")

INSTALL_HINT = ("install the GPU extra on the target: pip install '.[tensorrt]' (on Jetson use "
                "JetPack's python3-libnvinfer and pip install pycuda)")


def import_tensorrt() -> ModuleType:
    """The ``tensorrt`` module, or an ``EngineBuildError`` saying how to get it."""
    try:
        import tensorrt as trt  # type: ignore[import-not-found]
    except Exception as exc:  # ImportError, or a broken install raising OSError
        raise EngineBuildError(f"TensorRT is not available ({exc}); {INSTALL_HINT}") from None
    return trt


def import_pycuda() -> ModuleType:
    """``pycuda.driver`` (initialized), or an ``EngineBuildError`` saying how to get it."""
    try:
        import pycuda.driver as cuda  # type: ignore[import-not-found]
    except Exception as exc:
        raise EngineBuildError(f"pycuda is not available ({exc}); {INSTALL_HINT}") from None
    check_cuda("cuInit", cuda.init)
    return cuda


def check_cuda(what: str, call: Callable[..., T], *args: Any) -> T:
    """Run one CUDA call; a failure becomes an ``EngineBuildError`` naming ``what``."""
    try:
        return call(*args)
    except Exception as exc:
        raise EngineBuildError(f"CUDA call {what} failed: {exc}") from exc


def gpu_facts(cuda: ModuleType, device: int = 0) -> tuple[str, str]:
    """``(name, "major.minor")`` of a CUDA device."""
    dev = check_cuda("cuDeviceGet", cuda.Device, device)
    major, minor = check_cuda("cuDeviceComputeCapability", dev.compute_capability)
    return str(dev.name()), f"{major}.{minor}"


# --- building ---------------------------------------------------------------------------------


def _parse_onnx(trt: ModuleType, network: Any, logger: Any, data: bytes) -> None:
    parser = trt.OnnxParser(network, logger)
    if parser.parse(data):
        return
    errors = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        # node_name/node_operator arrived with TensorRT 10; older bindings only have node()
        name = getattr(err, "node_name", lambda: "?")() or "?"
        op = getattr(err, "node_operator", lambda: "?")() or "?"
        errors.append(f"  [{i}] node {err.node()} ({name}, {op}): {err.desc()}")
    for line in errors:
        log.error("ONNX parser: %s", line.strip())
    raise EngineBuildError("TensorRT's ONNX parser rejected the graph:\n" + "\n".join(errors))


def is_fp16_graph(data: bytes) -> bool:
    """Whether an ONNX frame graph computes in FP16: its input is cast straight to FLOAT16."""
    import onnx

    graph = onnx.load_from_string(data).graph
    name = graph.input[0].name
    casts = [n for n in graph.node if name in n.input and n.op_type == "Cast"]
    return bool(casts) and all(a.i == onnx.TensorProto.FLOAT16 for n in casts
                               for a in n.attribute if a.name == "to")


def strongly_typed_fp16(data: bytes, options: BuildOptions, version: str) -> bytes:
    """The FP16 graph a strongly typed FP16 build parses: the one exported from PyTorch in half
    precision (``options.onnx_fp16``, normalization kept in FP32), or the given graph if it
    already computes in FP16. A float graph cannot be converted reliably after the fact
    (onnxconverter-common loops for ever or refuses graphs that already hold FP16), so that is
    a ``ConfigError``."""
    if options.onnx_fp16:
        return Path(options.onnx_fp16).read_bytes()
    if is_fp16_graph(data):
        return data
    raise ConfigError(f"TensorRT {version} builds FP16 strongly typed, from an FP16 graph: use "
                      "--model NAME (exported in FP16 from PyTorch, normalization in FP32), or "
                      "give an ONNX graph that computes in FP16")


def qdq_onnx(data: bytes, frames: list[np.ndarray]) -> bytes:
    """An INT8 Q/DQ copy of an ONNX graph calibrated on ``frames`` (NHWC uint8 batches), for
    strongly typed INT8 builds (TensorRT >= 10.12 takes INT8 only through explicit Q/DQ):
    symmetric activations and weights, biases left in float, as TensorRT's parser requires."""
    import tempfile

    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self, name: str) -> None:
            self.items = iter([{name: f} for f in frames])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    import onnx

    name = onnx.load_from_string(data).graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        src.write_bytes(data)
        # TensorRT's parser takes symmetric quantization only (every zero point 0) and no
        # int32-quantized biases (onnx-tensorrt#850); ONNX Runtime's defaults give both
        quantize_static(str(src), str(dst), Reader(name), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        per_channel=True, op_types_to_quantize=["Conv", "ConvTranspose"],
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                       "QuantizeBias": False})
        return dst.read_bytes()


def calibration_frames(source: str, shape: tuple[int, int, int, int],
                       count: int) -> list[np.ndarray]:
    """``count`` frames from an image folder or video, resized to ``shape``'s H x W and grouped
    in batches of ``shape``'s N (uint8 NHWC), for INT8 calibration."""
    import cv2

    from ..training.data import VIDEO_EXTENSIONS, list_images, read_rgb, video_frames

    path = Path(source)
    if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
        # every 10th frame: neighbouring frames would calibrate on near-copies
        images = video_frames(path, every=10, max_frames=count)
    else:
        images = [read_rgb(p) for p in list_images(path)[:count]]
    n, h, w, _ = shape
    resized = [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images]
    if len(resized) < n:
        raise ConfigError(f"calibration data {source!r} has {len(resized)} frames; a batch "
                          f"needs {n}")
    return [np.stack(resized[i:i + n]) for i in range(0, len(resized) - n + 1, n)]


def _make_calibrator(trt: ModuleType, cuda: ModuleType, batches: list[np.ndarray],
                     cache: Path | None) -> Any:
    """An ``IInt8EntropyCalibrator2`` feeding ``batches`` (TensorRT < 10.12)."""

    class FrameCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.batches = batches
            self.index = 0
            size = max(b.nbytes for b in batches) if batches else 1
            self.device = check_cuda("cuMemAlloc", cuda.mem_alloc, size)

        def get_batch_size(self) -> int:
            return int(batches[0].shape[0]) if batches else 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self.index >= len(self.batches):
                return None
            batch = np.ascontiguousarray(self.batches[self.index])
            check_cuda("cuMemcpyHtoD", cuda.memcpy_htod, self.device, batch)
            self.index += 1
            return [int(self.device)]

        def read_calibration_cache(self) -> bytes | None:
            if cache is not None and cache.is_file():
                log.info("INT8: using calibration cache %s", cache)
                return cache.read_bytes()
            return None

        def write_calibration_cache(self, data: Any) -> None:
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                cache.write_bytes(bytes(data))

    return FrameCalibrator()


def build_engine(options: BuildOptions, model: str = "") -> tuple[Path, EngineInfo]:
    """Build a TensorRT engine for this machine's GPU; returns its path and sidecar.

    Raises:
        ConfigError: invalid options (checked before any GPU work).
        EngineBuildError: TensorRT/pycuda missing, the parser rejected the graph, or the build
            failed (with the reason TensorRT logged).
    """
    options.validate(tensorrt_version=str(import_tensorrt().__version__))
    trt = import_tensorrt()
    cuda = import_pycuda()
    device = check_cuda("cuDeviceGet", cuda.Device, 0)
    context = check_cuda("cuDevicePrimaryCtxRetain", device.retain_primary_context)
    check_cuda("cuCtxPushCurrent", context.push)
    try:
        return _build(trt, cuda, options, model)
    finally:
        check_cuda("cuCtxPopCurrent", cuda.Context.pop)
        check_cuda("cuDevicePrimaryCtxRelease", context.detach)


class _Logger:
    """A TensorRT logger that forwards to ``logging`` and keeps the errors for the exception."""

    def __init__(self, trt: ModuleType) -> None:
        outer = self
        self.errors: list[str] = []

        class Forward(trt.ILogger):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity: Any, msg: str) -> None:
                levels = trt.ILogger.Severity
                if severity in (levels.INTERNAL_ERROR, levels.ERROR):
                    outer.errors.append(msg)
                    log.error("TensorRT: %s", msg)
                elif severity == levels.WARNING:
                    log.warning("TensorRT: %s", msg)
                else:
                    log.debug("TensorRT: %s", msg)

        self.logger = Forward()


def timing_cache_path(base: str | None, tensorrt_version: str,
                      compute_capability: str) -> Path | None:
    """The timing cache file for this TensorRT version and GPU architecture: ``base`` with
    ``-trtVER-smCC`` before its suffix (a cache of another GPU or version is refused by
    TensorRT, or worse, mistimes)."""
    if not base:
        return None
    p = Path(base)
    tag = f"-trt{tensorrt_version}-sm{compute_capability.replace('.', '')}"
    return p if tag in p.name else p.with_name(f"{p.stem}{tag}{p.suffix or '.cache'}")


def _build(trt: ModuleType, cuda: ModuleType, options: BuildOptions,
           model: str) -> tuple[Path, EngineInfo]:
    version = str(trt.__version__)
    path_kind = build_path_for(version)
    gpu_name, cc = gpu_facts(cuda)
    wrapped = _Logger(trt)
    logger = wrapped.logger
    data = Path(options.onnx).read_bytes()
    onnx_sha = hashlib.sha256(data).hexdigest()

    calib_batches: list[np.ndarray] = []
    calib_cache = Path(options.calib_cache) if options.calib_cache else None
    if options.precision == "int8" and options.calib is not None:
        calib_batches = calibration_frames(options.calib, options.opt_shape,
                                           options.calib_frames)
    if path_kind == "strongly_typed":
        if options.precision == "fp16":
            data = strongly_typed_fp16(data, options, version)
        elif options.precision == "int8":
            if not calib_batches:
                raise ConfigError("TensorRT >= 10.12 takes INT8 only as explicit Q/DQ, which "
                                  "needs --calib frames (a calibration cache is not enough)")
            data = qdq_onnx(data, calib_batches)

    builder = trt.Builder(logger)
    flags = 0
    if path_kind == "strongly_typed" and options.precision != "fp32":
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    _parse_onnx(trt, network, logger, data)
    if network.num_inputs != 1:
        raise EngineBuildError(f"the graph has {network.num_inputs} inputs; frame engines take 1")
    input_name = network.get_input(0).name

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib << 20)
    config.builder_optimization_level = options.opt_level
    profile = builder.create_optimization_profile()
    profile.set_shape(input_name, options.min_shape, options.opt_shape, options.max_shape)
    config.add_optimization_profile(profile)

    if path_kind == "flags":
        if options.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)  # INT8 layers fall back to FP16, not FP32
        if options.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
            config.int8_calibrator = _make_calibrator(trt, cuda, calib_batches, calib_cache)
            config.set_calibration_profile(profile)

    if options.dla_core is not None:
        if builder.num_DLA_cores <= options.dla_core:
            raise EngineBuildError(f"--dla-core {options.dla_core}: this device has "
                                   f"{builder.num_DLA_cores} DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = options.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)

    if options.precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        # "fp32" means FP32: TensorRT would otherwise run convolutions in TF32 on Ampere and
        # later (10 mantissa bits)
        config.clear_flag(trt.BuilderFlag.TF32)

    cache_path = timing_cache_path(options.timing_cache, version, cc)
    if cache_path is not None:
        blob = cache_path.read_bytes() if cache_path.is_file() else b""
        timing = config.create_timing_cache(blob)
        if not config.set_timing_cache(timing, ignore_mismatch=False):
            log.warning("timing cache %s does not match this GPU/TensorRT; building without it",
                        cache_path)
            cache_path = None

    started = time.monotonic()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        reason = "; ".join(wrapped.errors[-3:]) or "see the TensorRT log above"
        raise EngineBuildError(f"TensorRT could not build the engine: {reason}")
    log.info("built in %.1f s", time.monotonic() - started)

    timing_out = config.get_timing_cache() if cache_path is not None else None
    if cache_path is not None and timing_out is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_cache = cache_path.with_suffix(".tmp")
        tmp_cache.write_bytes(bytes(timing_out.serialize()))
        tmp_cache.replace(cache_path)

    info = EngineInfo(
        tensorrt_version=version, gpu_name=gpu_name, compute_capability=cc,
        precision=options.precision, build_path=path_kind, min_shape=list(options.min_shape),
        opt_shape=list(options.opt_shape), max_shape=list(options.max_shape),
        onnx_sha256=onnx_sha, dla_core=options.dla_core, model=model,
        extra={"onnx": str(options.onnx), "options": asdict(options)},
    )
    out_dir = Path(options.engines_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    engine_path = out_dir / f"{info.key()}.engine"
    tmp = engine_path.with_suffix(".tmp")
    tmp.write_bytes(bytes(plan))
    tmp.replace(engine_path)
    info.write(engine_path.with_suffix(".json"))
    return engine_path, info


# --- running ----------------------------------------------------------------------------------


class TrtRunner:
    """One engine, one execution context, two pinned-memory slots on two CUDA streams.

    :meth:`submit` queues a batch (copy into pinned memory, async upload, enqueue, async
    download) and returns at once; :meth:`collect` waits for the oldest submitted batch and
    returns its frames. With two submitted, the upload of the second overlaps the compute of
    the first. :meth:`infer` is submit + collect for one batch, and returns that batch even
    with others in flight (they are kept for :meth:`collect`).

    Any thread may call any method: the pipeline starts the runner in its enhance thread and
    closes it from the main thread, a batch job starts it in one thread and submits from
    another. Every entry point (construction, submit, collect, infer, close) makes the device's
    retained primary context current and pops exactly that push before it returns, so no
    thread is ever left with a context on its stack (pycuda aborts a thread that exits with
    one) and no call pops another runner's context. Events are blocking-sync: a wait sleeps
    instead of spinning a core the decoder and encoder need.
    """

    SLOTS = 2

    def __init__(self, engine_path: str | Path, device: int = 0) -> None:
        self.engine_path = Path(engine_path)
        if not self.engine_path.is_file():
            raise ConfigError(f"engine file {str(self.engine_path)!r} does not exist; build it "
                              f"with build_engine.py")
        self.info = EngineInfo.read(self.engine_path.with_suffix(".json"))
        trt = import_tensorrt()
        cuda = import_pycuda()
        self._trt, self._cuda = trt, cuda
        self._closed = False
        self._ctx: Any = None
        self._pending: list[tuple[int, int]] = []  # (slot, batch size) in submission order
        self._ready: list[np.ndarray] = []  # collected early by infer(), oldest first
        self._next_slot = 0
        self._shapes: dict[int, tuple[int, ...]] = {}
        gpu_name, cc = gpu_facts(cuda, device)
        for warning in self.info.check_compatible(str(trt.__version__), gpu_name, cc):
            log.warning("%s", warning)
        dev = check_cuda("cuDeviceGet", cuda.Device, device)
        self._ctx = check_cuda("cuDevicePrimaryCtxRetain", dev.retain_primary_context)
        try:
            with self._active():
                self._setup(trt, cuda)
        except BaseException:
            self.close()
            raise

    @contextlib.contextmanager
    def _active(self) -> Iterator[None]:
        """This runner's context current for the block; the push popped however it ends."""
        check_cuda("cuCtxPushCurrent", self._ctx.push)
        try:
            yield
        finally:
            check_cuda("cuCtxPopCurrent", self._cuda.Context.pop)

    def _setup(self, trt: ModuleType, cuda: ModuleType) -> None:
        self._logger = _Logger(trt)
        self._runtime = trt.Runtime(self._logger.logger)
        if self.info.dla_core is not None:
            # a DLA engine deserializes onto the core it was built for (as trtexec does)
            self._runtime.DLA_core = int(self.info.dla_core)
        self.engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise EngineMismatchError(
                f"TensorRT could not deserialize {str(self.engine_path)!r}: " +
                ("; ".join(self._logger.errors[-2:]) or "built by another TensorRT version?"))
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EngineBuildError(f"{self.engine_path.name}: expected 1 input and 1 output, "
                                   f"got {inputs} and {outputs}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        for name in (self.input_name, self.output_name):
            dtype = trt.nptype(self.engine.get_tensor_dtype(name))
            if dtype != np.uint8:
                raise EngineBuildError(f"{self.engine_path.name}: tensor {name!r} is {dtype}, "
                                       f"not uint8: build from a uint8 frame graph")
        min_shape, _, max_shape = self.engine.get_tensor_profile_shape(self.input_name, 0)
        self.min_shape = tuple(int(d) for d in min_shape)
        self.max_shape = tuple(int(d) for d in max_shape)
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise EngineBuildError("TensorRT could not create an execution context (GPU memory?)")
        nbytes = int(np.prod(self.max_shape))
        self._host_in = [check_cuda("cuMemHostAlloc", cuda.pagelocked_empty, nbytes, np.uint8)
                         for _ in range(self.SLOTS)]
        self._host_out = [check_cuda("cuMemHostAlloc", cuda.pagelocked_empty, nbytes, np.uint8)
                          for _ in range(self.SLOTS)]
        self._dev_in = [check_cuda("cuMemAlloc", cuda.mem_alloc, nbytes)
                        for _ in range(self.SLOTS)]
        self._dev_out = [check_cuda("cuMemAlloc", cuda.mem_alloc, nbytes)
                         for _ in range(self.SLOTS)]
        self._streams = [check_cuda("cuStreamCreate", cuda.Stream) for _ in range(self.SLOTS)]
        flags = cuda.event_flags.BLOCKING_SYNC | cuda.event_flags.DISABLE_TIMING
        self._done = [check_cuda("cuEventCreate", cuda.Event, flags) for _ in range(self.SLOTS)]
        self._computed = check_cuda("cuEventCreate", cuda.Event, flags)
        self._any_computed = False

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 4 or shape[3] != 3 or any(
                s < lo or s > hi for s, lo, hi in zip(shape, self.min_shape, self.max_shape)):
            raise ConfigError(f"frames of shape {shape} are outside the engine's profile "
                              f"{self.min_shape}..{self.max_shape}; rebuild it with "
                              f"build_engine.py --min/--max")

    def submit(self, frames: np.ndarray) -> None:
        """Queue a uint8 NHWC batch; at most ``SLOTS`` may be outstanding."""
        if self._closed:
            raise EngineBuildError("the TensorRT runner is closed")
        if len(self._pending) >= self.SLOTS:
            raise EngineBuildError("both slots are busy: collect() before submitting more")
        shape = tuple(frames.shape)
        self._check_shape(shape)
        with self._active():
            self._enqueue(frames, shape)

    def _enqueue(self, frames: np.ndarray, shape: tuple[int, ...]) -> None:
        cuda = self._cuda
        slot = self._next_slot
        self._next_slot = (slot + 1) % self.SLOTS
        stream = self._streams[slot]
        n = frames.size
        host_in = self._host_in[slot]
        host_in[:n] = frames.reshape(-1)  # the one host copy: into page-locked memory
        check_cuda("cuMemcpyHtoDAsync", cuda.memcpy_htod_async, self._dev_in[slot],
                   host_in[:n], stream)
        if self._any_computed:
            # One execution context: this enqueue must follow the previous one's compute. The
            # upload above is already queued, so it overlaps that compute.
            check_cuda("cuStreamWaitEvent", stream.wait_for_event, self._computed)
        if not self.context.set_input_shape(self.input_name, shape):
            raise EngineBuildError(f"TensorRT refused input shape {shape}")
        self.context.set_tensor_address(self.input_name, int(self._dev_in[slot]))
        self.context.set_tensor_address(self.output_name, int(self._dev_out[slot]))
        if not self.context.execute_async_v3(stream.handle):
            raise EngineBuildError("TensorRT execute_async_v3 failed: " +
                                   ("; ".join(self._logger.errors[-2:]) or "see the log"))
        check_cuda("cuEventRecord", self._computed.record, stream)
        self._any_computed = True
        check_cuda("cuMemcpyDtoHAsync", cuda.memcpy_dtoh_async, self._host_out[slot][:n],
                   self._dev_out[slot], stream)
        check_cuda("cuEventRecord", self._done[slot].record, stream)
        self._pending.append((slot, n))
        self._shapes[slot] = shape

    def _wait_oldest(self) -> np.ndarray:
        slot, n = self._pending.pop(0)
        check_cuda("cuEventSynchronize", self._done[slot].synchronize)
        return self._host_out[slot][:n].reshape(self._shapes[slot]).copy()

    def collect(self) -> np.ndarray:
        """Wait for the oldest submitted batch; its frames (a fresh array)."""
        if self._ready:
            return self._ready.pop(0)
        if not self._pending:
            raise EngineBuildError("nothing submitted")
        with self._active():
            return self._wait_oldest()

    @property
    def pending(self) -> int:
        """Batches submitted and not yet collected."""
        return len(self._pending) + len(self._ready)

    def infer(self, frames: np.ndarray) -> np.ndarray:
        """One batch, synchronously: its own frames, even with other batches in flight (those
        are waited for and kept, in order, for :meth:`collect`)."""
        if len(self._pending) >= self.SLOTS:
            with self._active():
                self._ready.append(self._wait_oldest())
        self.submit(frames)
        with self._active():
            while len(self._pending) > 1:
                self._ready.append(self._wait_oldest())
            return self._wait_oldest()

    def close(self) -> None:
        """Wait for the batches in flight, free device and pinned memory, streams and events,
        release the context; safe to call twice, from any thread."""
        if self._closed:
            return
        self._closed = True
        if self._ctx is None:
            return
        try:
            with self._active():
                for slot, _ in self._pending:
                    try:  # the device must be done with the buffers before they are freed
                        self._done[slot].synchronize()
                    except Exception as exc:
                        log.warning("waiting for a batch in flight failed: %s", exc)
                self._pending.clear()
                for name in ("_dev_in", "_dev_out"):
                    for buf in getattr(self, name, []):
                        try:
                            buf.free()
                        except Exception as exc:  # keep freeing the rest
                            log.warning("freeing device memory failed: %s", exc)
                for name in ("context", "engine", "_runtime", "_host_in", "_host_out",
                             "_streams", "_done", "_computed"):
                    if hasattr(self, name):
                        setattr(self, name, None)
        except EngineBuildError as exc:
            log.warning("closing the TensorRT runner: %s", exc)
        try:
            self._ctx.detach()
        except Exception as exc:
            log.warning("releasing the CUDA context failed: %s", exc)
        self._ctx = None

    def __enter__(self) -> "TrtRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def find_engine(engines_dir: str | Path, model: str, precision: str | None = None,
                target: tuple[str, str, str] | None = None) -> Path | None:
    """The newest engine for ``model`` under ``engines_dir`` (optionally of one precision)
    that can run on ``target`` = ``(TensorRT version, GPU name, compute capability)``, chosen
    by the sidecars (an engine of another GPU or TensorRT is skipped, not picked and then
    refused); without ``target``, the newest with a readable sidecar."""
    root = Path(engines_dir)
    if not root.is_dir():
        return None
    pattern = f"{model}-*-{precision}*.engine" if precision else f"{model}-*.engine"
    found = sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in found:
        try:
            info = EngineInfo.read(path.with_suffix(".json"))
            if precision is not None and info.precision != precision:
                continue
            if target is not None:
                info.check_compatible(*target)
        except (EngineBuildError, EngineMismatchError) as exc:
            log.debug("skipping %s: %s", path.name, exc)
            continue
        return path
    return None


__all__ = ["BuildOptions", "EngineInfo", "EngineMismatchError", "TrtRunner", "build_engine",
           "calibration_frames", "check_cuda", "find_engine", "import_pycuda", "is_fp16_graph",
           "strongly_typed_fp16",
           "import_tensorrt", "qdq_onnx", "timing_cache_path"]
