"""Run statistics: per-stage rate and latency percentiles, frame counts, reconnects."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: latencies kept per stage for percentiles (a rolling window bounds memory on long runs)
WINDOW = 4096


@dataclass
class StageStats:
    """Counts and timings of one stage; updated by that stage's thread only."""

    name: str
    frames: int = 0
    busy_s: float = 0.0
    first: float | None = None
    last: float | None = None
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def record(self, frames: int, seconds: float, latency: float | None = None) -> None:
        """``frames`` done in ``seconds`` of work; ``latency`` per frame (default: the work)."""
        now = time.monotonic()
        if self.first is None:
            self.first = now - seconds
        self.last = now
        self.frames += frames
        self.busy_s += seconds
        per = latency if latency is not None else seconds / max(frames, 1)
        self.latencies.extend([per] * frames)

    def fps(self) -> float:
        """Frames per second of wall-clock time since the stage's first frame."""
        if self.first is None or self.last is None or self.last <= self.first:
            return 0.0
        return self.frames / (self.last - self.first)

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies:
            return None
        return float(np.percentile(np.fromiter(self.latencies, float), q) * 1000.0)

    def as_dict(self) -> dict[str, Any]:
        p50, p95 = self.percentile_ms(50), self.percentile_ms(95)
        return {
            "frames": self.frames,
            "fps": round(self.fps(), 3),
            "busy_s": round(self.busy_s, 4),
            "latency_ms_p50": None if p50 is None else round(p50, 3),
            "latency_ms_p95": None if p95 is None else round(p95, 3),
        }


@dataclass
class RunStats:
    """Everything a run reports (printed periodically, written as JSON at the end)."""

    capture: StageStats = field(default_factory=lambda: StageStats("capture"))
    enhance: StageStats = field(default_factory=lambda: StageStats("enhance"))
    write: StageStats = field(default_factory=lambda: StageStats("write"))
    #: capture → written, per frame
    end_to_end: StageStats = field(default_factory=lambda: StageStats("end_to_end"))
    frames_in: int = 0
    frames_out: int = 0
    #: live source: oldest frames dropped because the pipeline fell behind
    dropped: int = 0
    #: live source: frames skipped to hold --target-fps
    skipped: int = 0
    read_timeouts: int = 0
    reconnects: int = 0
    reconnect_downtime_s: float = 0.0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def as_dict(self) -> dict[str, Any]:
        elapsed = self.elapsed()
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dropped": self.dropped,
            "skipped": self.skipped,
            "read_timeouts": self.read_timeouts,
            "reconnects": self.reconnects,
            "reconnect_downtime_s": round(self.reconnect_downtime_s, 3),
            "elapsed_s": round(elapsed, 3),
            "fps": round(self.frames_out / elapsed, 3) if elapsed > 0 else 0.0,
            "stages": {s.name: s.as_dict() for s in (self.capture, self.enhance, self.write)},
            "latency": self.end_to_end.as_dict(),
        }

    def line(self) -> str:
        """One human-readable line for periodic printing."""

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v:.0f}"

        stages = "  ".join(
            f"{s.name} {s.fps():.1f} fps {ms(s.percentile_ms(50))}/{ms(s.percentile_ms(95))} ms"
            for s in (self.capture, self.enhance, self.write)
        )
        e2e = self.end_to_end
        return (
            f"in {self.frames_in} out {self.frames_out} dropped {self.dropped} "
            f"skipped {self.skipped} reconnects {self.reconnects} | {stages} | "
            f"latency p50/p95 {ms(e2e.percentile_ms(50))}/{ms(e2e.percentile_ms(95))} ms"
        )
