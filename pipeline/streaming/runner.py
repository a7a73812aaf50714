"""The streaming pipeline: capture → enhance → write, three threads joined by bounded queues.

Queue policy:

* capture → enhance (``source.queue_size`` frames): a **live** source (RTSP, camera, or a file
  read with ``realtime``) drops the **oldest** queued frame when the queue is full, so latency
  stays bounded by the queue length; an offline source blocks, so no frame is ever lost.
* enhance → write (``sink.queue_size`` frames): always blocks; when the writer falls behind the
  back-pressure reaches the capture queue, which applies the policy above.

With batches, each queue holds at least two (``2 * enhancer.batch_size`` frames), so that the
stages overlap.

Shutdown: ``stop()`` (SIGINT/SIGTERM, ``max_frames``, ``duration_s``, a closed window) ends
capture; the frames already captured are enhanced and written, the encoder is flushed and the
container closed, so the output holds every frame written. An error in any stage aborts the
other stages at once, but the writer still finalizes what it has.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from .. import interrupts
from ..config import MAX_QUEUE, Config, to_dict
from ..enhancers import Enhancer, build_enhancer, check_batch
from ..errors import ConfigError, EnhancerError, NocturneError, SinkError, SourceError
from ..media import same_file
from .frame import Frame
from .sinks import FileSink, Sink, StreamInfo, create_sinks
from .sources import Source, SourceTimeout, create_source
from .stats import RunStats

log = logging.getLogger(__name__)


class _EndOfStream:
    """The sentinel that follows the last frame through every queue."""

    def __repr__(self) -> str:
        return "<end of stream>"


END = _EndOfStream()


class DropOldestQueue(queue.Queue):
    """A bounded queue whose ``put_latest`` evicts the oldest item instead of blocking."""

    def put_latest(self, item: Any) -> Any | None:
        """Put ``item``; if the queue is full, remove and return the oldest item first."""
        with self.not_full:
            evicted = None
            if 0 < self.maxsize <= self._qsize():
                evicted = self._get()
                self.unfinished_tasks -= 1
            self._put(item)
            self.unfinished_tasks += 1
            self.not_empty.notify()
            return evicted


@dataclass
class RunResult:
    """How a run ended."""

    stats: RunStats
    #: the source ended before its container said it would (truncated or corrupt input)
    truncated: bool = False
    #: stopped by a signal, a limit or the user, not by end of stream
    stopped: bool = False
    error: BaseException | None = None


class Pipeline:
    """One run: a source, an enhancer and a sink wired by threads and bounded queues.

    ``Pipeline(cfg).run()`` opens everything (closing what was opened if a later part fails),
    runs to the end of the stream or until ``stop()``, and returns a ``RunResult``.
    Parts may be passed in ready-made (tests, tools); they are still closed by the pipeline,
    except an enhancer passed with ``keep_enhancer=True``, which its owner closes.
    """

    def __init__(
        self,
        cfg: Config,
        source: Source | None = None,
        enhancer: Enhancer | None = None,
        sink: Sink | None = None,
        keep_enhancer: bool = False,
        label: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.enhancer = enhancer
        self.sink = sink
        #: leave the enhancer open at the end (a batch job reuses one for many files)
        self.keep_enhancer = keep_enhancer
        #: progress bar label (a batch job names the file; its bar is not left behind)
        self.label = label
        self.stats = RunStats()
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._errors: list[BaseException] = []
        # Each queue holds at least two batches (at most MAX_QUEUE frames, as a configured
        # queue): the decoder fills the next batch while the enhancer runs this one, and the
        # writer drains a whole batch while the next is made; with a queue of 4 and batches
        # of 4 the three stages would take turns.
        least = min(2 * cfg.enhancer.batch_size, MAX_QUEUE) if cfg.enhancer.batch_size > 1 else 1
        self._q_in: DropOldestQueue = DropOldestQueue(maxsize=max(cfg.source.queue_size, least))
        self._q_out: queue.Queue = queue.Queue(maxsize=max(cfg.sink.queue_size, least))
        self._threads: list[threading.Thread] = []
        self._complete = False
        self._stopped = False

    # -- set-up ---------------------------------------------------------------------------
    def open(self) -> None:
        """Open source, enhancer and sink; on failure close what was opened and re-raise."""
        cfg = self.cfg
        try:
            if self.source is None:
                if not cfg.source.uri:
                    raise ConfigError("no source: give --source URI (or source.uri in the config)")
                self.source = create_source(cfg.source.uri, cfg.source)
                self.source.open()
            log.info("source: %s", self.source.describe())
            if self.enhancer is None:
                self.enhancer = build_enhancer(cfg.enhancer.type, **dict(cfg.enhancer.params))
            if self.sink is None:
                if not cfg.sink.uri:
                    raise ConfigError("no sink: give --sink URI (or sink.uri in the config)")
                self.sink = create_sinks([cfg.sink.uri, *cfg.sink.also], cfg.sink)
            # before anything is opened for writing: an output must never replace an input
            refuse_overwriting_inputs(self.source, self.sink, cfg.run.stats_json)
            if cfg.run.stats_json:
                check_stats_path(cfg.run.stats_json)
            self.sink.open(StreamInfo(
                width=self.source.width,
                height=self.source.height,
                fps=self.source.fps,
                time_base=self.source.time_base,
                live=self.source.live,
                copy_streams_from=self.source.copy_streams_from,
            ))
            log.info("enhancer: %s, sink: %s", self.enhancer.name, self.sink.describe())
            # a Ctrl-C during the set-up that Python dropped (``interrupts``) stops here,
            # before a frame is written, what was opened closed
            interrupts.check()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close whatever is open (idempotent)."""
        enhancer = None if self.keep_enhancer else self.enhancer
        for part, closer in ((self.sink, "close"), (enhancer, "close"),
                             (self.source, "close")):
            if part is None:
                continue
            try:
                getattr(part, closer)()
            except Exception as exc:  # closing must not hide the error that got us here
                log.debug("closing %s failed: %s", type(part).__name__, exc)

    # -- control ------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask for a graceful stop: capture ends, queued frames are still written."""
        if not self._stop.is_set():
            self._stopped = True
            self._stop.set()
            if self.source is not None:
                self.source.request_stop()

    def _fail(self, stage: str, exc: BaseException) -> None:
        if not isinstance(exc, NocturneError):
            log.debug("%s stage failed", stage, exc_info=exc)
        self._errors.append(exc)
        self._abort.set()
        self.stop()

    # -- stages ---------------------------------------------------------------------------
    def _put_out(self, q: queue.Queue, item: Any) -> bool:
        """Blocking put that gives up when the run is aborted."""
        while not self._abort.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _capture(self) -> None:
        src = self.source
        assert src is not None
        stats = self.stats
        run = self.cfg.run
        live = src.live
        pace = 1.0 / run.target_fps if (run.target_fps and live) else 0.0
        next_due = 0.0
        try:
            while not self._stop.is_set():
                if run.max_frames is not None and stats.frames_in >= run.max_frames:
                    self.stop()
                    break
                t0 = time.monotonic()
                try:
                    frame = src.read()
                except SourceTimeout:
                    stats.read_timeouts += 1
                    continue
                if frame is None:
                    self._complete = not self._stop.is_set()
                    break
                stats.capture.record(1, time.monotonic() - t0)
                stats.frames_in += 1
                stats.reconnects = src.reconnects
                stats.reconnect_downtime_s = src.reconnect_downtime_s
                if pace:
                    # hold the output rate: keep a frame only when its slot has come
                    if frame.capture_time < next_due:
                        stats.skipped += 1
                        continue
                    next_due = max(next_due + pace, frame.capture_time - pace)
                if live:
                    if self._q_in.put_latest(frame) is not None:
                        stats.dropped += 1
                elif not self._put_out(self._q_in, frame):
                    break
        except NocturneError as exc:
            # an input that fails part-way (a source's own error, not a bug): the frames
            # already read are still enhanced and written and the output finalized, then the
            # error is reported — nothing read is lost
            self._errors.append(exc)
        except BaseException as exc:
            self._fail("capture", exc)
        finally:
            stats.reconnects = src.reconnects
            stats.reconnect_downtime_s = src.reconnect_downtime_s
            if live:
                if self._q_in.put_latest(END) is not None:
                    stats.dropped += 1
            else:
                self._put_out(self._q_in, END)

    def _next_batch(self, first: Frame, size: int, live: bool) -> tuple[list[Frame], bool]:
        """Fill a batch after ``first``; returns it and whether the end sentinel was seen."""
        batch = [first]
        while len(batch) < size:
            try:
                # a live source never waits for a batch to fill: that would be latency
                item = self._q_in.get_nowait() if live else self._q_in.get(timeout=0.1)
            except queue.Empty:
                if live or self._abort.is_set():
                    break
                continue
            if item is END:
                return batch, True
            batch.append(item)
        return batch, False

    def _enhance(self) -> None:
        enh = self.enhancer
        assert enh is not None and self.source is not None
        stats = self.stats
        size = self.cfg.enhancer.batch_size
        live = self.source.live
        # A pipelined enhancer (TensorRT) gets batch N+1 before batch N is collected, so its
        # upload overlaps N's compute; the others are called synchronously.
        depth = max(0, int(getattr(enh, "max_in_flight", 0)))
        pending: collections.deque[tuple[list[Frame], float]] = collections.deque()

        def emit(batch: list[Frame], out: np.ndarray, t0: float) -> bool:
            stats.enhance.record(len(batch), time.monotonic() - t0)
            for frame, image in zip(batch, out):
                frame.enhanced = image
                if not self._put_out(self._q_out, frame):
                    return False
            return True

        def collect_one() -> bool:
            batch, t0 = pending.popleft()
            out = enh.collect()
            if out.shape != (len(batch), *batch[0].image.shape) or out.dtype != np.uint8:
                raise EnhancerError(f"enhancer {enh.name!r} returned {out.dtype}"
                                    f"{tuple(out.shape)} for {len(batch)} frames")
            return emit(batch, out, t0)

        try:
            enh.configure_stream(live, self.cfg.run.target_fps)
            # a batch's enhancer serves file after file: no smoothing across them
            enh.reset()
            enh.start()  # thread-bound resources (CUDA contexts) are created here
            ended = False
            while not ended and not self._abort.is_set():
                try:
                    item = self._q_in.get(timeout=0.1)
                except queue.Empty:
                    if pending and not collect_one():  # nothing new: finish what is in flight
                        return
                    continue
                if item is END:
                    break
                batch, ended = self._next_batch(item, size, live)
                t0 = time.monotonic()
                images = (batch[0].image[np.newaxis] if len(batch) == 1
                          else np.stack([f.image for f in batch]))
                if depth:
                    if len(pending) >= depth and not collect_one():
                        return
                    check_batch(images)
                    enh.submit(images)
                    pending.append((batch, t0))
                elif not emit(batch, enh(images), t0):
                    return
            while pending and not self._abort.is_set():
                if not collect_one():
                    return
        except BaseException as exc:
            self._fail("enhance", exc)
        finally:
            self._put_out(self._q_out, END)

    def _write(self) -> None:
        sink = self.sink
        assert sink is not None
        stats = self.stats
        try:
            while True:
                try:
                    item = self._q_out.get(timeout=0.1)
                except queue.Empty:
                    if self._abort.is_set():
                        break
                    continue
                if item is END:
                    break
                t0 = time.monotonic()
                sink.write(item)
                done = time.monotonic()
                stats.write.record(1, done - t0)
                stats.end_to_end.record(1, 0.0, latency=done - item.capture_time)
                stats.frames_out += 1
                if sink.stop_requested:
                    self.stop()
        except BaseException as exc:
            self._fail("write", exc)
        finally:
            try:
                sink.close(complete=self._complete and not self._abort.is_set())
            except BaseException as exc:
                self._fail("write", exc)

    # -- run ------------------------------------------------------------------------------
    def run(self, on_progress: Callable[[RunStats], None] | None = None) -> RunResult:
        """Open (if needed), run to the end or until stopped, close; returns the result.

        Errors from a stage are re-raised here after the sink has been finalized.
        """
        if self.sink is None or self.source is None or self.enhancer is None:
            self.open()
        assert self.source is not None and self.sink is not None
        cfg = self.cfg
        if cfg.run.target_fps and not self.source.live:
            log.warning("run.target_fps applies to live sources; an offline file is processed "
                        "in full (set source.realtime: true to play it as live)")
        handlers = self._install_signals()
        bar = self._progress_bar()
        self.stats = stats = RunStats()
        if hasattr(self.sink, "bind_stats"):
            self.sink.bind_stats(self.live_stats)
        self._threads = [
            threading.Thread(target=self._capture, name="capture", daemon=True),
            threading.Thread(target=self._enhance, name="enhance", daemon=True),
            threading.Thread(target=self._write, name="write", daemon=True),
        ]
        try:
            for t in self._threads:
                t.start()
            deadline = (time.monotonic() + cfg.run.duration_s) if cfg.run.duration_s else None
            next_print = time.monotonic() + (cfg.run.stats_interval_s or float("inf"))
            writer = self._threads[-1]
            while writer.is_alive():
                writer.join(timeout=0.2)
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    self.stop()
                if bar is not None:
                    bar.update(stats.frames_out - bar.n)
                if on_progress is not None:
                    on_progress(stats)
                if cfg.run.stats_interval_s and now >= next_print:
                    next_print = now + cfg.run.stats_interval_s
                    (bar.write(stats.line(), file=sys.stderr) if bar is not None
                     else log.info("%s", stats.line()))
            for t in self._threads:
                t.join()
        finally:
            stats.finished = time.monotonic()
            if bar is not None:
                bar.update(stats.frames_out - bar.n)
                bar.close()
            self._restore_signals(handlers)
            self.close()
        log.info("done: %s", stats.line())
        result = RunResult(stats=stats, truncated=self.source.truncated, stopped=self._stopped,
                           error=self._errors[0] if self._errors else None)
        if cfg.run.stats_json:
            self.write_stats_json(cfg.run.stats_json, result)
        if result.error is not None:
            raise result.error
        return result

    def _progress_bar(self) -> tqdm | None:
        assert self.source is not None
        show = self.cfg.run.progress
        total = self.source.frame_count
        if self.cfg.run.max_frames is not None and total is not None:
            total = min(total, self.cfg.run.max_frames)
        if show is None:
            show = (not self.source.live) and total is not None
        # a bar is a terminal's redraw: redirected to a file or a CI log it would write cursor
        # escapes, so there the periodic stats lines and the final "done:" line stand in
        if not show or not sys.stderr.isatty():
            return None
        return tqdm(total=total, unit="frame", desc=self.label or "enhance", file=sys.stderr,
                    dynamic_ncols=True, leave=self.label is None)

    def _install_signals(self) -> dict[int, Any]:
        """SIGINT/SIGTERM stop the run gracefully (main thread only; others keep theirs)."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        handlers: dict[int, Any] = {}

        def handler(signum: int, _frame: FrameType | None) -> None:
            if self._stop.is_set():
                log.warning("already stopping; finishing the frames in flight")
            else:
                log.warning("%s: stopping; writing the frames in flight",
                            signal.Signals(signum).name)
            self.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, handler)
        return handlers

    @staticmethod
    def _restore_signals(handlers: dict[int, Any]) -> None:
        for sig, old in handlers.items():
            signal.signal(sig, old)

    def live_stats(self) -> dict[str, Any]:
        """The stats so far, as the stats JSON holds them (for live outputs)."""
        data = self.stats.as_dict()
        data["source"] = self.source.describe() if self.source else None
        data["enhancer"] = self.enhancer.name if self.enhancer else None
        data["enhancer_stats"] = self.enhancer.stats() if self.enhancer else {}
        data["outputs"] = self.output_stats()
        return data

    def output_stats(self) -> dict[str, Any]:
        """What each live output reports (clients, frames sent, frames dropped for them)."""
        sinks = getattr(self.sink, "sinks", [self.sink])
        return {s.describe(): s.stats() for s in sinks if s is not None and hasattr(s, "stats")}

    def write_stats_json(self, path: str, result: RunResult) -> None:
        """Write the final stats, the config and how the run ended, as JSON."""
        data = result.stats.as_dict()
        data.update({
            "truncated_input": result.truncated,
            "stopped": result.stopped,
            "error": None if result.error is None else str(result.error),
            "source": self.source.describe() if self.source else None,
            "enhancer": self.enhancer.name if self.enhancer else None,
            "enhancer_stats": self.enhancer.stats() if self.enhancer else {},
            "config": to_dict(self.cfg),
        })
        recording = next((s for s in getattr(self.sink, "sinks", [self.sink])
                          if isinstance(s, FileSink)), None)
        if recording is not None:
            data["copied_packets"] = recording.copy_packets
            data["dropped_streams"] = recording.dropped_streams
            data["copy_dropped_packets"] = sum(recording.copy_dropped.values())
        data["resized_frames"] = getattr(self.source, "resized_frames", 0)
        data["outputs"] = self.output_stats()
        # under a temporary name, renamed when complete: a reader never sees half a file
        target = Path(path)
        partial = _stats_partial(target)
        try:
            partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise SinkError(f"cannot write stats to {path}: {exc.strerror or exc}") from None


def _stats_partial(target: Path) -> Path:
    """The temporary name the stats file is written under, beside it."""
    return target.with_name(f".{target.name}.partial")


def check_stats_path(path: str) -> None:
    """``ConfigError`` before the run when ``run.stats_json`` cannot be written at its end: its
    folder missing or not writable, or the path a folder."""
    target = Path(path)
    folder = target.parent
    if target.is_dir():
        raise ConfigError(f"run.stats_json: {path} is a folder, not a file")
    if not folder.is_dir():
        raise ConfigError(f"run.stats_json: folder {str(folder)!r} of {path} does not exist")
    # a real probe (permissions say nothing of /proc, read-only mounts or a full disk):
    # the temporary name the stats are written under, created and removed
    partial = _stats_partial(target)
    try:
        partial.touch()
        partial.unlink()
    except OSError as exc:
        raise ConfigError(f"run.stats_json: cannot write {path}: {exc.strerror or exc}") from None


def refuse_overwriting_inputs(source: Source, sink: Sink, stats_json: str | None = None) -> None:
    """``ConfigError`` when the sink (or the stats file) would write over one of the source's
    files: the same path, a symbolic or a hard link to it, or the folder of input images."""
    inputs = source.input_files()
    if not inputs:
        return
    targets = [("sink", p) for p in sink.output_files()]
    if stats_json:
        targets.append(("run.stats_json", stats_json))
    for what, target in targets:
        for path in inputs:
            if same_file(path, target):
                raise ConfigError(f"{what} {target!r} is the input file {path!r}: it would be "
                                  "overwritten; choose another output")
    folder = sink.output_folder()
    if folder is not None:
        for parent in sorted({str(Path(p).parent) for p in inputs}):
            if same_file(parent, folder):
                raise ConfigError(f"sink folder {folder!r} holds the input images; choose "
                                  "another output folder")


def run_pipeline(cfg: Config) -> RunResult:
    """Build and run the pipeline described by ``cfg``."""
    return Pipeline(cfg).run()


__all__ = ["DropOldestQueue", "END", "Pipeline", "RunResult", "run_pipeline", "SourceError"]
