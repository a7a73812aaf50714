"""What a hostile but fair user tries: an output that is the input, a full disk, Ctrl-C while
the libraries load, bad config values, a FIFO as input, redirected stderr, a frozen camera.
Each ends with one ``error:`` line (or a clean finish), the documented exit code, no
traceback, no input written to and no half file under a final name."""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest

from pipeline.config import load_config
from pipeline.enhancers.base import available_cores, default_threads
from pipeline.errors import ConfigError
from pipeline.media import is_partial
from pipeline.streaming.cli import main
from pipeline.streaming.runner import Pipeline
from tests.clips import make_clip, probe
from tests.common import ROOT, assert_clean_error, run_cli


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("hostile") / "drive.mp4", fps=15, seconds=1.0)


def _one_error(capsys: pytest.CaptureFixture[str], pattern: str) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and pattern in errors[0], err
    assert "Traceback" not in err
    return errors[0]


# -- 1. the output is the input -----------------------------------------------------------
@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "relative", "stats"])
def test_output_that_is_the_input_is_refused_before_writing(how: str, clip: Path,
                                                            tmp_path: Path, capsys) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(clip.read_bytes())
    original = source.read_bytes()
    args = ["-i", str(source), "-q"]
    if how == "same":
        args += ["-o", str(source)]
    elif how == "symlink":
        (tmp_path / "link.mp4").symlink_to(source)
        args += ["-o", str(tmp_path / "link.mp4")]
    elif how == "hardlink":
        os.link(source, tmp_path / "hard.mp4")
        args += ["-o", str(tmp_path / "hard.mp4")]
    elif how == "relative":
        args += ["-o", str(tmp_path / "sub" / ".." / "in.mp4")]
        (tmp_path / "sub").mkdir()
    else:
        args += ["-o", str(tmp_path / "out.mp4"), "--stats-json", str(source)]
    assert main(args) == 2
    _one_error(capsys, "would be overwritten")
    assert source.read_bytes() == original
    assert not [p for p in tmp_path.iterdir() if is_partial(p)]


def test_image_sink_into_the_input_image_folder_is_refused(tmp_path: Path, capsys) -> None:
    import cv2
    import numpy as np

    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i:06d}.png"), np.full((16, 16, 3), 20 * i, np.uint8))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["-i", str(folder), "-o", f"{folder}/", "-q"]) == 2
    _one_error(capsys, "holds the input images")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_the_real_command_line_refuses_too(clip: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(clip.read_bytes())
    proc = run_cli("-i", str(source), "-o", str(source))
    assert_clean_error(proc, "would be overwritten", code=2)
    assert probe(source).frames == probe(clip).frames


# -- 3. a full disk -------------------------------------------------------------------------
def _limit_file_size() -> None:
    # RLIMIT_FSIZE makes every write past 60 kB fail with EFBIG, as a full disk fails with
    # ENOSPC; SIGXFSZ would kill the process instead, so it is ignored
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))


def test_full_disk_leaves_no_file_under_the_final_name(tmp_path: Path) -> None:
    from pipeline.enhancers import build_enhancer

    source = make_clip(tmp_path / "long.mp4", width=160, height=96, fps=15, seconds=4.0)
    out = tmp_path / "out" / "enhanced.mp4"
    out.parent.mkdir()
    # the default enhancer's graph exported beforehand (the session's engine folder), so the
    # disk fills while the video is written, whichever tests ran before
    with build_enhancer("onnxruntime") as warm:
        warm.start()
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "-i", str(source),
                           "-o", str(out), "--no-progress", "--set", "sink.crf=0"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          preexec_fn=_limit_file_size)
    assert_clean_error(proc, str(out), code=1)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # nor a partial


