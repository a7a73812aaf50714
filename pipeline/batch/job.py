"""One batch job, and the types both back ends share: discovery of the inputs, the output plan
(container choice, temporary names), the manifest, ``process_job`` and the reports.

``pipeline.batch.local`` and ``pipeline.batch.ray_backend`` run these jobs; both import this
module, which imports neither.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..config import Config, to_dict
from ..errors import ConfigError, NocturneError, reason
from ..media import PARTIAL_TAG, VIDEO_EXTENSIONS, is_partial, is_within, partial_path, same_file

log = logging.getLogger("nocturne.batch")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TRUNCATED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
MANIFEST_NAME = ".nocturne-manifest.json"
REPORT_FIELDS = ("input", "output", "status", "frames", "duration_s", "wall_s", "fps",
                 "enhancer", "container", "dropped_streams", "attempts", "worker", "error")
#: containers an output may be written in, and the suffix they get
CONTAINERS = {"mp4": ".mp4", "mov": ".mov", "mkv": ".mkv"}


@dataclass(frozen=True)
class Job:
    """One input file and where its output goes."""

    input: Path
    #: the input's path relative to its root: the output mirrors it
    rel: Path
    output: Path
    container: str
    #: why this container (``--container auto``)
    reason: str = ""

    @property
    def partial(self) -> Path:
        """The temporary name the output is written under (same folder, same container)."""
        return partial_path(self.output)


@dataclass
class FileRecord:
    """The outcome of one file (a report row, a manifest entry when finished)."""

    input: str
    output: str
    status: str  # done | truncated | skipped | failed | interrupted
    frames: int = 0
    duration_s: float = 0.0
    wall_s: float = 0.0
    fps: float = 0.0
    enhancer: str = ""
    container: str = ""
    dropped_streams: list[str] = field(default_factory=list)
    attempts: int = 0
    worker: str = ""
    error: str = ""
    #: manifest data: input identity and settings fingerprint
    size: int = 0
    mtime_ns: int = 0
    sha256: str = ""
    settings: str = ""

    def row(self) -> dict[str, Any]:
        """The report columns."""
        data = dataclasses.asdict(self)
        data["dropped_streams"] = "; ".join(self.dropped_streams)
        return {k: data[k] for k in REPORT_FIELDS}


# -- inputs ---------------------------------------------------------------------------------
def _matches(path: Path, pattern: str | None) -> bool:
    if pattern:
        return path.match(pattern)
    return path.suffix.lower() in VIDEO_EXTENSIONS


def discover(inputs: Sequence[str], lists: Sequence[str] = (), pattern: str | None = None,
             recursive: bool = True, output: Path | None = None) -> list[tuple[Path, Path]]:
    """``(file, relative path)`` of every input, in a stable order.

    A folder contributes its regular video files (or those matching ``pattern``), relative to
    itself; a file contributes itself, by name; a list file its entries, relative to their
    common folder. Two inputs with the same relative path are a ``ConfigError`` (they would
    write the same output). The ``output`` folder, when it lies inside an input folder, is not
    walked (a rerun must not enhance its own outputs), and temporaries are never inputs.
    """
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            skip = (output if output is not None and is_within(output, path)
                    and not same_file(output, path) else None)
            walker = path.rglob("*") if recursive else path.glob("*")
            files = sorted(p for p in walker if p.is_file() and _matches(p, pattern)
                           and not is_partial(p) and not (skip and is_within(p, skip)))
            if not files:
                raise ConfigError(f"no video files{f' matching {pattern!r}' if pattern else ''} "
                                  f"under {item!r}")
            found += [(p, p.relative_to(path)) for p in files]
        elif path.is_file():
            found.append((path, Path(path.name)))
        elif path.exists():
            raise ConfigError(f"input {item!r} is not a regular file or a folder")
        else:
            raise ConfigError(f"input {item!r} does not exist")
    for item in lists:
        list_path = Path(item)
        try:
            lines = list_path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read list file {item!r}: {exc.strerror or exc}") from None
        entries = []
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            entry = Path(line) if Path(line).is_absolute() else list_path.parent / line
            if not entry.is_file():
                raise ConfigError(f"{item}:{number}: {line!r} is not a file")
            entries.append(entry.resolve())
        if entries:
            common = Path(os.path.commonpath([str(e.parent) for e in entries]))
            found += [(e, e.relative_to(common)) for e in entries]
    seen: dict[Path, Path] = {}
    for file, rel in found:
        if rel in seen and seen[rel].resolve() != file.resolve():
            raise ConfigError(f"{seen[rel]} and {file} would both write {rel}")
        seen[rel] = file
    unique = {rel: file for file, rel in found}
    return [(file, rel) for rel, file in unique.items()]


def probe_streams(path: Path) -> list[tuple[str, str]]:
    """``(type, codec)`` of the non-video streams of a media file; ``NocturneError`` if the
    file cannot be opened (a corrupt drive is reported, not fatal to the batch)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise NocturneError(f"{path}: no video stream")
            return [(s.type, s.codec_context.name if s.codec_context else "unknown")
                    for s in container.streams if s.type != "video"]
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise NocturneError(f"cannot open {path}: {reason(exc)}") from None


