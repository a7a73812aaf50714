"""Run configuration: YAML files loaded into frozen dataclasses, validated key by key.

A config has four blocks: ``source``, ``enhancer``, ``sink`` and ``run``. Every key is checked:
an unknown key or a value of the wrong type raises ``ConfigError`` naming the file and the key
path (``configs/x.yaml: sink.crf: expected a number, got 'high'``). The ``enhancer`` block works
like BasicSR's ``network_g``: ``type`` picks a registered enhancer and the other keys are its
keyword arguments, checked against its signature.

``--set a.b=value`` overrides are applied to the parsed YAML before validation; their values are
parsed as YAML too, so ``--set sink.crf=18`` gives an int and ``--set run.target_fps=null`` None.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, Union
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError
from .media import MAX_FRAME_SIDE, file_problem


class YamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads YAML 1.2 numbers: ``1e-9`` and ``5E3`` are floats
    (YAML 1.1 wants a dot, ``1.0e-9``, and would keep them as text), and refuses a key given
    twice in one mapping (PyYAML keeps the last silently: two ``sink:`` blocks, and the first
    is lost without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or \
                        not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


#: the most values a config document may expand to: YAML aliases let a few lines stand for
#: billions of values ("billion laughs"), which printing or walking them would never finish
MAX_YAML_VALUES = 100_000


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` with YAML 1.2 numbers (see ``YamlLoader``); a document nested
    deeper than Python recurses, one that refers to itself, or one whose aliases expand to
    more than ``MAX_YAML_VALUES`` values is a ``yaml.YAMLError`` saying so."""
    try:
        data = yaml.load(text, Loader=YamlLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    _expanded_size(data, {}, set())
    return data


def _expanded_size(value: Any, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values ``value`` stands for with its aliases expanded (each shared object
    counted once per use, computed once: linear in the objects, not in the expansion)."""
    if not isinstance(value, (list, dict)):
        return 1
    key = id(value)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise yaml.YAMLError("a value refers to itself (a recursive alias)")
    open_.add(key)
    items = list(value.keys()) + list(value.values()) if isinstance(value, dict) else value
    try:
        total = 1 + sum(_expanded_size(v, sizes, open_) for v in items)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None
    open_.discard(key)
    if total > MAX_YAML_VALUES:
        raise yaml.YAMLError(f"its aliases expand to more than {MAX_YAML_VALUES:,} values")
    sizes[key] = total
    return total


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


def _one_line(exc: yaml.YAMLError) -> str:
    """PyYAML's message on one line (it quotes the text over several, with a caret)."""
    return " ".join(str(exc).split())


def _show(value: Any) -> str:
    """A value for an error message, cut short (a long string, a large list)."""
    return _REPR.repr(value)


@dataclass(frozen=True)
class RtspConfig:
    """How an ``rtsp://`` source connects, and how it reconnects when the stream is lost."""

    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    reconnect: bool = True
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    #: give up after this many reconnects in a row that fail; None retries for ever
    max_reconnect_attempts: Union[int, None] = None


@dataclass(frozen=True)
class CameraConfig:
    """Capture format requested from a camera (``None`` keeps the driver's default)."""

    width: Union[int, None] = None
    height: Union[int, None] = None
    fps: Union[float, None] = None


@dataclass(frozen=True)
class SourceConfig:
    """Where frames come from. See ``run_stream.py --help`` for the URI forms."""

    uri: Union[str, None] = None
    #: live sources drop their oldest frame when the pipeline falls behind; files never drop.
    #: None: decided by the source kind (RTSP and cameras are live, files are not).
    live: Union[bool, None] = None
    #: read a file at its own frame rate, like ``ffmpeg -re``, and treat it as live
    realtime: bool = False
    #: capture → enhance queue length (frames)
    queue_size: int = 4
    #: frame rate given to image folders, which have no timestamps
    fps: float = 30.0
    rtsp: RtspConfig = field(default_factory=RtspConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)


@dataclass(frozen=True)
class EnhancerConfig:
    """Which enhancer runs, with its keyword arguments in ``params``.

    Without a config the embedded default runs, as in ``configs/default.yaml``:
    ``onnxruntime``, whose default model is ``lowres_guided`` with the shipped weights.
    """

    type: str = "onnxruntime"
    #: frames per ``enhance`` call (a live source never waits to fill a batch)
    batch_size: int = 1
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SinkConfig:
    """Where enhanced frames go, and how a file sink encodes them."""

    uri: Union[str, None] = None
    #: more outputs fed the same frames (``-o`` given again): live outputs such as a browser
    #: preview ``http://@:8080/`` beside the recording in ``uri``
    also: list[str] = field(default_factory=list)
    codec: str = "libx264"
    preset: str = "veryfast"
    #: constant rate factor (quality); ignored when ``bitrate`` is set
    crf: Union[float, None] = 20
    #: target bitrate such as ``4M`` or ``800k``; None uses ``crf``
    bitrate: Union[str, None] = None
    pix_fmt: str = "yuv420p"
    #: extra encoder options passed to FFmpeg, for example ``{tune: zerolatency}``
    codec_options: Mapping[str, str] = field(default_factory=dict)
    #: write input | output next to each other
    side_by_side: bool = False
    #: copy the source file's audio streams unchanged
    copy_audio: bool = True
    #: copy subtitle and data streams (GPS tracks) where the container can hold them
    copy_other_streams: bool = True
    #: enhance → write queue length (frames)
    queue_size: int = 4
    #: image-folder sink: file extension (png, jpg, bmp...)
    image_format: str = "png"
    #: display sink: draw FPS and latency on the frame
    overlay: bool = True


@dataclass(frozen=True)
class RunConfig:
    """Pacing, limits and reporting of one run."""

    #: output rate a live source is held to (frames beyond it are skipped); None: as it comes
    target_fps: Union[float, None] = None
    #: stop after this many frames were read (None: to the end)
    max_frames: Union[int, None] = None
    #: stop after this many seconds of wall-clock time (None: to the end)
    duration_s: Union[float, None] = None
    #: seconds between stats lines on stderr; 0 turns them off
    stats_interval_s: float = 5.0
    #: write the final stats as JSON here
    stats_json: Union[str, None] = None
    #: progress bar for offline runs: None shows it when the frame count is known
    progress: Union[bool, None] = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass(frozen=True)
class Config:
    """A whole run: source → enhancer → sink, plus run settings."""

    source: SourceConfig = field(default_factory=SourceConfig)
    enhancer: EnhancerConfig = field(default_factory=EnhancerConfig)
    sink: SinkConfig = field(default_factory=SinkConfig)
    run: RunConfig = field(default_factory=RunConfig)


class _Where:
    """Names a key's origin in errors: the file, or ``--set`` for overridden keys."""

    def __init__(self, file: str, overridden: set[str]) -> None:
        self.file = file
        self.overridden = overridden

    def __call__(self, path: str) -> str:
        if any(path == o or path.startswith((o + ".", o + "[")) or o.startswith(path + ".")
               for o in self.overridden):
            return f"--set {path}"
        return f"{self.file}: {path}"


def _type_name(tp: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _check_value(value: Any, tp: Any, path: str, where: _Where) -> Any:
    """Check ``value`` against annotation ``tp``; returns it (ints widened to float)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(value, arg, path, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{where(path)}: bad value {_show(value)}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(
                f"{where(path)}: expected one of {', '.join(map(str, choices))}, "
                f"got {_show(value)}"
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where(path)}: expected a list, got {_show(value)}")
        (item,) = typing.get_args(tp)
        return [_check_value(v, item, f"{path}[{i}]", where) for i, v in enumerate(value)]
    if origin in (collections.abc.Mapping, dict) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where(path)}: expected a mapping, got {_show(value)}")
        args = typing.get_args(tp)
        if args and args[1] is str:
            # options handed to FFmpeg: names, and values it reads as text (numbers and
            # true/false are written out as such)
            for key, item in value.items():
                if not isinstance(key, str) or isinstance(item, (list, dict)) or item is None:
                    raise ConfigError(f"{where(f'{path}.{key}')}: expected a string or a "
                                      f"number, got {_show(item)}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where(path)}: expected true/false, got {_show(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where(path)}: expected an integer, got {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where(path)}: expected a number, got {_show(value)}")
        if not math.isfinite(value):
            raise ConfigError(f"{where(path)}: expected a finite number, got {_show(value)}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where(path)}: expected a string, got {_show(value)}")
        return value
    raise ConfigError(f"{where(path)}: cannot check a value of type {_type_name(tp)}")


def _build(cls: type, data: Any, path: str, where: _Where) -> Any:
    """Build dataclass ``cls`` from mapping ``data``, rejecting unknown keys."""
    label = path or "top level"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where(path) if path else where.file}: {label} must be a mapping, "
                          f"got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if cls is EnhancerConfig:
        return _build_enhancer(data, path, where)
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = f"{path}.{unknown[0]}" if path else str(unknown[0])
        raise ConfigError(f"{where(key)}: unknown key; valid keys here: {', '.join(fields)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{path}.{name}" if path else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key, where)
        else:
            kwargs[name] = _check_value(value, tp, key, where)
    return cls(**kwargs)


#: the largest ``enhancer.batch_size`` and ``build_engine.py --batch``
MAX_BATCH = 256
#: the largest ``source.queue_size`` / ``sink.queue_size``, in frames
MAX_QUEUE = 256
#: the longest timeout, back-off or stats interval, in seconds (a day)
MAX_TIMEOUT_S = 86400.0


def _build_enhancer(data: Mapping[str, Any], path: str, where: _Where) -> EnhancerConfig:
    """The enhancer block: ``type``, ``batch_size``, and the enhancer's own keyword arguments."""
    from .enhancers import ENHANCERS  # late: enhancers import heavy modules

    etype = _check_value(data.get("type", EnhancerConfig.type), str, f"{path}.type", where)
    if etype not in ENHANCERS:
        raise ConfigError(
            f"{where(path + '.type')}: unknown enhancer {etype!r}; "
            f"valid: {', '.join(ENHANCERS.names())}"
        )
    batch = _check_value(data.get("batch_size", 1), int, f"{path}.batch_size", where)
    if not 1 <= batch <= MAX_BATCH:
        # a batch is held in memory whole (256 frames of 1080p: 1.6 GB)
        raise ConfigError(f"{where(path + '.batch_size')}: must be in 1..{MAX_BATCH}, "
                          f"got {batch}")
    params = {k: v for k, v in data.items() if k not in ("type", "batch_size")}
    valid = ENHANCERS.parameters(etype)
    for key in params:
        if key not in valid:
            raise ConfigError(
                f"{where(f'{path}.{key}')}: unknown parameter for enhancer {etype!r}; "
                f"valid: {', '.join(sorted(valid)) or '(none)'}"
            )
    return EnhancerConfig(type=etype, batch_size=batch, params=params)


def _validate_ranges(cfg: Config, where: _Where) -> None:
    """Checks that types alone cannot express."""
    positive = {
        "source.queue_size": cfg.source.queue_size,
        "source.fps": cfg.source.fps,
        "source.rtsp.open_timeout_s": cfg.source.rtsp.open_timeout_s,
        "source.rtsp.read_timeout_s": cfg.source.rtsp.read_timeout_s,
        "source.rtsp.backoff_initial_s": cfg.source.rtsp.backoff_initial_s,
        "source.rtsp.backoff_max_s": cfg.source.rtsp.backoff_max_s,
        "sink.queue_size": cfg.sink.queue_size,
        "run.target_fps": cfg.run.target_fps,
        "run.max_frames": cfg.run.max_frames,
        "run.duration_s": cfg.run.duration_s,
    }
    for key, value in positive.items():
        if value is not None and value <= 0:
            raise ConfigError(f"{where(key)}: must be > 0, got {value}")
    # upper bounds: a queue holds decoded frames (a file decodes faster than it is enhanced,
    # so a huge queue is a huge allocation), and FFmpeg takes its timeouts in microseconds
    # as a 64-bit integer
    bounded = {
        "source.queue_size": (cfg.source.queue_size, MAX_QUEUE),
        "sink.queue_size": (cfg.sink.queue_size, MAX_QUEUE),
        "source.rtsp.open_timeout_s": (cfg.source.rtsp.open_timeout_s, MAX_TIMEOUT_S),
        "source.rtsp.read_timeout_s": (cfg.source.rtsp.read_timeout_s, MAX_TIMEOUT_S),
        "source.rtsp.backoff_initial_s": (cfg.source.rtsp.backoff_initial_s, MAX_TIMEOUT_S),
        "source.rtsp.backoff_max_s": (cfg.source.rtsp.backoff_max_s, MAX_TIMEOUT_S),
        "run.stats_interval_s": (cfg.run.stats_interval_s, MAX_TIMEOUT_S),
    }
    for key, (value, limit) in bounded.items():
        if value is not None and value > limit:
            raise ConfigError(f"{where(key)}: must be at most {limit:g}, got {value}")
    camera = cfg.source.camera
    for key, value, limit in (("width", camera.width, MAX_FRAME_SIDE),
                              ("height", camera.height, MAX_FRAME_SIDE),
                              ("fps", camera.fps, 1000)):
        if value is not None and not 0 < value <= limit:
            raise ConfigError(f"{where('source.camera.' + key)}: must be > 0 and at most "
                              f"{limit}, got {value}")
    if cfg.run.stats_interval_s < 0:
        raise ConfigError(f"{where('run.stats_interval_s')}: must be >= 0")
    if cfg.sink.crf is not None and not 0 <= cfg.sink.crf <= 63:
        raise ConfigError(f"{where('sink.crf')}: must be in 0..63, got {cfg.sink.crf}")
    _validate_sink(cfg.sink, where)
    uris = [("source.uri", cfg.source.uri), ("sink.uri", cfg.sink.uri)]
    uris += [(f"sink.also[{i}]", u) for i, u in enumerate(cfg.sink.also)]
    for key, uri in uris:
        if uri is not None:
            if "\0" in uri:
                raise ConfigError(f"{where(key)}: contains a NUL character")
            try:
                urlsplit(uri)
            except ValueError as exc:
                raise ConfigError(f"{where(key)}: not a valid URI or path ({exc}): {uri!r}") \
                    from None


def _validate_sink(sink: SinkConfig, where: _Where) -> None:
    """The encoder, pixel format, bit rate and image format exist (FFmpeg, OpenCV)."""
    import av
    import cv2

    try:
        codec = av.codec.Codec(sink.codec, "w")
    except (ValueError, av.error.FFmpegError):
        raise ConfigError(f"{where('sink.codec')}: no encoder named {sink.codec!r} in this "
                          "FFmpeg (for example libx264, libx265, mpeg4)") from None
    if codec.type != "video":
        raise ConfigError(f"{where('sink.codec')}: {sink.codec!r} is an {codec.type} encoder, "
                          "not a video encoder")
    try:
        av.video.format.VideoFormat(sink.pix_fmt)
    except (ValueError, TypeError):
        raise ConfigError(f"{where('sink.pix_fmt')}: unknown pixel format {sink.pix_fmt!r} "
                          "(for example yuv420p)") from None
    supported = [f.name for f in (codec.video_formats or ())]
    if supported and sink.pix_fmt not in supported:
        raise ConfigError(f"{where('sink.pix_fmt')}: {sink.codec} cannot encode "
                          f"{sink.pix_fmt!r}; it takes {', '.join(supported)}")
    presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
               "slower", "veryslow", "placebo")
    if sink.codec in ("libx264", "libx265") and sink.preset and sink.preset not in presets:
        raise ConfigError(f"{where('sink.preset')}: {sink.codec} has no preset "
                          f"{sink.preset[:40]!r}; use one of {', '.join(presets)}")
    if sink.bitrate is not None and not re.fullmatch(
            r"\s*\d+(?:\.\d+)?\s*[kKmMgG]?\s*(?:bps|b)?\s*", sink.bitrate):
        raise ConfigError(f"{where('sink.bitrate')}: expected a number like 4M or 800k, "
                          f"got {sink.bitrate!r}")
    fmt = sink.image_format.lstrip(".").lower()
    if not re.fullmatch(r"[a-z0-9]+", fmt) or not cv2.haveImageWriter(f"x.{fmt}"):
        raise ConfigError(f"{where('sink.image_format')}: cannot write images of type "
                          f"{sink.image_format!r}; use png, jpg, bmp, tif or webp")


def _apply_override(raw: dict[str, Any], assignment: str) -> str:
    """Apply one ``a.b.c=value`` to ``raw``; returns the key path."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {assignment!r}: expected KEY.PATH=VALUE")
    try:
        value = parse_yaml(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {text!r} is not valid YAML: "
                          f"{_one_line(exc)}") from None
    node = raw
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a mapping")
        node = child
    node[parts[-1]] = value
    return key


#: the largest config or recipe file read (the shipped ones are under 4 KiB)
MAX_CONFIG_BYTES = 1024 * 1024


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML config file into a dict (empty file → empty dict)."""
    p = Path(path)
    try:
        # a device or FIFO too: /dev/zero as a config was read until the kernel killed the
        # process
        problem = file_problem(p)
        if problem == "does not exist":
            raise FileNotFoundError(p)
        if problem:
            raise ConfigError(f"config {p} {problem}")
        with open(p, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
        if len(raw) > MAX_CONFIG_BYTES:
            raise ConfigError(f"config {p} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not "
                              f"a config file")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a YAML text file (byte {exc.start} is not UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {_one_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    raw: Mapping[str, Any] | None = None,
) -> Config:
    """Load and validate a config.

    Args:
        path: a YAML file, or None for the built-in defaults.
        overrides: ``KEY.PATH=VALUE`` strings applied after the file.
        raw: an already parsed mapping to use instead of ``path`` (tests, tools).
    """
    import copy

    data: dict[str, Any] = copy.deepcopy(dict(raw)) if raw is not None else (
        read_yaml(path) if path is not None else {}
    )
    overridden = {_apply_override(data, item) for item in overrides}
    where = _Where(str(path) if path is not None else "config", overridden)
    cfg: Config = _build(Config, data, "", where)
    _validate_ranges(cfg, where)
    return cfg


def replace(cfg: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported for convenience."""
    return dataclasses.replace(cfg, **changes)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain data (for stats JSON and logs); enhancer params flattened."""
    out = dataclasses.asdict(cfg)
    enh = out.get("enhancer")
    if isinstance(enh, dict):
        params = enh.pop("params", {})
        enh.update(params)
    return out
