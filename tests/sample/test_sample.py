"""The procedural night-drive generator: frames, encoded clips and the make_sample CLI."""
from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from pipeline.sample import (
    AUDIO_SAMPLE_RATE,
    ClipInfo,
    main,
    render_night_audio,
    render_night_frames,
    write_night_clip,
)
from tests.common import ROOT



def frames(width: int = 160, height: int = 96, n: int = 8, fps: float = 15.0,
           seed: int = 0) -> list[np.ndarray]:
    return list(render_night_frames(width, height, n, fps=fps, seed=seed))


def decode(path: Path) -> tuple[list[float], list[int], tuple[int, int], Fraction | None]:
    """Seconds and pts of every decoded video frame, the coded size and the average rate."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        decoded = list(c.decode(vs))
        size = (vs.codec_context.width, vs.codec_context.height)
        rate = vs.average_rate
    return [float(f.pts * f.time_base) for f in decoded], [f.pts for f in decoded], size, rate


def audio_packets(path: Path) -> tuple[str, int, int, float]:
    """Codec name, sample rate, channels and the seconds the audio packets cover."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        name, rate, channels = a.codec_context.name, a.codec_context.sample_rate, a.channels
        covered = sum(p.duration for p in c.demux(a) if p.size) * a.time_base
    return name, rate, channels, float(covered)


def test_frames_are_deterministic_rgb_uint8() -> None:
    a, b = frames(), frames()
    assert len(a) == 8
    assert all(f.shape == (96, 160, 3) and f.dtype == np.uint8 for f in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    other = frames(n=2, seed=1)
    assert not np.array_equal(a[0], other[0])


def test_frame_depends_only_on_its_time() -> None:
    """A longer clip starts like a shorter one: frame i is a function of i / fps."""
    short, long = frames(n=3), frames(n=6)
    assert all(np.array_equal(x, y) for x, y in zip(short, long))


def test_frames_are_dark_with_bright_lights() -> None:
    for f in frames(n=6):
        assert 0.03 * 255 < f.mean() < 0.2 * 255
        assert f.max() >= 240
        # most of the picture is dark: light sources are small
        assert np.mean(f.max(axis=2) >= 240) < 0.05


def test_consecutive_frames_show_motion() -> None:
    """Blurred enough to remove the sensor noise, frames still differ: the scene moves."""
    fs = frames(n=4)
    smooth = [cv2.GaussianBlur(f.astype(np.float32), (0, 0), 2.0) for f in fs]
    for a, b in zip(smooth, smooth[1:]):
        assert np.abs(a - b).max() > 25


def test_noise_is_signal_dependent() -> None:
    """Brighter areas are noisier (shot noise); the dark road still has read noise."""
    f = frames(320, 180, n=1)[0].astype(np.float32)
    smooth = cv2.GaussianBlur(f, (0, 0), 3.0)
    residual = (f - smooth)[..., 1]
    level = smooth[..., 1]
    dark = residual[(level > 3) & (level < 15)].std()
    bright = residual[(level > 60) & (level < 200)].std()
    assert 1.0 < dark < bright


@pytest.mark.parametrize("size", [(16, 16), (17, 33), (161, 97)])
def test_odd_and_tiny_sizes(size: tuple[int, int]) -> None:
    w, h = size
    fs = list(render_night_frames(w, h, 2, fps=30, seed=3))
    assert [f.shape for f in fs] == [(h, w, 3)] * 2


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 15}, "width"),
    ({"height": 0}, "height"),
    ({"num_frames": -1}, "num_frames"),
    ({"fps": 0}, "fps"),
    ({"fps": float("nan")}, "fps"),
    ({"seed": 1.5}, "seed"),
])
def test_bad_render_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"width": 64, "height": 48, "num_frames": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        render_night_frames(**args)  # type: ignore[arg-type]


