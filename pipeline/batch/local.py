"""Run batch jobs one after another in this process, with one enhancer loaded once."""
from __future__ import annotations

import logging
import sys
from typing import Callable, Sequence

from .. import interrupts
from ..config import Config
from .job import BatchSummary, FileRecord, Job, Manifest, process_job

log = logging.getLogger("nocturne.batch")


def run_local(jobs: Sequence[Job], cfg: Config, manifest: Manifest, settings: dict[str, str],
              progress: bool = True,
              on_record: Callable[[FileRecord], None] | None = None) -> BatchSummary:
    """Process ``jobs`` one after another with one enhancer, loaded once."""
    from tqdm import tqdm

    from ..enhancers import build_enhancer

    records: list[FileRecord] = []
    enhancer = build_enhancer(cfg.enhancer.type, **dict(cfg.enhancer.params))
    bar = tqdm(total=len(jobs), unit="file", desc="batch", file=sys.stderr, position=0,
               disable=not progress or not sys.stderr.isatty(), dynamic_ncols=True)
    interrupted = False
    try:
        enhancer.start()
        for job in jobs:
            interrupts.check()  # a Ctrl-C that Python dropped while the enhancer loaded
            log.info("%s -> %s (%s: %s)", job.input, job.output, job.container, job.reason)
            rec = process_job(job, cfg, enhancer, settings[job.container], progress=progress)
            rec.attempts = 1
            records.append(rec)
            if rec.status in ("done", "truncated"):
                manifest.record(job, rec)
            if on_record is not None:
                on_record(rec)
            bar.update(1)
            if rec.status == "failed":
                log.error("%s: %s", job.input, rec.error)
            if rec.status == "interrupted":
                interrupted = True
                break
    except KeyboardInterrupt:  # between two files (within one, the pipeline stops itself)
        interrupted = True
    finally:
        bar.close()
        enhancer.close()
    return BatchSummary(records, interrupted)
