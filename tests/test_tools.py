"""The benchmarks that are tools of their own, run as a user runs them, on tiny clips."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

from tests.common import ROOT


def odd_clip(path: Path, width: int = 33, height: int = 21, frames: int = 6) -> Path:
    """A lossless (FFV1) clip with odd sides, which 4:2:0 H.264 cannot hold as it is."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        for i in range(frames):
            image = np.random.default_rng(i).integers(0, 40, (height, width, 3), np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def test_bench_encode_times_each_picture_against_the_original(tmp_path: Path) -> None:
    """tools/bench_encode.py on a recording of one's own (odd sides: padded for 4:2:0): one
    row per preset, the original's FPS, then each enhancer's with its ratio to it."""
    clip = odd_clip(tmp_path / "odd.mkv")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench_encode.py"), "--input", str(clip),
         "--enhancers", "gamma", "passthrough", "--presets", "ultrafast", "superfast",
         "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "34x22, 6 frames" in lines[0]
    assert lines[1].split() == ["preset", "original", "gamma", "passthrough"]
    for preset, line in zip(["ultrafast", "superfast"], lines[2:], strict=True):
        cells = re.fullmatch(rf"\s*{preset}\s+([\d.]+)\s+([\d.]+) \(([\d.]+)\)"
                             rf"\s+([\d.]+) \(([\d.]+)\)", line)
        assert cells, line
        original, gamma, gamma_ratio, same, same_ratio = map(float, cells.groups())
        assert original > 0
        assert abs(gamma / original - gamma_ratio) < 0.006
        assert abs(same / original - same_ratio) < 0.006