def test_audio_is_deterministic_stereo_and_sane() -> None:
    a = render_night_audio(AUDIO_SAMPLE_RATE // 2, seed=0)
    assert a.shape == (2, AUDIO_SAMPLE_RATE // 2) and a.dtype == np.float32
    assert np.array_equal(a, render_night_audio(AUDIO_SAMPLE_RATE // 2, seed=0))
    assert 0.02 < float(a.std()) and float(np.abs(a).max()) <= 1.0
    assert not np.array_equal(a[0], a[1])


def test_write_mp4_frame_count_timestamps_and_audio(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    info = write_night_clip(out, width=160, height=96, fps=10, seconds=1.0, seed=2)
    assert info == ClipInfo(out, 160, 96, Fraction(10), 10, True)
    times, pts, size, rate = decode(out)
    assert len(times) == 10 and size == (160, 96) and rate == 10
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert np.allclose(times, np.arange(10) / 10, atol=1e-6)
    name, sample_rate, channels, covered = audio_packets(out)
    assert (name, sample_rate, channels) == ("aac", 48000, 2)
    assert 0.95 < covered < 1.1          # one second plus the encoder's priming frame
    assert not list(tmp_path.glob(".*partial"))


def test_written_frames_match_rendered_frames(tmp_path: Path) -> None:
    out = tmp_path / "q.mp4"
    write_night_clip(out, width=96, height=64, fps=10, seconds=0.3, audio=False, crf=0,
                     preset="ultrafast")
    with av.open(str(out)) as c:
        assert not c.streams.audio
        got = [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]
    want = frames(96, 64, n=3, fps=10)
    # lossless luma, but 4:2:0 chroma and colour conversion: close, not identical
    for g, w in zip(got, want):
        assert np.abs(cv2.blur(g, (5, 5)) - cv2.blur(w.astype(np.int16), (5, 5))).mean() < 3


def test_write_mkv_and_odd_size(tmp_path: Path) -> None:
    out = tmp_path / "odd.mkv"
    info = write_night_clip(out, width=161, height=97, fps=15, seconds=0.6, seed=1)
    assert (info.width, info.height, info.num_frames) == (162, 98, 9)
    times, pts, size, _ = decode(out)
    assert size == (162, 98) and len(times) == 9
    assert all(b > a for a, b in zip(pts, pts[1:]))
    assert np.allclose(times, np.arange(9) / 15, atol=0.002)     # Matroska stores ms
    assert audio_packets(out)[0] == "aac"


def test_ntsc_rate_is_exact(tmp_path: Path) -> None:
    out = tmp_path / "ntsc.mov"
    info = write_night_clip(out, width=64, height=48, fps=30000 / 1001, seconds=0.5,
                            audio=False)
    assert info.fps == Fraction(30000, 1001) and info.num_frames == 15
    _, pts, _, rate = decode(out)
    assert rate == Fraction(30000, 1001)
    with av.open(str(out)) as c:
        tb = c.streams.video[0].time_base
    assert [p * tb for p in pts] == [Fraction(1001 * i, 30000) for i in range(15)]


def test_faststart_puts_moov_first(tmp_path: Path) -> None:
    plain, fast = tmp_path / "plain.mp4", tmp_path / "fast.mp4"
    write_night_clip(plain, width=64, height=48, fps=10, seconds=0.5)
    write_night_clip(fast, width=64, height=48, fps=10, seconds=0.5, faststart=True)
    p, f = plain.read_bytes(), fast.read_bytes()
    assert p.index(b"moov") > p.index(b"mdat")
    assert f.index(b"moov") < f.index(b"mdat")


@pytest.mark.parametrize("kwargs, message", [
    ({"path": "clip.avi"}, "extension"),
    ({"seconds": 0.01}, "less than one frame"),
    ({"seconds": -1.0}, "seconds"),
    ({"crf": 60}, "crf"),
    ({"path": "clip.mkv", "faststart": True}, "faststart"),
])
def test_bad_clip_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"width": 64, "height": 48, "fps": 10, "seconds": 1.0, **kwargs}
    path = tmp_path / str(args.pop("path", "clip.mp4"))
    with pytest.raises(ValueError, match=message):
        write_night_clip(path, **args)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


def test_cli_writes_then_skips_existing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sub" / "drive.mp4"
    argv = [str(out), "--width", "64", "--height", "48", "--fps", "10", "--seconds", "0.3",
            "--no-audio"]
    assert main(argv) == 0
    assert len(decode(out)[0]) == 3
    stamp = out.stat().st_mtime_ns
    assert main(argv) == 0
    assert "exists" in capsys.readouterr().out
    assert out.stat().st_mtime_ns == stamp
    assert main([*argv, "--force", "--seconds", "0.5"]) == 0
    assert len(decode(out)[0]) == 5


@pytest.mark.parametrize("argv", [
    ["x.mp4", "--width", "abc"],
    ["x.mp4", "--width", "8"],
    ["x.mp4", "--fps", "-3"],
    ["x.avi"],
    ["x.mp4", "--bogus"],
    [],
])
def test_cli_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  argv: list[str]) -> None:
    if argv:
        argv = [str(tmp_path / argv[0]), *argv[1:]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("make_sample.py: error:")
    assert not any(tmp_path.iterdir())


def test_make_sample_script_bad_argument(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "make_sample.py"),
                          str(tmp_path / "x.mp4"), "--seconds", "soon"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "--seconds" in run.stderr
