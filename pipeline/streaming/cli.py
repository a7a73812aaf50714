"""``run_stream.py``: enhance a live stream or a recorded file.

Exit codes: 0 done; 1 a source, sink or enhancer failed; 2 bad command line or config;
3 the input ended early (truncated or corrupt) — the output holds the frames decoded;
130 interrupted (Ctrl-C) before the run started. A Ctrl-C during the run stops it gracefully:
the frames in flight are written and the output finalized (exit 0).
"""
from __future__ import annotations

import argparse
import logging
import sys

from ..config import load_config, read_yaml
from ..enhancers import ENHANCERS
from ..errors import ConfigError, NocturneError, describe
from ..logs import setup_logging

log = logging.getLogger("nocturne")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TRUNCATED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

URI_HELP = """\
source URIs:
  clip.mp4, file:///abs/clip.mkv   a video file (any container FFmpeg reads); never drops a frame
  frames/, 'frames/*.png'          an image folder or glob, natural order (--set source.fps=N)
  rtsp://host:554/path             RTSP over TCP; reconnects with back-off when the stream is lost
  v4l2:///dev/video0, 0            a USB/V4L2 camera (OpenCV)
  csi://0                          a Jetson CSI camera (needs OpenCV with GStreamer)
  live sources (RTSP, cameras, a file with --set source.realtime=true) drop their oldest frame
  when the pipeline falls behind, so latency stays bounded.

sink URIs:
  out.mp4, out.mkv, file:///abs/out.mov
                                   H.264 video, source timestamps kept, audio copied unchanged
  display://                       a window with an FPS/latency overlay (q or Esc to stop)
  images://out_dir, out_dir/, out_dir/%06d.jpg
                                   one image per frame
  null://                          discard (benchmarks)
  http://@:8080/, http://localhost:8080/
                                   a browser preview (MJPEG) with live stats; /stats.json for
                                   scripts; localhost unless @ or 0.0.0.0 is given
  several -o at once               record and watch: -o drive.mp4 -o http://@:8080/

exit codes: 0 done, 1 failed, 2 bad arguments or config, 3 input truncated or corrupt (output
finalized with the frames decoded), 130 interrupted before the run started
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``run_stream.py`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="run_stream.py",
        description="Enhance a dark dashcam/RTSP stream or file: capture -> enhance -> write.",
        epilog=URI_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", "-i", metavar="URI", help="input (see below)")
    parser.add_argument("--sink", "-o", metavar="URI", action="append",
                        help="output (see below); repeat for more outputs at once, e.g. a "
                             "file and http://@:8080/")
    parser.add_argument("--enhancer", "-e", metavar="NAME",
                        help=f"enhancer: {', '.join(ENHANCERS.names())}")
    parser.add_argument("--config", "-c", metavar="YAML", help="a config file (configs/*.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a config key, e.g. --set sink.crf=18 (repeatable)")
    parser.add_argument("--target-fps", type=float, metavar="FPS",
                        help="hold a live stream's output rate")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="frames per enhancer call for files (GPU models gain from 4+; a "
                             "live source never waits to fill a batch)")
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="stop after this many seconds")
    parser.add_argument("--side-by-side", action="store_true", help="write input | output")
    parser.add_argument("--stats-json", metavar="PATH", help="write the final stats as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-enhancers", action="store_true",
                        help="list enhancers and their parameters, then exit")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return parser


def _overrides(args: argparse.Namespace) -> list[str]:
    """Command-line flags as ``--set`` overrides, applied in order after ``--config``."""
    sets = []
    if args.enhancer is not None:
        configured = read_yaml(args.config).get("enhancer") if args.config else None
        if not (isinstance(configured, dict) and configured.get("type") == args.enhancer):
            # another enhancer: the config's parameters belong to the old one, so the whole
            # block is replaced; --set enhancer.* still applies on top
            sets.append("enhancer={type: %s}" % _yaml_str(args.enhancer))
    sets += args.overrides
    flags = {
        "source.uri": args.source,
        "sink.uri": args.sink[0] if args.sink else None,
        "run.target_fps": args.target_fps,
        "run.max_frames": args.max_frames,
        "enhancer.batch_size": args.batch_size,
        "run.duration_s": args.duration,
        "run.stats_json": args.stats_json,
    }
    for key, value in flags.items():
        if value is not None:
            # quoted so a URI or path is always a YAML string
            sets.append(f"{key}={value}" if not isinstance(value, str)
                        else f"{key}={_yaml_str(value)}")
    if args.sink and len(args.sink) > 1:
        sets.append("sink.also=[%s]" % ", ".join(_yaml_str(u) for u in args.sink[1:]))
    if args.side_by_side:
        sets.append("sink.side_by_side=true")
    if args.no_progress:
        sets.append("run.progress=false")
    return sets


def _yaml_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list_enhancers() -> None:
    from ..config import EnhancerConfig

    default = EnhancerConfig().type
    for name in ENHANCERS.names():
        params = ENHANCERS.parameters(name)
        described = ", ".join(
            f"{p.name}={p.default!r}" for p in params.values()
        ) or "(no parameters)"
        mark = "  [the default without --enhancer or a config]" if name == default else ""
        print(f"{name}: {described}{mark}")


def main(argv: list[str] | None = None) -> int:
    """Run the streaming pipeline from command-line arguments; returns the exit code."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before the run's own SIGINT handler (set-up, model export)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    from .runner import Pipeline

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_enhancers:
        _list_enhancers()
        return EXIT_OK
    try:
        cfg = load_config(args.config, _overrides(args))
    except ConfigError as exc:
        return _error(exc, EXIT_USAGE)
    level = "debug" if args.verbose else "warning" if args.quiet else cfg.run.log_level
    setup_logging(level)
    try:
        result = Pipeline(cfg).run()
    except ConfigError as exc:
        return _error(exc, EXIT_USAGE)
    except (NocturneError, OSError, MemoryError) as exc:
        return _error(exc, EXIT_FAILED)
    if result.truncated:
        print(f"run_stream.py: error: input ended early (truncated or corrupt); "
              f"{result.stats.frames_out} frames written", file=sys.stderr)
        return EXIT_TRUNCATED
    return EXIT_OK


def _error(exc: BaseException, code: int) -> int:
    """One ``error:`` line on stderr (an OS error keeps its file name), and the exit code."""
    print(f"run_stream.py: error: {describe(exc)}", file=sys.stderr)
    return code