def test_full_disk_during_the_first_export_names_the_graph(tmp_path: Path) -> None:
    """The first run exports the model's graph to the engine folder: a disk that fills there
    is one line naming the file, and no half-written graph is left behind."""
    source = make_clip(tmp_path / "c.mp4", seconds=0.5)
    engines = tmp_path / "engines"
    proc = subprocess.run([sys.executable, str(ROOT / "run_stream.py"), "-i", str(source),
                           "-o", str(tmp_path / "o.mp4"), "--no-progress"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          preexec_fn=_limit_file_size,
                          env={**os.environ, "NOCTURNE_ENGINES": str(engines)})
    assert_clean_error(proc, "cannot write", code=1)
    assert str(engines / "onnx") in proc.stderr and ".onnx" in proc.stderr
    assert not list((engines / "onnx").glob("*.tmp"))
    assert not (tmp_path / "o.mp4").exists()


def test_a_finished_file_appears_only_at_the_end(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    seen_partial = []
    cfg = load_config(None, [f"source.uri={clip}", f"sink.uri={out}", "run.progress=false",
                             "enhancer={type: gamma}"])

    def watch(stats: object) -> None:
        seen_partial.append((out.exists(), any(is_partial(p) for p in tmp_path.iterdir())))

    Pipeline(cfg).run(on_progress=watch)
    assert out.exists() and probe(out).frames == probe(clip).frames
    assert not any(final for final, _ in seen_partial[:-1])
    assert not [p for p in tmp_path.iterdir() if is_partial(p)]


# -- 8. config values -------------------------------------------------------------------------
@pytest.mark.parametrize("setting, pattern", [
    ("source.fps=.nan", "source.fps: expected a finite number"),
    ("source.fps=.inf", "source.fps: expected a finite number"),
    ("run.duration_s=-.inf", "run.duration_s: expected a finite number"),
    ("sink.codec=aac", "sink.codec: 'aac' is an audio encoder"),
    ("sink.codec=nosuchcodec", "sink.codec: no encoder named"),
    ("sink.pix_fmt=nosuchfmt", "sink.pix_fmt: unknown pixel format"),
    ("sink.pix_fmt=rgb48le", "sink.pix_fmt: libx264 cannot encode"),
    ("sink.image_format=xyz", "sink.image_format: cannot write images"),
    ("sink.bitrate=lots", "sink.bitrate"),
    ("sink.preset=turbo", "sink.preset: libx264 has no preset"),
    ("sink.uri='rtsp://[::1/x'", "sink.uri: not a valid URI"),
])
def test_bad_config_values_are_one_line_at_load(setting: str, pattern: str, clip: Path,
                                                tmp_path: Path, capsys) -> None:
    assert main(["-i", str(clip), "--set", f"sink.uri={tmp_path / 'o.mp4'}",
                 "--set", setting]) == 2
    _one_error(capsys, pattern)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("setting, pattern", [
    ("enhancer.model_args.bilateral=-1", "enhancer: bilateral must be a number in [0, 20]"),
    ("enhancer.model_args.tone=.nan", "enhancer: tone must be a number in [0.5, 2]"),
    ("enhancer.model_args.weights=x.pt", "enhancer.model_args.weights: give the weights as "
                                         "enhancer.weights"),
])
def test_bad_model_arguments_name_the_enhancer_block(setting: str, pattern: str, clip: Path,
                                                     tmp_path: Path, capsys) -> None:
    """The model's own arguments, checked when the enhancer is built (before any output is
    opened): one line that names the block, no doubled prefix from the nested build."""
    assert main(["-i", str(clip), "-o", str(tmp_path / "o.mp4"), "-q", "--set", setting]) == 2
    line = _one_error(capsys, pattern)
    assert "enhancer: enhancer" not in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, pattern", [
    ("missing/stats.json", "does not exist"),
    ("", "is a folder"),
    ("/proc/stats.json", "cannot write /proc/stats.json"),
])
def test_a_stats_file_that_cannot_be_written_is_refused_before_the_run(
        where: str, pattern: str, clip: Path, tmp_path: Path, capsys) -> None:
    stats = where if where.startswith("/") else str(tmp_path / where)
    assert main(["-i", str(clip), "-o", str(tmp_path / "o.mp4"), "-e", "gamma",
                 "--stats-json", stats, "-q"]) == 2
    _one_error(capsys, pattern)
    assert list(tmp_path.iterdir()) == []


def test_an_image_type_that_cannot_be_written_leaves_no_folder(clip: Path, tmp_path: Path,
                                                                capsys) -> None:
    assert main(["-i", str(clip), "-o", str(tmp_path / "frames" / "%04d.xyz"), "-e", "gamma",
                 "-q"]) == 1
    _one_error(capsys, "cannot write images of type '.xyz'")
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_rtsp_url(tmp_path: Path, capsys) -> None:
    assert main(["-i", "rtsp://[::1/x", "-o", str(tmp_path / "o.mp4")]) == 2
    _one_error(capsys, "not a valid URI")


