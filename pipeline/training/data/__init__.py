"""Training data: low-light synthesis and datasets.

:func:`build_training_data` turns a recipe's ``data`` block into a training dataset and a
fixed list of validation batches.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch

from ...errors import ConfigError
from .datasets import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    ImageFolderDataset,
    MixedPairDataset,
    PairedFolderDataset,
    PairListDataset,
    TargetGainDataset,
    SyntheticPairDataset,
    center_crop,
    list_images,
    mean_grey,
    pair_layout,
    paired_files,
    random_crop,
    read_rgb,
    to_tensor,
    video_frames,
)
from .brackets import Bracket, find_brackets, split_brackets
from .synth import NightReference, SynthConfig, add_lamps, linear_to_srgb, srgb_to_linear, synthesize

#: validation images per batch
VAL_BATCH = 8


def load_sources(path: str) -> list[Path | np.ndarray]:
    """Training images from a folder (files, decoded lazily) or a video (sampled frames)."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
        return list(video_frames(p))
    if p.is_file():
        raise ConfigError(f"{path!r} is neither an image folder nor a video "
                          f"({', '.join(VIDEO_EXTENSIONS)})")
    return list(list_images(p))


def well_exposed(sources: Sequence[Path | np.ndarray], low: float,
                 high: float) -> list[Path | np.ndarray]:
    """The sources whose mean grey level lies in [low, high] (read at 1/4 size for speed)."""
    keep = []
    for item in sources:
        if isinstance(item, np.ndarray):
            image = item
        else:
            image = cv2.imread(str(item), cv2.IMREAD_REDUCED_COLOR_4)
            if image is None:
                raise ConfigError(f"{str(item)!r} is not a readable image")
        if low <= mean_grey(image) <= high:
            keep.append(item)
    return keep


def split(sources: Sequence[Any], count: int, seed: int) -> tuple[list[Any], list[Any]]:
    """A fixed random ``count`` of ``sources`` held out for validation: ``(train, val)``."""
    if count >= len(sources):
        raise ConfigError(f"{len(sources)} images cannot spare {count} for validation")
    order = np.random.default_rng(seed).permutation(len(sources))
    held = set(order[:count].tolist())
    return ([s for i, s in enumerate(sources) if i not in held],
            [sources[i] for i in sorted(held)])


def _image(item: Path | np.ndarray) -> np.ndarray:
    return read_rgb(item) if isinstance(item, (str, Path)) else item


def _batches(items: list[Any]) -> list[Any]:
    out = []
    for i in range(0, len(items), VAL_BATCH):
        chunk = items[i:i + VAL_BATCH]
        if isinstance(chunk[0], tuple):
            out.append(tuple(torch.stack(t) for t in zip(*chunk)))
        else:
            out.append(torch.stack(chunk))
    return out