def choose_container(path: Path, streams: Sequence[tuple[str, str]],
                     wanted: str) -> tuple[str, str]:
    """``(container, reason)`` for an input with these side ``streams``.

    ``auto``: keep MP4/MOV when MP4 can hold every audio/subtitle/data track, else MKV (which
    holds them all); other inputs (TS, AVI, ...) become MKV. ``same`` keeps the input's when it
    is one we write, else MKV. ``mp4``/``mov``/``mkv`` force it (tracks it cannot hold are
    dropped and reported).
    """
    from ..streaming.sinks import MP4_COPYABLE

    own = path.suffix.lower().lstrip(".")
    if wanted in CONTAINERS:
        return wanted, "asked for"
    if wanted == "same":
        return (own, "same as the input") if own in CONTAINERS else ("mkv", f".{own} not written")
    if own not in ("mp4", "mov"):
        return "mkv", "MKV holds every track" if own != "mkv" else "same as the input"
    blocked = [f"{t} ({c})" for t, c in streams
               if t in ("audio", "subtitle", "data") and c not in MP4_COPYABLE]
    if blocked:
        return "mkv", f"MP4 cannot hold {', '.join(blocked)}"
    return own, "same as the input"


def plan_jobs(files: Iterable[tuple[Path, Path]], out_dir: Path,
              container: str) -> tuple[list[Job], list[FileRecord]]:
    """Jobs for the files that can be opened, and ``failed`` records for those that cannot."""
    jobs, failed = [], []
    taken: dict[Path, Path] = {}
    for file, rel in files:
        if is_within(file, out_dir) and same_file(file.parent, out_dir / rel.parent):
            # the mirrored output of this input would be in its own folder: with the same
            # container it would be the input itself
            raise ConfigError(f"output folder {str(out_dir)!r} is the folder of input "
                              f"{str(file)!r}; its outputs would replace the originals; "
                              "choose another --output")
        try:
            chosen, reason = choose_container(file, probe_streams(file), container)
        except NocturneError as exc:
            failed.append(FileRecord(str(file), "", "failed", error=str(exc)))
            continue
        output = (out_dir / rel).with_suffix(CONTAINERS[chosen])
        if output in taken:
            # e.g. drive.mov and drive.mkv side by side, both becoming drive.mkv
            failed.append(FileRecord(str(file), str(output), "failed",
                                     error=f"{taken[output]} already writes {output}"))
            continue
        taken[output] = file
        jobs.append(Job(file, rel, output, chosen, reason))
    return jobs, failed


# -- manifest -------------------------------------------------------------------------------
def file_identity(path: Path, with_hash: bool = True) -> tuple[int, int, str]:
    """``(size, mtime_ns, sha256)`` of a file (the hash only if asked: it reads the file)."""
    st = path.stat()
    digest = ""
    if with_hash:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
    return st.st_size, st.st_mtime_ns, digest


