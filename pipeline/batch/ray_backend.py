"""Ray back end of the batch job (``tools/batch.py --ray [ADDRESS]``).

Work is whole files: frames never travel through Ray's object store. One long-lived actor per
GPU (or per ``cpus_per_worker`` cores where there is none) builds its enhancer once — on a GPU
node a ``tensorrt`` enhancer builds or loads the engine in that node's engine cache, whose key
holds the GPU and TensorRT version, so mixed nodes each get a matching engine — then takes files
from the driver's queue. The driver keeps every worker busy, retries a failed file (an error
or a dead actor) up to ``retries`` more times, and alone writes the manifest; each actor writes
its output with the same temporary-name-then-rename rule as the local path. So a cluster run
and a one-machine run can resume each other's work.

Every node must see the input and output paths (a shared file system) and have Nocturne
installed (``pip install 'nocturne[ray]'``).
"""
from __future__ import annotations

import collections
import logging
import os
import socket
import sys
from typing import Any, Sequence

from .job import BatchSummary, FileRecord, Job, Manifest, process_job
from ..config import Config
from ..errors import ConfigError

log = logging.getLogger("nocturne.batch")


class BatchWorker:
    """A Ray actor's body: one enhancer for the actor's life, one file per call."""

    def __init__(self, cfg: Config) -> None:
        from ..logs import setup_logging
        from ..enhancers import build_enhancer

        setup_logging("warning")
        self.cfg = cfg
        self.enhancer = build_enhancer(cfg.enhancer.type, **dict(cfg.enhancer.params))
        self.enhancer.start()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def process(self, job: Job, settings: str) -> FileRecord:
        """Enhance one file (see ``batch.process_job``)."""
        return process_job(job, self.cfg, self.enhancer, settings, progress=False,
                           worker=self.name)

    def close(self) -> None:
        self.enhancer.close()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray, which is an optional extra: "
                          "pip install 'nocturne[ray]' (or pip install ray)") from None
    return ray


def actor_plan(resources: dict[str, float], workers: int | None,
               cpus_per_worker: float) -> tuple[int, dict[str, float]]:
    """``(actor count, resources per actor)``: one per GPU where the cluster has GPUs, else
    one per ``cpus_per_worker`` cores; ``workers`` caps (or, without GPUs, sets) the count."""
    gpus = int(resources.get("GPU", 0))
    if gpus > 0:
        count = min(gpus, workers) if workers else gpus
        return count, {"num_gpus": 1, "num_cpus": 1}
    cpus = resources.get("CPU", 1.0)
    count = workers or max(1, int(cpus // cpus_per_worker))
    # never ask for more than the cluster has, or the actors would wait for ever
    per = min(cpus_per_worker, cpus / count)
    return count, {"num_cpus": per}


def run_ray(jobs: Sequence[Job], cfg: Config, manifest: Manifest, settings: dict[str, str],
            address: str = "local", workers: int | None = None, cpus_per_worker: float = 2.0,
            retries: int = 2, progress: bool = True) -> BatchSummary:
    """Process ``jobs`` on Ray actors; same records and manifest as ``batch.run_local``."""
    from tqdm import tqdm

    ray = _import_ray()
    if not jobs:
        return BatchSummary([])
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.WARNING)
    count, options = actor_plan(ray.cluster_resources(), workers, cpus_per_worker)
    count = min(count, len(jobs))
    log.info("Ray: %d actor(s), %s each", count, options)
    remote_cls = ray.remote(BatchWorker).options(max_restarts=0, **options)
    actors = [remote_cls.remote(cfg) for _ in range(count)]
    queue = collections.deque(jobs)
    attempts: dict[Job, int] = {}
    records: list[FileRecord] = []
    running: dict[Any, tuple[Any, Job]] = {}
    bar = tqdm(total=len(jobs), unit="file", desc="batch (ray)", file=sys.stderr,
               disable=not progress or not sys.stderr.isatty(), dynamic_ncols=True)
    interrupted = False

    def submit(actor: Any) -> None:
        job = queue.popleft()
        attempts[job] = attempts.get(job, 0) + 1
        running[actor.process.remote(job, settings[job.container])] = (actor, job)

    try:
        for actor in actors:
            if queue:
                submit(actor)
        while running:
            ready, _ = ray.wait(list(running), num_returns=1)
            ref = ready[0]
            actor, job = running.pop(ref)
            try:
                rec: FileRecord = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
                rec = FileRecord(str(job.input), str(job.output), "failed",
                                 container=job.container, error=f"worker failed: {exc}")
                if isinstance(exc, ray.exceptions.RayActorError):
                    # a dead actor (killed, out of memory): replace it
                    actors.remove(actor)
                    actor = remote_cls.remote(cfg)
                    actors.append(actor)
            rec.attempts = attempts[job]
            if rec.status == "failed" and attempts[job] <= retries:
                log.warning("%s failed (try %d of %d): %s", job.input, attempts[job],
                            retries + 1, rec.error)
                queue.append(job)
            else:
                records.append(rec)
                if rec.status in ("done", "truncated"):
                    manifest.record(job, rec)
                elif rec.status == "failed":
                    log.error("%s: %s", job.input, rec.error)
                bar.update(1)
            if queue:
                submit(actor)
    except KeyboardInterrupt:
        interrupted = True
        for ref in running:
            ray.cancel(ref, force=True)
    finally:
        bar.close()
        for actor in actors:
            try:
                ray.get(actor.close.remote(), timeout=30)
            except Exception as exc:  # a dead or cancelled actor has nothing left to close
                log.debug("closing a Ray actor: %s", exc)
            ray.kill(actor)
        if started_here:
            ray.shutdown()
    return BatchSummary(records, interrupted)
