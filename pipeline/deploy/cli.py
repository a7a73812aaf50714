"""``build_engine.py``: ONNX → TensorRT engine, on the machine that will run it (Jetson included).

Give a registered model (exported with its weights first, uint8 frames in and out) or an ONNX
file. The engine and its JSON sidecar go to ``engines/`` (or ``$NOCTURNE_ENGINES``), named by a
key of the model hash, precision, GPU, compute capability, TensorRT version and shapes; the
``tensorrt`` enhancer finds the newest one for a model there.

Options are checked before any GPU work, so a mistake (INT8 without calibration data, DLA with
dynamic shapes, a shape profile out of order) is reported at once, even on a machine without
TensorRT.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .engine_info import PRECISIONS, BuildOptions, frame_shape
from ..config import MAX_BATCH
from ..enhancers.neural import NEURAL_MODELS
from ..errors import ConfigError, NocturneError, describe

log = logging.getLogger(__name__)

MODELS = NEURAL_MODELS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build_engine.py", description=__doc__.split("\n\n")[0].split(": ", 1)[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  build_engine.py --model zero_dce_pp --precision fp16\n"
               "  build_engine.py --model unet_gn --precision int8 --calib calib/ "
               "--opt 1280x720\n"
               "  build_engine.py --onnx my.onnx --shape 1280x720 --dla-core 0 "
               "--precision fp16   # Jetson DLA")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", choices=MODELS, help="export this registered model and build it")
    src.add_argument("--onnx", help="build this uint8-frame ONNX graph (pipeline.deploy.export)")
    p.add_argument("--weights", help="with --model: a weights file (default: the shipped one)")
    p.add_argument("--precision", default="fp16", choices=PRECISIONS)
    p.add_argument("--shape", metavar="WxH", help="fixed frame size (min = opt = max)")
    p.add_argument("--min", dest="min_size", default="640x360", metavar="WxH")
    p.add_argument("--opt", dest="opt_size", default="1280x720", metavar="WxH")
    p.add_argument("--max", dest="max_size", default="1920x1080", metavar="WxH")
    p.add_argument("--batch", type=int, default=1, help="frames per batch (opt and max)")
    p.add_argument("--workspace", type=int, default=1024, metavar="MIB",
                   help="builder workspace limit (default 1024 MiB)")
    p.add_argument("--opt-level", type=int, default=3, help="builder optimization level 0-5")
    p.add_argument("--timing-cache", default=None,
                   help="timing cache file, reused and updated (default: ENGINES/timing.cache)")
    p.add_argument("--dla-core", type=int, default=None, help="Jetson: build for this DLA core "
                   "(GPU fallback on; needs a fixed --shape)")
    p.add_argument("--calib", help="int8: image folder or video of representative frames")
    p.add_argument("--calib-cache", help="int8: calibration cache file (read if present, "
                   "written after calibrating; default: calib/MODEL.cache)")
    p.add_argument("--calib-frames", type=int, default=64)
    p.add_argument("--engines-dir", default=None, help="default: $NOCTURNE_ENGINES or engines/")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def options_from_args(args: argparse.Namespace, onnx_path: str) -> BuildOptions:
    """Validated build options from the parsed command line."""
    from ..enhancers.onnx_runtime import default_engines_dir

    engines = args.engines_dir or default_engines_dir()
    if isinstance(args.batch, bool) or not 1 <= args.batch <= MAX_BATCH:
        raise ConfigError(f"--batch must be in 1..{MAX_BATCH}, got {args.batch}")
    if args.shape:
        shapes = [frame_shape(args.batch, args.shape, "--shape")] * 3
    else:
        shapes = [frame_shape(1, args.min_size, "--min"),
                  frame_shape(args.batch, args.opt_size, "--opt"),
                  frame_shape(args.batch, args.max_size, "--max")]
    name = args.model or Path(onnx_path).stem
    version = installed_tensorrt_version()
    options = BuildOptions(
        onnx=onnx_path, precision=args.precision, min_shape=shapes[0], opt_shape=shapes[1],
        max_shape=shapes[2], workspace_mib=args.workspace, opt_level=args.opt_level,
        timing_cache=args.timing_cache or str(Path(engines) / "timing.cache"),
        dla_core=args.dla_core, calib=args.calib,
        calib_cache=args.calib_cache or (default_calib_cache(name, onnx_path, shapes, version)
                                         if args.precision == "int8" else None),
        calib_frames=args.calib_frames,
        min_side=12 if args.model == "zero_dce_pp" else 1, engines_dir=engines,
        onnx_fp16=_fp16_beside(onnx_path) if args.model and args.precision == "fp16" else None)
    options.validate(tensorrt_version=version)
    return options


def _fp16_beside(onnx_path: str) -> str | None:
    """The FP16 export of a ``--model`` graph, when it has been written."""
    half = Path(onnx_path).with_name(Path(onnx_path).stem + "-fp16.onnx")
    return str(half) if half.is_file() else None


def installed_tensorrt_version() -> str | None:
    """The installed TensorRT's version from its package metadata (no import: that takes
    seconds and a GPU), or None."""
    from importlib import metadata

    for dist in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt_libs"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def default_calib_cache(name: str, onnx_path: str, shapes: list[tuple[int, ...]],
                        version: str | None) -> str:
    """``calib/NAME-ONNX-SHAPES-trtVER.cache``: a cache belongs to one exported graph (a
    retrained or re-exported model calibrates afresh), one shape profile and one TensorRT."""
    import hashlib

    try:
        onnx_key = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()[:12]
    except OSError:
        onnx_key = "unexported"
    shape_key = hashlib.sha256(repr(shapes).encode()).hexdigest()[:8]
    return str(Path("calib") / f"{name}-{onnx_key}-s{shape_key}-trt{version or 'unknown'}.cache")


def _export_model(args: argparse.Namespace) -> str:
    """Export ``--model`` (with ``--weights``) to the keyed ONNX cache; returns the path."""
    from ..enhancers import build_enhancer

    # host_lut off: the engine runs the whole uint8 frame graph, curve lookup included
    enhancer = build_enhancer("onnxruntime", where="--model", model=args.model,
                              weights=args.weights, cache_dir=args.engines_dir, host_lut=False)
    if not enhancer.onnx_path.is_file():
        enhancer.export()  # the same export the CPU backend uses, parity-checked
    if args.precision == "fp16":
        # TensorRT >= 10.12 builds FP16 from an FP16 graph: exported from PyTorch in half
        # precision beside the FP32 one (used only where the TensorRT version needs it)
        from .export import export_onnx

        half = enhancer.onnx_path.with_name(enhancer.onnx_path.stem + "-fp16.onnx")
        if not half.is_file():
            export_onnx(enhancer.torch_model, half, name=args.model, io="uint8",
                        opset=enhancer.opset, precision="fp16")
    return str(enhancer.onnx_path)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, export if needed, build; returns the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(name)s: %(levelname)s: %(message)s")
    try:
        if args.weights and not args.model:
            raise ConfigError("--weights goes with --model (an ONNX file holds its weights)")
        if args.onnx:
            onnx_path = args.onnx
            options_from_args(args, onnx_path)  # check options before anything else
        else:
            # check the options first against a stand-in path, then export
            options_from_args(args, __file__)
            onnx_path = _export_model(args)
        options = options_from_args(args, onnx_path)
        from .trt import build_engine

        path, info = build_engine(options, model=args.model or Path(onnx_path).stem)
    except ConfigError as exc:
        print(f"build_engine.py: error: {describe(exc)}", file=sys.stderr)
        return 2
    except NocturneError as exc:
        # the export's own errors name the run config's key; here the flag sets that folder
        text = describe(exc).replace("enhancer.cache_dir", "--engines-dir")
        print(f"build_engine.py: error: {text}", file=sys.stderr)
        return 1
    print(f"built {path} ({info.precision}, TensorRT {info.tensorrt_version}, {info.gpu_name} "
          f"sm{info.compute_capability}, shapes {info.min_shape}..{info.max_shape})")
    return 0
