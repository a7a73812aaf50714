"""TensorRT engine bookkeeping that needs no GPU: sidecars, cache keys, compatibility checks,
build options and their validation.

An engine is only valid for the TensorRT version and the GPU (compute capability) it was built
on. Each ``X.engine`` under ``engines/`` has a ``X.json`` sidecar saying what it was built from
and for; the file name is a key of those facts, so engines for several targets can live side by
side, and loading one built for another GPU or TensorRT version is refused with a clear message
instead of TensorRT's deserialization error (the fallback chain then moves on).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError, EngineBuildError

PRECISIONS = ("fp32", "fp16", "int8")
Precision = Literal["fp32", "fp16", "int8"]
#: TensorRT from this version on builds only strongly typed networks for reduced precision
#: (the FP16/INT8 builder flags and the INT8 calibrators are deprecated, and gone in 11)
STRONGLY_TYPED_FROM = (10, 12)


class EngineMismatchError(EngineBuildError):
    """An engine was built for another GPU or TensorRT version than the one here."""


def parse_version(text: str) -> tuple[int, ...]:
    """``"10.3.0.26"`` to ``(10, 3, 0, 26)``; non-numeric parts end the tuple."""
    parts = []
    for part in str(text).split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        parts.append(int(match.group()))
    if not parts:
        raise ConfigError(f"not a version: {text!r}")
    return tuple(parts)


def build_path_for(version: str) -> Literal["flags", "strongly_typed"]:
    """How reduced precision is asked of this TensorRT: builder flags (before 10.12, e.g. JetPack
    6's 10.3) or a strongly typed network whose types come from the ONNX (10.12 and 11)."""
    return "flags" if parse_version(version)[:2] < STRONGLY_TYPED_FROM else "strongly_typed"


Shape = tuple[int, int, int, int]


#: the longest frame side an engine profile may ask for (8K is 7680; TensorRT's tensors and
#: a GPU's memory end well before the 99999999 a typo gives)
MAX_SIDE = 16384


def _parse_hw(text: str, what: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not match:
        raise ConfigError(f"{what}: expected WIDTHxHEIGHT such as 1280x720, got {text!r}")
    w, h = int(match.group(1)), int(match.group(2))
    if w < 1 or h < 1:
        raise ConfigError(f"{what}: sizes must be positive, got {text!r}")
    if w > MAX_SIDE or h > MAX_SIDE:
        raise ConfigError(f"{what}: each side must be at most {MAX_SIDE} pixels, got {text!r}")
    return h, w


def frame_shape(batch: int, size: str, what: str) -> Shape:
    """The NHWC input shape of a batch of ``size`` (``WIDTHxHEIGHT``) RGB frames."""
    h, w = _parse_hw(size, what)
    if batch < 1:
        raise ConfigError(f"{what}: batch must be >= 1, got {batch}")
    return (batch, h, w, 3)


@dataclass(frozen=True)
class BuildOptions:
    """What ``build_engine.py`` builds: validated before any GPU work starts."""

    onnx: str
    precision: Precision = "fp16"
    #: NHWC shapes of the optimization profile
    min_shape: Shape = (1, 360, 640, 3)
    opt_shape: Shape = (1, 720, 1280, 3)
    max_shape: Shape = (1, 1080, 1920, 3)
    workspace_mib: int = 1024
    #: builder optimization level 0..5 (TensorRT's default is 3)
    opt_level: int = 3
    timing_cache: str | None = "engines/timing.cache"
    dla_core: int | None = None
    #: INT8: an image folder or video of representative frames, and the calibration cache
    calib: str | None = None
    calib_cache: str | None = None
    calib_frames: int = 64
    #: the smallest side the model accepts (Zero-DCE++ estimates its map at 1/scale)
    min_side: int = 1
    engines_dir: str = "engines"
    #: the same model exported in FP16 (uint8 in and out, normalization in FP32): what a
    #: strongly typed FP16 build (TensorRT >= 10.12) parses; None for a user's ONNX file
    onnx_fp16: str | None = None

    def validate(self, tensorrt_version: str | None = None) -> None:
        """Raise ``ConfigError`` for option combinations that cannot build (with the installed
        ``tensorrt_version`` known, also those only that version refuses)."""
        if not Path(self.onnx).is_file():
            raise ConfigError(f"ONNX file {self.onnx!r} does not exist (export it first: "
                              f"build_engine.py --model NAME exports it for you)")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got "
                              f"{self.precision!r}")
        shapes = (self.min_shape, self.opt_shape, self.max_shape)
        for a, b, names in ((self.min_shape, self.opt_shape, "min <= opt"),
                            (self.opt_shape, self.max_shape, "opt <= max")):
            if any(x > y for x, y in zip(a, b)):
                raise ConfigError(f"shape profile must satisfy {names} in every dimension, "
                                  f"got min {self.min_shape}, opt {self.opt_shape}, max "
                                  f"{self.max_shape}")
        if min(self.min_shape[1:3]) < self.min_side:
            raise ConfigError(f"the smallest frame side of the profile ({min(self.min_shape[1:3])}"
                              f") is below what the model accepts ({self.min_side})")
        if not 0 <= self.opt_level <= 5:
            raise ConfigError(f"builder optimization level must be 0..5, got {self.opt_level}")
        if self.workspace_mib < 16:
            raise ConfigError(f"workspace must be at least 16 MiB, got {self.workspace_mib}")
        if self.dla_core is not None:
            if self.dla_core < 0:
                raise ConfigError(f"--dla-core must be >= 0, got {self.dla_core}")
            if len({tuple(s) for s in shapes}) != 1:
                raise ConfigError("DLA needs fixed shapes: give --min, --opt and --max the same "
                                  "size (or --shape WxH)")
            if self.precision == "fp32":
                raise ConfigError("DLA runs only fp16 or int8; use --precision fp16 or int8")
        if self.precision == "int8":
            has_cache = self.calib_cache is not None and Path(self.calib_cache).is_file()
            if self.calib is None and not has_cache:
                raise ConfigError("int8 needs calibration data: --calib DIR_OR_VIDEO (frames "
                                  "like those the engine will see, e.g. under calib/) or an "
                                  "existing --calib-cache")
            if self.calib is not None and not Path(self.calib).exists():
                raise ConfigError(f"calibration data {self.calib!r} does not exist")
            if self.calib_frames < 1:
                raise ConfigError(f"--calib-frames must be >= 1, got {self.calib_frames}")
            if self.calib is None and tensorrt_version is not None and \
                    build_path_for(tensorrt_version) == "strongly_typed":
                raise ConfigError(f"TensorRT {tensorrt_version} takes INT8 only as explicit "
                                  "Q/DQ, which is calibrated on frames: give --calib "
                                  "DIR_OR_VIDEO (a calibration cache is not enough)")


@dataclass(frozen=True)
class EngineInfo:
    """The sidecar of an engine: what it was built from and for."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    build_path: str
    min_shape: list[int]
    opt_shape: list[int]
    max_shape: list[int]
    onnx_sha256: str
    dla_core: int | None = None
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """A file-name-safe key: model, source hash, precision, target and shapes."""
        gpu = re.sub(r"[^a-z0-9]+", "-", self.gpu_name.lower()).strip("-") or "gpu"
        shapes = hashlib.sha256(json.dumps(
            [self.min_shape, self.opt_shape, self.max_shape, self.dla_core]).encode()
        ).hexdigest()[:8]
        dla = f"-dla{self.dla_core}" if self.dla_core is not None else ""
        return (f"{self.model or 'model'}-{self.onnx_sha256[:12]}-{self.precision}{dla}-{gpu}-"
                f"sm{self.compute_capability.replace('.', '')}-trt{self.tensorrt_version}-"
                f"s{shapes}")

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | Path) -> "EngineInfo":
        """Read a sidecar; a missing or malformed one is an ``EngineBuildError`` naming it."""
        p = Path(path)
        try:
            data = json.loads(p.read_text())
            return cls(**data)
        except FileNotFoundError:
            raise EngineBuildError(f"engine sidecar {str(p)!r} is missing: rebuild the engine "
                                   f"with build_engine.py") from None
        except (OSError, ValueError, TypeError) as exc:
            raise EngineBuildError(f"engine sidecar {str(p)!r} is unreadable: {exc}") from None

    def check_compatible(self, tensorrt_version: str, gpu_name: str,
                         compute_capability: str) -> list[str]:
        """Raise ``EngineMismatchError`` unless this engine can run here; returns warnings."""
        problems: list[str] = []
        warnings: list[str] = []
        if parse_version(self.tensorrt_version)[:3] != parse_version(tensorrt_version)[:3]:
            problems.append(f"TensorRT {self.tensorrt_version} (here {tensorrt_version})")
        if self.compute_capability != compute_capability:
            problems.append(f"compute capability {self.compute_capability} "
                            f"(here {compute_capability})")
        if self.gpu_name != gpu_name and not problems:
            # Same architecture and version: TensorRT can deserialize it, but the tactics were
            # timed on another GPU, so it may be slower than a fresh build. Allowed, noted.
            warnings.append(f"engine built on {self.gpu_name}, running on {gpu_name}: "
                            f"rebuild here for the best tactics")
        if problems:
            raise EngineMismatchError(
                f"engine was built for {self.gpu_name} with " + " and ".join(problems) +
                "; engines only run on the GPU architecture and TensorRT version they were "
                "built with: rebuild it here with build_engine.py")
        return warnings
