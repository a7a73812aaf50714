"""``tools/batch.py``: enhance many recorded drives, resumably, on one machine or a Ray cluster.

Inputs are folders (searched recursively for video files, or for ``--pattern``), video files,
and list files (``--list``: one path per line, ``#`` comments, relative paths from the list's
folder). Outputs mirror the input tree under ``--output``.

Nothing lost, nothing done twice:

* every output is encoded under a temporary name in its final folder
  (``.NAME.nocturne-partial.EXT``) and renamed when complete, so a killed run never leaves a
  half file under a final name (stale temporaries are removed by the next run);
* a manifest (``OUTPUT/.nocturne-manifest.json``) records each finished output with the input's
  size, modification time and SHA-256 and a fingerprint of the settings; a rerun skips an
  output whose manifest entry matches (size and mtime, or else the hash) and whose file exists;
  changed settings or a changed input are processed again;
* audio, subtitle and data tracks (dashcam GPS) are copied; with ``--container auto`` an MP4/MOV
  drive stays MP4/MOV when MP4 can hold all of its tracks, anything else becomes MKV, and every
  track left out is named in the report; the container metadata (creation time) is copied and
  the output file gets the input's modification time;
* a corrupt file is reported and skipped, the others complete; a truncated one keeps the frames
  that decode (status ``truncated``).

At the end: a summary line, and ``batch_report.json`` + ``batch_report.csv`` in the output
folder (one row per file: status, frames, media duration, wall time, FPS, enhancer, container,
dropped tracks, error). Exit codes: 0 all done or skipped, 1 a file failed, 2 bad arguments,
3 a file was truncated (and none failed), 130 interrupted.

``--ray [ADDRESS]`` runs the same jobs on Ray (see :mod:`pipeline.batch.ray_backend`).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..config import Config, load_config
from ..errors import ConfigError, NocturneError, describe
from ..media import same_file
from .job import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, Manifest, discover, pending_jobs,
                  plan_jobs, remove_stale_partials, settings_fingerprints, write_reports)
from .local import run_local

log = logging.getLogger("nocturne.batch")


def build_parser() -> argparse.ArgumentParser:
    """The ``tools/batch.py`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="batch.py", description="Enhance recorded drives in bulk: resumable, with a "
        "report; on one machine or a Ray cluster.",
        epilog="exit codes: 0 all done or skipped, 1 a file failed, 2 bad arguments, "
               "3 a file was truncated, 130 interrupted")
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="folders (recursive) and video files")
    parser.add_argument("--list", action="append", default=[], metavar="FILE",
                        help="a list file of inputs, one per line (repeatable)")
    parser.add_argument("--output", "-o", required=True, metavar="DIR",
                        help="output folder (mirrors the input tree)")
    parser.add_argument("--pattern", metavar="GLOB",
                        help="only files matching this glob (default: video extensions)")
    parser.add_argument("--no-recursive", action="store_true", help="folders: top level only")
    parser.add_argument("--config", "-c", metavar="YAML",
                        help="a run config (e.g. configs/dashcam_file.yaml)")
    parser.add_argument("--enhancer", "-e", metavar="NAME", help="enhancer (replaces the "
                        "config's enhancer block)")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="frames per enhancer call (GPU models gain from 4 or more)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config key (repeatable)")
    parser.add_argument("--container", choices=("auto", "same", "mp4", "mov", "mkv"),
                        default="auto", help="output container (default: auto, see docs)")
    parser.add_argument("--force", action="store_true",
                        help="process every input again, even if the manifest has it")
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="run on Ray: a local Ray (no ADDRESS), 'auto' or host:port")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="Ray: number of actors (default: one per GPU, else per "
                             "--cpus-per-worker cores)")
    parser.add_argument("--cpus-per-worker", type=float, default=2.0, metavar="N",
                        help="Ray without GPUs: cores per actor (default 2)")
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="Ray: tries after the first for a failing file (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return parser


def load_batch_config(args: argparse.Namespace) -> Config:
    """The run config of a batch: ``--config``, ``--enhancer``, ``--set``."""
    sets = []
    if args.enhancer:
        sets.append("enhancer={type: '%s'}" % args.enhancer.replace("'", "''"))
    sets += list(args.overrides)
    if args.batch_size is not None:
        sets.append(f"enhancer.batch_size={args.batch_size}")
    return load_config(args.config, sets)


def main(argv: list[str] | None = None) -> int:
    """Run a batch from command-line arguments; returns the exit code."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # before a job's own handling (set-up, the enhancer loading)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    from ..logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging("debug" if args.verbose else "warning")
    if not args.quiet and not args.verbose:
        log.setLevel(logging.INFO)  # the batch's own lines; each file's pipeline stays quiet
    try:
        if not args.inputs and not args.list:
            raise ConfigError("give input folders/files or --list FILE")
        for name in ("workers", "retries"):
            value = getattr(args, name)
            if value is not None and value < (1 if name == "workers" else 0):
                raise ConfigError(f"--{name} must be >= {1 if name == 'workers' else 0}")
        if args.cpus_per_worker <= 0:
            raise ConfigError("--cpus-per-worker must be > 0")
        cfg = load_batch_config(args)
        out_dir = Path(args.output)
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"--output {args.output!r} is a file, not a folder")
        for item in args.inputs:
            if Path(item).is_dir() and same_file(item, out_dir):
                raise ConfigError(f"--output {args.output!r} is the input folder {item!r}; "
                                  "its outputs would replace the originals; choose another "
                                  "folder (one inside it is fine: it is skipped as input)")
        files = discover(args.inputs, args.list, args.pattern, not args.no_recursive,
                         output=out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stale = remove_stale_partials(out_dir)
        if stale:
            log.info("removed %d partial output(s) of an interrupted run", stale)
        jobs, unreadable = plan_jobs(files, out_dir, args.container)
        settings = settings_fingerprints(cfg)
        manifest = Manifest(out_dir)
        todo, skipped = pending_jobs(jobs, manifest, settings, args.force)
        log.info("%d input(s): %d to do, %d already done, %d unreadable", len(files),
                 len(todo), len(skipped), len(unreadable))
        if args.ray:
            from .ray_backend import run_ray

            summary = run_ray(todo, cfg, manifest, settings, address=args.ray,
                              workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                              retries=args.retries, progress=not args.no_progress)
        else:
            summary = run_local(todo, cfg, manifest, settings, progress=not args.no_progress)
    except ConfigError as exc:
        print(f"batch.py: error: {describe(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except (NocturneError, OSError) as exc:
        print(f"batch.py: error: {describe(exc)}", file=sys.stderr)
        return EXIT_FAILED
    summary.records = unreadable + skipped + summary.records
    json_path, csv_path = write_reports(out_dir, summary.records)
    for rec in summary.records:
        if rec.status in ("failed", "truncated"):
            print(f"batch.py: {rec.status}: {rec.input}: {rec.error}", file=sys.stderr)
    print(summary.line())
    print(f"report: {json_path}, {csv_path}")
    return summary.exit_code()