def synthetic_validation(images: Sequence[Path | np.ndarray], crop: int,
                         config: SynthConfig, reference: NightReference | None,
                         seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The fixed validation pairs: a centre crop of each image, synthesized with generator
    ``(seed, i)`` — the same pairs on every run and machine."""
    pairs = []
    for i, item in enumerate(images):
        clean = np.ascontiguousarray(center_crop(crop, _image(item)))
        dark, target = synthesize(clean, np.random.default_rng([seed, i]), config, reference)
        pairs.append((to_tensor(dark), to_tensor(target)))
    return pairs


def build_training_data(cfg: Any, seed: int = 0) -> tuple[torch.utils.data.Dataset, list[Any]]:
    """``(train_dataset, val_batches)`` for a recipe's ``data`` block (``DataConfig``)."""
    if cfg.mode == "paired":
        if cfg.val is not None:
            train = PairedFolderDataset(cfg.train, crop=cfg.crop, resize=cfg.resize, seed=seed)
            val = PairedFolderDataset(cfg.val, resize=cfg.resize)
        else:
            # no validation folder: hold out val_count pairs, fixed by val_seed
            train_pairs, val_pairs = split(paired_files(cfg.train), cfg.val_count, cfg.val_seed)
            train = PairListDataset(train_pairs, crop=cfg.crop, resize=cfg.resize, seed=seed)
            val = PairListDataset(val_pairs, crop=None, resize=cfg.resize)
        return train, [tuple(t[None] for t in val[i]) for i in range(len(val))]
    sources = load_sources(cfg.train)
    if cfg.mode == "zero_reference":
        train_items, val_items = split(sources, cfg.val_count, cfg.val_seed)
        train = ImageFolderDataset(train_items, crop=cfg.crop, resize=cfg.resize, seed=seed)
        val = [to_tensor(center_crop(cfg.val_crop, _image(item))) for item in val_items]
        return train, _batches(val)
    # synthetic
    train_brackets, train_items, val_items = synthetic_split(cfg, sources)
    synth = SynthConfig.from_mapping(cfg.synth, "data.synth")
    reference = NightReference.from_file(cfg.night_reference) if cfg.night_reference else None
    train = SyntheticPairDataset(train_items, crop=cfg.crop, config=synth, reference=reference,
                                 resize=cfg.resize, seed=seed)
    if cfg.brackets > 0:
        pairs = [p for b in train_brackets or [] for p in b.pairs(low_max=cfg.bracket_low_max)]
        if not pairs:
            raise ConfigError(f"data.brackets: no exposure brackets with a dark and a "
                              f"well-exposed frame under {cfg.train!r}")
        real = PairListDataset(pairs, crop=cfg.crop, resize=cfg.resize, seed=seed)
        train = MixedPairDataset(train, real, cfg.brackets)
    if (cfg.target_gain_min, cfg.target_gain_max) != (1.0, 1.0):
        train = TargetGainDataset(train, cfg.target_gain_min, cfg.target_gain_max,
                                  cfg.target_auto_share)
    val = synthetic_validation(val_items, cfg.val_crop, synth, reference, cfg.val_seed)
    return train, _batches(val)


def synthetic_split(cfg: Any, sources: Sequence[Path | np.ndarray] | None = None,
                    ) -> tuple[list[Bracket] | None, list[Any], list[Any]]:
    """``(training brackets, training targets, validation targets)`` of a synthetic recipe:
    the well-exposed images outside held-out bracket scenes, split by ``val_seed``."""
    sources = load_sources(cfg.train) if sources is None else sources
    train_brackets, _ = bracket_split(cfg, sources)
    if train_brackets is not None:
        # Held-out scenes leave training entirely: neither their frames as synthesis targets
        # nor their brackets.
        kept = {f for b in train_brackets for f in b.files}
        sources = [s for s in sources if s in kept]
    low, high = cfg.well_min, cfg.well_max
    clean = well_exposed(sources, low, high)
    if len(clean) <= cfg.val_count:
        raise ConfigError(f"data.train: only {len(clean)} images have a mean grey level in "
                          f"[{low}, {high}]; need more than val_count={cfg.val_count}")
    train_items, val_items = split(clean, cfg.val_count, cfg.val_seed)
    return train_brackets, train_items, val_items


def bracket_split(cfg: Any, sources: Sequence[Path | np.ndarray] | None = None,
                  ) -> tuple[list[Bracket] | None, list[Bracket]]:
    """``(training scenes, held-out scenes)`` of a synthetic recipe's exposure brackets;
    ``(None, [])`` when the recipe uses neither brackets nor held-out scenes."""
    if cfg.brackets <= 0 and cfg.holdout_scenes <= 0:
        return None, []
    sources = load_sources(cfg.train) if sources is None else sources
    if not all(isinstance(s, Path) for s in sources):
        raise ConfigError("data.brackets / data.holdout_scenes need an image folder, not a video")
    return split_brackets(find_brackets(sources), cfg.holdout_scenes, cfg.val_seed)


__all__ = [
    "Bracket", "MixedPairDataset", "PairListDataset", "bracket_split", "find_brackets",
    "split_brackets", "synthetic_split", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS",
    "ImageFolderDataset", "NightReference",
    "PairedFolderDataset", "SynthConfig", "SyntheticPairDataset", "add_lamps",
    "build_training_data", "center_crop", "linear_to_srgb", "list_images", "load_sources",
    "mean_grey", "pair_layout", "paired_files", "random_crop", "read_rgb", "split", "srgb_to_linear",
    "synthesize", "synthetic_validation", "to_tensor", "video_frames", "well_exposed",
]