def settings_fingerprints(cfg: Config) -> dict[str, str]:
    """Per output container, a fingerprint of what decides an output's content: the version,
    the enhancer block (a weights file by its hash, read once) and the encode settings.
    Source/sink URIs, queues and logging do not count."""
    from .. import __version__

    data = to_dict(cfg)
    sink = {k: v for k, v in data["sink"].items()
            if k not in ("uri", "queue_size", "image_format", "overlay")}
    enhancer = dict(data["enhancer"])
    enhancer.pop("batch_size", None)
    weights = enhancer.get("weights")
    if isinstance(weights, str) and Path(weights).is_file():
        enhancer["weights_sha256"] = file_identity(Path(weights))[2]
    out = {}
    for container in CONTAINERS:
        blob = json.dumps({"version": __version__, "enhancer": enhancer, "sink": sink,
                           "container": container, "max_frames": data["run"]["max_frames"]},
                          sort_keys=True, default=str)
        out[container] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return out


class Manifest:
    """The finished outputs of an output folder, as JSON, rewritten atomically on each change.

    One writer at a time: the batch driver (local or Ray) owns it; workers only return records.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST_NAME
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.entries = dict(data.get("entries", {}))
            except (OSError, ValueError, AttributeError) as exc:
                # a damaged manifest only costs re-processing; say so and start again
                log.warning("ignoring unreadable manifest %s: %s", self.path, exc)

    def is_done(self, job: Job, settings: str) -> bool:
        """Whether ``job``'s output exists and was made from this input with these settings."""
        entry = self.entries.get(job.rel.with_suffix(job.output.suffix).as_posix())
        if entry is None or not job.output.is_file():
            return False
        if entry.get("settings") != settings or entry.get("status") not in ("done", "truncated"):
            return False
        size, mtime_ns, _ = file_identity(job.input, with_hash=False)
        if entry.get("size") == size and entry.get("mtime_ns") == mtime_ns:
            return True
        # touched or copied: the same bytes still count as done
        return entry.get("size") == size and entry.get("sha256") == \
            file_identity(job.input)[2]

    def record(self, job: Job, rec: FileRecord) -> None:
        """Store a finished output's record and rewrite the manifest."""
        self.entries[job.rel.with_suffix(job.output.suffix).as_posix()] = {
            k: v for k, v in dataclasses.asdict(rec).items() if k != "attempts"}
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"version": 1, "entries": self.entries}, indent=1,
                                  sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.path)


def remove_stale_partials(out_dir: Path) -> int:
    """Delete temporaries an interrupted run left (they never carry a final name)."""
    count = 0
    if out_dir.is_dir():
        for path in out_dir.rglob(f".*{PARTIAL_TAG}*"):
            if path.is_file():
                path.unlink(missing_ok=True)
                count += 1
    return count


# -- one file ---------------------------------------------------------------------------------
def job_config(cfg: Config, job: Job, progress: bool) -> Config:
    """``cfg`` aimed at one job: the input as source, the temporary name as sink."""
    return dataclasses.replace(
        cfg,
        source=dataclasses.replace(cfg.source, uri=str(job.input), live=False, realtime=False),
        sink=dataclasses.replace(cfg.sink, uri=str(job.partial), also=[]),
        run=dataclasses.replace(cfg.run, stats_json=None, progress=progress, target_fps=None,
                                duration_s=None),
    )