def test_a_binary_file_as_config(clip: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "weights.yaml"
    config.write_bytes(bytes(range(256)) * 8)
    assert main(["-c", str(config), "-i", str(clip), "-o", str(tmp_path / "o.mp4")]) == 2
    _one_error(capsys, "not a YAML text file")


def test_plain_numbers_are_numbers() -> None:
    """YAML 1.1 reads ``1e-9`` as text; a user means a number."""
    cfg = load_config(None, ["source.fps=1e-9", "run.duration_s=2E1", "sink.crf=1.8e1"])
    assert cfg.source.fps == 1e-9 and cfg.run.duration_s == 20.0 and cfg.sink.crf == 18.0


# -- 9. Ctrl-C while the libraries load -------------------------------------------------------
@pytest.mark.parametrize("script", ["run_stream.py", "tools/batch.py"])
def test_ctrl_c_during_start_up_exits_130_quietly(script: str, clip: Path,
                                                  tmp_path: Path) -> None:
    # the U-Net's enhancer imports torch and loads weights: seconds before the run starts
    args = ([str(clip), "-o", str(tmp_path / "b"), "-e", "unet_gn"] if "batch" in script
            else ["-i", str(clip), "-o", str(tmp_path / "o.mp4"), "-e", "unet_gn"])
    proc = subprocess.Popen([sys.executable, str(ROOT / script), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert not (tmp_path / "o.mp4").exists()


DROPPED_CTRL_C = """
import os, signal, sys
sys.path.insert(0, {root!r})
from pipeline import interrupts
interrupts.install()

class Dropper:
    def __del__(self):
        # Python runs the SIGINT handler here, and a KeyboardInterrupt raised inside __del__
        # is printed as "Exception ignored" and dropped (as in an import lock's callback)
        os.kill(os.getpid(), signal.SIGINT)
        # a few bytecodes more, so that the handler runs while still inside __del__
        self.spin = sum(range(1000))

Dropper()
from {module} import main
sys.exit(main({args!r}))
"""


@pytest.mark.parametrize("module", ["pipeline.streaming.cli", "pipeline.batch.cli"])
def test_a_ctrl_c_that_python_drops_at_start_up_still_stops(module: str, clip: Path,
                                                            tmp_path: Path) -> None:
    """The interrupt lands where Python ignores exceptions; the command still stops before
    writing anything, with 130 (it once went on and enhanced the whole batch)."""
    args = ([str(clip), "-o", str(tmp_path / "b"), "-q"] if "batch" in module
            else ["-i", str(clip), "-o", str(tmp_path / "o.mp4"), "-q"])
    code = DROPPED_CTRL_C.format(root=str(ROOT), module=module, args=args)
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert "Exception ignored" in proc.stderr  # the interrupt was really dropped
    assert proc.returncode == 130, proc.stderr
    assert not (tmp_path / "o.mp4").exists()
    assert not list((tmp_path / "b").glob("*.mp4")) if (tmp_path / "b").exists() else True
    assert not [p for p in tmp_path.rglob("*") if is_partial(p)]


# -- 11. errors name the path ---------------------------------------------------------------------
def test_unwritable_output_folder_is_named(clip: Path, tmp_path: Path, capsys) -> None:
    target = tmp_path / "missing" / "o.mp4"
    assert main(["-i", str(clip), "-o", str(target), "-q"]) == 1
    _one_error(capsys, str(target))


def test_unwritable_cache_dir_is_named(clip: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code = main(["-i", str(clip), "-o", str(tmp_path / "o.mp4"), "-q", "--set",
                 f"enhancer={{type: onnxruntime, cache_dir: '{blocker}'}}"])
    assert code == 1
    line = _one_error(capsys, "enhancer.cache_dir")
    assert str(blocker) in line


# -- 12. a FIFO as input ------------------------------------------------------------------------
def test_fifo_input_is_refused_at_once(tmp_path: Path, capsys) -> None:
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    assert main(["-i", str(fifo), "-o", str(tmp_path / "o.mp4"), "-q"]) == 1
    assert time.monotonic() - t0 < 30
    _one_error(capsys, "not a regular file")


# -- 13. no progress bar into a file ------------------------------------------------------------
def test_redirected_stderr_gets_no_bar_but_a_summary(clip: Path, tmp_path: Path) -> None:
    proc = run_cli("-i", str(clip), "-o", str(tmp_path / "o.mp4"), "--set", "run.progress=true")
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr
    assert "done: in 15 out 15" in proc.stderr


# -- 14. thread pools leave room for the decoder and the encoder ----------------------------
def test_default_threads_leave_half_the_cores() -> None:
    assert default_threads() == max(1, available_cores() // 2)
    if hasattr(os, "sched_getaffinity"):
        assert available_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("value", ["0", "100000", "2.5", "true"])
def test_a_thread_count_out_of_range_is_refused_at_once(value: str, clip: Path, tmp_path: Path,
                                                        capsys) -> None:
    """``threads: 100000`` (a typo) once took 17 GB building a thread pool and never started."""
    assert main(["-i", str(clip), "-o", str(tmp_path / "o.mp4"), "-q",
                 "--set", f"enhancer.threads={value}"]) == 2
    _one_error(capsys, "threads must be an integer in 1..256")
    from pipeline.training.trainer import load_recipe
    with pytest.raises(ConfigError, match="train.threads"):
        load_recipe(ROOT / "configs" / "train_lowres_guided.yaml", [f"train.threads={value}"])


def test_onnxruntime_session_uses_the_default(clip: Path) -> None:
    from pipeline.enhancers import build_enhancer

    enhancer = build_enhancer("onnxruntime", model="zero_dce_pp")
    enhancer.start()
    try:
        options = enhancer.session.get_session_options()
        assert options.intra_op_num_threads == default_threads()
    finally:
        enhancer.close()


# -- 10. a frozen RTSP server ---------------------------------------------------------------------
def _rtsp_cfg(url: str, out: Path, duration: float) -> object:
    return load_config(None, [f"source.uri={url}", f"sink.uri={out}", "run.progress=false",
                              "source.rtsp.read_timeout_s=1.0", f"run.duration_s={duration}",
                              "enhancer={type: passthrough}"])


@pytest.mark.rtsp
def test_frozen_server_downtime_counts_from_the_last_frame(rtsp_server, tmp_path: Path) -> None:
    out = tmp_path / "frozen.mp4"
    pipe = Pipeline(_rtsp_cfg(rtsp_server.url, out, 8.0))
    freezer = threading.Thread(target=lambda: (time.sleep(2.0), rtsp_server.freeze(3.5)))
    freezer.start()
    result = pipe.run()
    freezer.join()
    assert result.stats.reconnects >= 1
    with av.open(str(out)) as c:
        times = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    gap = max(b - a for a, b in zip(times, times[1:]))
    # the downtime reported is the hole in the output, not the time after the timeout fired
    assert gap - 0.5 <= result.stats.reconnect_downtime_s <= gap + 0.5, (gap, result.stats)


@pytest.mark.rtsp
def test_outage_still_going_at_stop_is_counted(rtsp_server, tmp_path: Path) -> None:
    pipe = Pipeline(_rtsp_cfg(rtsp_server.url, tmp_path / "o.mp4", 30.0))
    def freeze_then_stop() -> None:
        time.sleep(1.5)
        stopper = threading.Timer(3.0, pipe.stop)
        stopper.start()
        rtsp_server.freeze(4.0)
    t = threading.Thread(target=freeze_then_stop)
    t.start()
    result = pipe.run()
    t.join()
    assert result.stats.reconnect_downtime_s >= 1.5, result.stats
    assert json.dumps(result.stats.as_dict())  # reportable


def test_two_outputs_to_one_file_are_refused(clip: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "o.mp4"
    assert main(["-i", str(clip), "-o", str(out), "-o", str(tmp_path / "." / "o.mp4"),
                 "-q"]) == 1
    _one_error(capsys, "would write the same file")
    assert list(tmp_path.iterdir()) == []


def test_bad_extra_outputs_name_the_setting(clip: Path, tmp_path: Path, capsys) -> None:
    assert main(["-i", str(clip), "-o", str(tmp_path / "o.mp4"), "--set",
                 "sink.also=[1]"]) == 2
    _one_error(capsys, "--set sink.also[0]: expected a string")


def test_batch_size_flag(clip: Path, tmp_path: Path, capsys) -> None:
    stats = tmp_path / "s.json"
    assert main(["-i", str(clip), "-o", str(tmp_path / "o.mp4"), "-e", "gamma",
                 "--batch-size", "4", "--stats-json", str(stats), "-q"]) == 0
    assert json.loads(stats.read_text())["config"]["enhancer"]["batch_size"] == 4
    assert main(["-i", str(clip), "-o", str(tmp_path / "p.mp4"), "--batch-size", "0"]) == 2
    _one_error(capsys, "enhancer.batch_size: must be in 1..256")


# -- 15. a damaged image in a folder; a source that fails part-way ----------------------------
def _image_folder(folder: Path, count: int, damaged: tuple[int, ...]) -> Path:
    import cv2
    import numpy as np

    folder.mkdir()
    for i in range(count):
        path = folder / f"f{i}.png"
        cv2.imwrite(str(path), np.full((32, 48, 3), 20 * i + 10, np.uint8))
        if i in damaged:
            path.write_bytes(path.read_bytes()[:40])  # cut short after its header
    return folder


@pytest.mark.parametrize("damaged", [(2,), (0,), (0, 3)])
def test_damaged_images_are_skipped_and_reported(damaged: tuple[int, ...], tmp_path: Path,
                                                 capsys) -> None:
    """As a video's damaged packets: the readable images are enhanced and written, each
    damaged one named in a warning, and the run ends as for a corrupt input (exit 3)."""
    folder = _image_folder(tmp_path / "imgs", 5, damaged)
    out = tmp_path / "o.mp4"
    assert main(["-i", str(folder), "-o", str(out), "-q", "--set", "source.fps=5"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and "[ERROR" not in err
    for i in damaged:
        assert f"f{i}.png: cannot read this image (damaged" in err
    info = probe(out)
    kept = [i for i in range(5) if i not in damaged]
    assert info.frames == len(kept)
    # each image keeps its own time: a skipped one leaves a gap, as a lost frame does
    assert [round(t - info.times[0], 3) for t in info.times] == \
        [round((i - kept[0]) * 0.2, 3) for i in kept]


def test_a_folder_of_unreadable_images_is_one_error(tmp_path: Path, capsys) -> None:
    folder = _image_folder(tmp_path / "imgs", 2, (0, 1))
    assert main(["-i", str(folder), "-o", str(tmp_path / "o.mp4"), "-q"]) == 1
    _one_error(capsys, "none of the 2 images")
    assert not (tmp_path / "o.mp4").exists()


def test_frames_larger_than_the_limit_are_refused_before_decoding_more(tmp_path: Path,
                                                                      capsys) -> None:
    """A decompression bomb (a tiny PNG of 20,000 pixels on a side is 1.2 GB decoded) or a
    damaged header: a frame side above ``MAX_FRAME_SIDE`` is one error naming the file and the
    size; in a folder of normal images such an image is skipped as a damaged one is."""
    import cv2
    import numpy as np

    from pipeline.streaming.sources import MAX_FRAME_SIDE

    wide = MAX_FRAME_SIDE + 8
    video = tmp_path / "wide.mkv"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = wide, 16, "yuv420p"
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(np.zeros((16, wide, 3), np.uint8), "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert main(["-i", str(video), "-o", str(tmp_path / "v.mp4"), "-q"]) == 1
    _one_error(capsys, f"wide.mkv: frames of {wide}x16 are larger than")
    assert not (tmp_path / "v.mp4").exists()

    folder = _image_folder(tmp_path / "imgs", 3, ())
    cv2.imwrite(str(folder / "f1.png"), np.zeros((8, wide, 3), np.uint8))
    out = tmp_path / "o.mp4"
    assert main(["-i", str(folder), "-o", str(out), "-q", "--set", "source.fps=5"]) == 3
    assert "f1.png: cannot read this image" in capsys.readouterr().err
    assert probe(out).frames == 2
    only = tmp_path / "only"
    only.mkdir()
    (folder / "f1.png").rename(only / "big.png")
    assert main(["-i", str(only), "-o", str(tmp_path / "b.mp4"), "-q"]) == 1
    _one_error(capsys, f"big.png: frames of {wide}x8 are larger than")


def test_a_source_failing_part_way_keeps_what_was_read(tmp_path: Path) -> None:
    """A source's own error after some frames (a camera unplugged, a share gone): the frames
    already read are still enhanced and written, the file finalized, then the error raised."""
    from pipeline.errors import SourceError
    from pipeline.streaming.sources import ImageFolderSource

    class FailingFolder(ImageFolderSource):
        def read(self):  # type: ignore[override]
            if self._index == 4:
                raise SourceError("the folder went away")
            return super().read()

    folder = _image_folder(tmp_path / "imgs", 8, ())
    cfg = load_config(None, [f"source.uri={folder}", f"sink.uri={tmp_path / 'o.mp4'}",
                             "run.progress=false", "enhancer={type: passthrough}",
                             "source.queue_size=4"])
    source = FailingFolder(str(folder), str(folder), cfg.source)
    source.open()
    with pytest.raises(SourceError, match="went away"):
        Pipeline(cfg, source=source).run()
    assert probe(tmp_path / "o.mp4").frames == 4


# -- 16. encoder settings the encoder refuses when it opens ------------------------------------
@pytest.mark.parametrize("setting", ["sink.codec=mjpeg", "sink.codec_options={crf: abc}",
                                     "sink.codec_options={preset: nope}"])
def test_encoder_settings_refused_at_the_first_frame_are_named(setting: str, clip: Path,
                                                               tmp_path: Path, capsys) -> None:
    out = tmp_path / "o.mp4"
    assert main(["-i", str(clip), "-o", str(out), "-q", "--set", setting]) == 1
    line = _one_error(capsys, "the encoder refused its settings")
    assert setting.split("=", 1)[0] in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--sizes", "0x0"], "size '0x0': each side must be in 16..8192"),
    (["--repeat", "0"], "--repeat must be in 1..100, got 0"),
    (["--seconds", "-1"], r"--seconds must be in \(0, 600\], got -1.0"),
    (["--sizes", "64x48", "--seconds", "0.2", "--enhancers", "nosuch"],
     "unknown enhancer 'nosuch'"),
    (["--sizes", "64x48", "--seconds", "0.2", "--preset", "nope"],
     "libx264 has no preset 'nope'"),
])
def test_benchmark_arguments_are_checked(args: list[str], message: str, tmp_path: Path) -> None:
    """The benchmark is a tool users run too: one error line, exit 2, no traceback."""
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "bench.py"), *args,
                           "--work", str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert_clean_error(proc, message, 2)


@pytest.mark.parametrize("tool, args, message", [
    ("bench_threads.py", ["--size", "0x0"], "width must be at least 16, not 0"),
    ("bench_threads.py", ["--threads", "0"], "threads must be an integer in 1..256, got 0"),
    ("bench_temporal.py", ["--enhancer", "nosuch"], "unknown enhancer 'nosuch'"),
    ("bench_models.py", ["--frames", "0", "--sizes", "64x48"], "--frames must be >= 1, got 0"),
    ("bench_batch.py", ["--clips", "0"], "--clips must be >= 1, got 0"),
    ("bench_encode.py", ["--size", "1920x8"], "size '1920x8': each side must be in 16..8192"),
    ("bench_models.py", ["--sizes", "64x"], "bad size '64x', expected WxH"),
    ("bench_gpu.py", ["--torch", "unet_gn", "--sizes", "0x0"],
     "size '0x0': each side must be in 16..8192"),
    ("bench_encode.py", ["--frames", "0"], "--frames must be in 1..10000, got 0"),
    ("bench_encode.py", ["--presets", "nope"], "libx264 has no preset 'nope'"),
    ("bench_encode.py", ["--input", "/nonexistent/clip.mp4"], "no such file"),
    ("bench_encode.py", ["--enhancers", "gamma", "gamma"], "'gamma' is there twice"),
])
def test_other_benchmarks_report_bad_arguments_in_one_line(tool: str, args: list[str],
                                                           message: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / tool), *args],
                          capture_output=True, text=True, timeout=120)
    assert_clean_error(proc, message, 2)
