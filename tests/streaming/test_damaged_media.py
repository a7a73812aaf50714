"""Damaged media through the real command line (in-process ``main``): every damaged input either
exits 1 with one ``error:`` line or is finalized and playable, holding the frames the stats say,
with exit 3 whenever frames are missing; never a traceback, never a file left under a temporary
name, never a half file under the final name."""
from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from pipeline.media import is_partial
from pipeline.streaming.cli import main
from tests import damage

#: documented exit codes of run_stream.py for a damaged input
ALLOWED = {0, 1, 3}


def _variants(folder: Path, container: str) -> list[tuple[str, Path]]:
    base = damage.base_clip(folder, container)
    data = base.read_bytes()
    seed = sum(map(ord, container))
    ext = damage.suffix(container)
    cases: list[tuple[str, bytes | Path]] = [("intact", base)]
    cases += list(damage.truncations(data, (0.02, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)))
    cases += list(damage.flips(data, seed))
    cases += list(damage.zeros(data, seed))
    if ext in ("mp4", "mov"):
        cases.append(("audio_dts0", damage.audio_at_dts_zero(data)))
    else:
        cases.append(("audio_dts_repeat", damage.repeated_audio_dts(base, folder / f"rep.{ext}")))
    cases.append(("no_keyframe", damage.without_key_frames(base, folder / f"nokey.{ext}")))
    cases.append(("size_change", damage.size_change(folder / f"size.{ext}")))
    out = []
    for name, content in cases:
        if isinstance(content, bytes):
            path = folder / f"{name}.{ext}"
            path.write_bytes(content)
        else:
            path = content
        out.append((name, path))
    return out


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, Path]]]:
    return {c: _variants(tmp_path_factory.mktemp(f"damaged_{c}"), c)
            for c in damage.CONTAINERS}


def _decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def _run(source: Path, out_dir: Path, capsys: pytest.CaptureFixture[str],
         *extra: str) -> tuple[int, str, Path, dict | None]:
    out = out_dir / f"{source.stem}_out{source.suffix}"
    stats = out_dir / f"{source.stem}_stats.json"
    code = main(["-i", str(source), "-o", str(out), "--stats-json", str(stats), "-q",
                 "--set", "enhancer={type: gamma}", *extra])
    err = capsys.readouterr().err
    data = json.loads(stats.read_text()) if stats.exists() else None
    return code, err, out, data


@pytest.mark.parametrize("container", damage.CONTAINERS)
def test_damaged_inputs_fail_cleanly_or_finalize(container: str, damaged, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    seen = {}
    for name, source in damaged[container]:
        original = source.read_bytes()
        out_dir = tmp_path / name
        out_dir.mkdir()
        extra = ("--set", "enhancer.batch_size=4") if name == "size_change" else ()
        code, err, out, stats = _run(source, out_dir, capsys, *extra)
        seen[name] = code
        where = f"{container}/{name}: exit {code}\n{err}"
        assert code in ALLOWED, where
        assert "Traceback" not in err, where
        errors = [line for line in err.splitlines() if "error:" in line]
        assert len(errors) == (0 if code == 0 else 1), where
        assert source.read_bytes() == original, f"{where}: the input was written to"
        assert not [p for p in out_dir.iterdir() if is_partial(p)], f"{where}: partial left"
        if out.exists():
            assert stats is not None, where
            assert _decoded_frames(out) == stats["frames_out"] > 0, where
        else:
            assert code == 1, f"{where}: no output although the run did not fail"
        if code == 0:
            # nothing may go missing silently: a clean exit means every frame came through
            expected = 2 * 8 if name == "size_change" else damage.FRAMES
            assert stats is not None and stats["frames_out"] >= expected, where
    assert seen["intact"] == 0
    assert seen["no_keyframe"] == 1
    assert seen["cut02"] == 1
    # a cut MKV or fast-start MP4 keeps what decodes (exit 3); an MP4/MOV cut before its
    # index (at the end) cannot be read at all (exit 1)
    assert seen["cut50"] == (1 if container in ("mp4", "mov") else 3)


@pytest.mark.parametrize("container", damage.CONTAINERS)
def test_broken_audio_timestamps_keep_video_and_good_audio(container: str, damaged,
                                                           tmp_path: Path, capsys) -> None:
    name = "audio_dts0" if container != "mkv" else "audio_dts_repeat"
    source = dict(damaged[container])[name]
    for sink in sorted({damage.suffix(container), "mp4"}):
        out_dir = tmp_path / sink
        out_dir.mkdir()
        code, err, out, stats = _run(source, out_dir, capsys, "-o",
                                     str(out_dir / f"o.{sink}"))
        assert code == 0, err
        out = out_dir / f"o.{sink}"
        assert _decoded_frames(out) == damage.FRAMES
        assert stats["copied_packets"] >= 1
        with av.open(str(out)) as c:
            assert len(c.streams.audio) == 1


@pytest.mark.parametrize("container", damage.CONTAINERS)
def test_size_change_mid_stream_follows_the_first_size(container: str, damaged,
                                                       tmp_path: Path, capsys) -> None:
    source = dict(damaged[container])["size_change"]
    code, err, out, stats = _run(source, tmp_path, capsys, "--set", "enhancer.batch_size=4")
    assert code == 0, err
    assert stats["resized_frames"] == 8 and stats["frames_out"] == 16
    with av.open(str(out)) as c:
        sizes = {(f.width, f.height) for f in c.decode(video=0)}
    assert sizes == {(96, 64)}


def test_a_transport_stream_cut_inside_a_packet_is_truncated(tmp_path: Path, capsys) -> None:
    """A dashcam's ``.ts`` states no length, but it is a run of 188-byte packets: a file that
    ends inside one was cut short (exit 3, the frames before the cut kept)."""
    from tests.clips import make_clip, probe

    whole = damage.remux(make_clip(tmp_path / "drive.mkv", fps=15, seconds=1.0, audio=False),
                         tmp_path / "drive.ts")
    data = whole.read_bytes()
    assert len(data) % 188 == 0
    assert main(["-i", str(whole), "-o", str(tmp_path / "whole.mp4"), "-q"]) == 0
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[:len(data) // 2 + 101])
    assert main(["-i", str(cut), "-o", str(tmp_path / "cut.mp4"), "-q"]) == 3
    err = capsys.readouterr().err
    assert "ends inside a transport-stream packet" in err and "Traceback" not in err
    assert 0 < probe(tmp_path / "cut.mp4").frames < probe(tmp_path / "whole.mp4").frames