def process_job(job: Job, cfg: Config, enhancer: Any, settings: str, progress: bool = False,
                worker: str = "local") -> FileRecord:
    """Enhance one file into ``job.partial`` and rename it to ``job.output`` when complete.

    Never raises for a bad input: the record says ``failed`` with the error. A stop (signal)
    leaves no output and says ``interrupted``.
    """
    from ..streaming.runner import Pipeline

    size, mtime_ns, digest = file_identity(job.input)
    rec = FileRecord(str(job.input), str(job.output), "failed", container=job.container,
                     enhancer=getattr(enhancer, "name", ""), worker=worker, size=size,
                     mtime_ns=mtime_ns, sha256=digest, settings=settings)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    job.partial.unlink(missing_ok=True)
    pipeline = Pipeline(job_config(cfg, job, progress), enhancer=enhancer, keep_enhancer=True,
                        label=job.rel.as_posix())
    t0 = time.monotonic()
    try:
        result = pipeline.run()
    except Exception as exc:  # noqa: BLE001: one file's content must never end the batch
        job.partial.unlink(missing_ok=True)
        rec.error = str(exc) if isinstance(exc, NocturneError) else (
            f"{type(exc).__name__}: {reason(exc)}")
        # the record (and every line printed from it) names the input already
        rec.error = rec.error.removeprefix(f"{job.input}: ")
        if not isinstance(exc, (NocturneError, OSError, MemoryError)):
            log.debug("%s failed", job.input, exc_info=exc)
        rec.wall_s = round(time.monotonic() - t0, 3)
        return rec
    rec.wall_s = round(time.monotonic() - t0, 3)
    rec.frames = result.stats.frames_out
    rec.fps = round(rec.frames / rec.wall_s, 3) if rec.wall_s > 0 else 0.0
    source = pipeline.source
    fps = float(source.fps) if source is not None and source.fps else 0.0
    rec.duration_s = round(rec.frames / fps, 3) if fps else 0.0
    rec.dropped_streams = list(getattr(pipeline.sink, "dropped_streams", []))
    active = enhancer.stats().get("active")
    if active:
        rec.enhancer = f"{rec.enhancer} ({active})"  # which member of a fallback chain ran
    if result.stopped:
        job.partial.unlink(missing_ok=True)
        rec.status, rec.error = "interrupted", "stopped before the end; no output kept"
        return rec
    if rec.frames == 0:
        job.partial.unlink(missing_ok=True)
        rec.error = "no frame could be decoded"
        return rec
    st = job.input.stat()
    os.utime(job.partial, ns=(st.st_atime_ns, st.st_mtime_ns))  # the drive's time, kept
    os.replace(job.partial, job.output)
    if result.truncated:
        rec.status, rec.error = "truncated", "input ended early (truncated or corrupt)"
    else:
        rec.status = "done"
    return rec


# -- the job ----------------------------------------------------------------------------------
@dataclass
class BatchSummary:
    """All records of a batch and how it ended."""

    records: list[FileRecord]
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r.status == status)

    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.count("failed"):
            return EXIT_FAILED
        if self.count("truncated"):
            return EXIT_TRUNCATED
        return EXIT_OK

    def line(self) -> str:
        done = [r for r in self.records if r.status in ("done", "truncated")]
        frames = sum(r.frames for r in done)
        wall = sum(r.wall_s for r in done)
        parts = [f"{self.count(s)} {s}" for s in ("done", "skipped", "truncated", "failed",
                                                  "interrupted") if self.count(s)]
        rate = f", {frames} frames at {frames / wall:.1f} fps" if wall > 0 else ""
        return f"{len(self.records)} files: {', '.join(parts) or 'nothing to do'}{rate}"


def write_reports(out_dir: Path, records: Sequence[FileRecord]) -> tuple[Path, Path]:
    """``batch_report.json`` and ``batch_report.csv`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [r.row() for r in records]
    json_path, csv_path = out_dir / "batch_report.json", out_dir / "batch_report.csv"
    json_path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=REPORT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return json_path, csv_path


def pending_jobs(jobs: Sequence[Job], manifest: Manifest, settings: dict[str, str],
                 force: bool) -> tuple[list[Job], list[FileRecord]]:
    """The jobs still to do, and ``skipped`` records for those the manifest says are done."""
    todo, skipped = [], []
    for job in jobs:
        if not force and manifest.is_done(job, settings[job.container]):
            skipped.append(FileRecord(str(job.input), str(job.output), "skipped",
                                      container=job.container))
        else:
            todo.append(job)
    return todo, skipped
