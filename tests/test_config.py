"""Config loading: every shipped config validates; bad keys and values are named precisely."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.errors import ConfigError
from tests.common import ROOT



RUN_CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if not p.name.startswith("train_"))
RECIPES = sorted((ROOT / "configs").glob("train_*.yaml"))


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, Config)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_shipped_training_recipes_validate(path: Path) -> None:
    """``configs/train_*.yaml`` are training recipes (``tools/train.py``), not run configs."""
    from pipeline.training.trainer import Recipe, load_recipe

    recipe = load_recipe(path)
    assert isinstance(recipe, Recipe) and recipe.model["type"] in path.stem


def test_defaults_without_file() -> None:
    cfg = load_config()
    assert cfg.source.queue_size > 0 and cfg.sink.codec == "libx264"


def test_overrides_are_parsed_as_yaml() -> None:
    cfg = load_config(overrides=["sink.crf=18", "run.target_fps=null", "source.live=true",
                                 "sink.codec_options={tune: zerolatency}",
                                 "enhancer={type: gamma, gamma: 0.5}"])
    assert cfg.sink.crf == 18.0 and isinstance(cfg.sink.crf, float)
    assert cfg.run.target_fps is None and cfg.source.live is True
    assert cfg.sink.codec_options == {"tune": "zerolatency"}
    assert cfg.enhancer.type == "gamma" and cfg.enhancer.params == {"gamma": 0.5}


def test_config_is_frozen() -> None:
    cfg = load_config()
    with pytest.raises(Exception):
        cfg.sink.crf = 1  # type: ignore[misc]


@pytest.mark.parametrize("text, message", [
    ("source:\n  queue_sise: 3\n", r"x\.yaml: source\.queue_sise: unknown key; valid keys"),
    ("source:\n  rtsp:\n    transport: quic\n", r"x\.yaml: source\.rtsp\.transport: expected one of tcp, udp"),
    ("sink:\n  crf: 99\n", r"x\.yaml: sink\.crf: must be in 0\.\.63"),
    ("run:\n  max_frames: 1.5\n", r"x\.yaml: run\.max_frames: expected an integer"),
    ("source:\n  queue_size: 0\n", r"x\.yaml: source\.queue_size: must be > 0"),
    ("source:\n  queue_size: 1000000000\n", r"x\.yaml: source\.queue_size: must be at most 256"),
    ("enhancer:\n  batch_size: 100000\n", r"x\.yaml: enhancer\.batch_size: must be in 1\.\.256"),
    ("source:\n  rtsp:\n    read_timeout_s: 1.0e+300\n", r"x\.yaml: source\.rtsp\.read_timeout_s: must be at most 86400"),
    ("run:\n  stats_interval_s: 1.0e+9\n", r"x\.yaml: run\.stats_interval_s: must be at most 86400"),
    ("source:\n  camera:\n    width: -1\n", r"x\.yaml: source\.camera\.width: must be > 0 and at most 8192"),
    ("source:\n  camera:\n    fps: 0\n", r"x\.yaml: source\.camera\.fps: must be > 0 and at most 1000"),
    ("sink: [1, 2]\n", r"x\.yaml: sink: sink must be a mapping"),
    ("enhancer:\n  type: nosuch\n", r"x\.yaml: enhancer\.type: unknown enhancer 'nosuch'; valid: .*passthrough"),
    ("enhancer:\n  type: passthrough\n  delay: 3\n", r"x\.yaml: enhancer\.delay: unknown parameter .*valid: delay_ms"),
    ("- a\n- b\n", r"x\.yaml: the top level must be a mapping"),
    ("source: {uri: [\n", r"x\.yaml: not valid YAML"),
    ("run:\n  progress: yes please\n", r"x\.yaml: run\.progress: expected true/false"),
])
def test_bad_config_names_file_and_key_path(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


LAUGHS = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 10 if p else ['1'] * 10)}]\n"
                 for p, c in zip(["", *"abcdefg"], "abcdefgh"))


@pytest.mark.parametrize("text, message", [
    # a "billion laughs": eight lines that stand for 10^8 values, inside a real key too
    (LAUGHS, r"x\.yaml: not valid YAML: its aliases expand to more than 100,000 values"),
    ("sink:\n  codec_options:\n" + "".join("    " + line + "\n"
                                            for line in LAUGHS.splitlines()),
     r"aliases expand to more than 100,000"),
    ("source:\n  uri: &r\n    - *r\n", r"x\.yaml: not valid YAML: a value refers to itself"),
    ("[" * 5000 + "]" * 5000, r"x\.yaml: not valid YAML: nested too deeply"),
    ("sink:\n  crf: 20\nsink:\n  crf: 30\n",
     r"x\.yaml: not valid YAML: key 'sink' is given twice.*line 3"),
    ("sink:\n  codec_options: {crf: [1, 2]}\n",
     r"x\.yaml: sink\.codec_options\.crf: expected a string or a number"),
    ("source:\n  uri: [" + ", ".join(["1"] * 2000) + "]\n",
     r"x\.yaml: source\.uri: expected a string, got \[1, 1, 1, 1, 1, 1, \.\.\.\]$"),
])
def test_hostile_yaml_is_one_short_error(tmp_path: Path, text: str, message: str) -> None:
    """Alias bombs, recursive aliases and deep nesting end in one error, at once, and an
    error message shows a long value cut short."""
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_bad_override_names_set() -> None:
    with pytest.raises(ConfigError, match=r"--set sink\.crff: unknown key"):
        load_config(overrides=["sink.crff=3"])
    with pytest.raises(ConfigError, match=r"expected KEY\.PATH=VALUE"):
        load_config(overrides=["sink.crf"])
    for bad in ("sink.crf=*a", "sink.crf={{a}}", "source.uri=!!python/object:os.system ls"):
        with pytest.raises(ConfigError, match=r"--set .*: value .* is not valid YAML") as info:
            load_config(overrides=[bad])
        assert "\n" not in str(info.value)  # one error line


def test_enhancer_parameter_values_checked_at_build() -> None:
    from pipeline.enhancers import build_enhancer

    for bad in (-1, 1e12):  # 1e12 ms slept for ever
        with pytest.raises(ConfigError, match=r"delay_ms must be in 0\.\.60000"):
            build_enhancer("passthrough", delay_ms=bad)


def test_config_files_that_are_devices_or_huge_are_refused(tmp_path: Path) -> None:
    """/dev/zero as a config was read until the kernel killed the process (exit 137)."""
    with pytest.raises(ConfigError, match=r"config /dev/zero is not a regular file"):
        load_config("/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_text("#" * (2 * 1024 * 1024))
    with pytest.raises(ConfigError, match=r"big\.yaml is larger than 1024 KiB"):
        load_config(big)
