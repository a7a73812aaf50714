"""Real (dark, well-exposed) pairs from exposure brackets.

Multi-exposure data sets (SICE, and any tripod bracket a user shoots) store each scene as
consecutive files at several exposures. Such a folder holds *real* low-light pairs: the darkest
frames of a scene against its best-exposed frame, with the camera's own noise, tone curve and
JPEG. :func:`find_brackets` recovers the scenes without any labels: files are taken in natural
order ("2.jpg" before "10.jpg") and two neighbours belong to one scene when the rank
correlation of their small grey thumbnails is high (exposure changes levels monotonically, so it
barely moves ranks; a new scene does).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ...errors import ConfigError

#: thumbnail side for the scene test
THUMB = 32
#: rank correlation above which neighbours are one scene (SICE: same-scene links are > 0.8,
#: scene changes < 0.6)
SAME_SCENE = 0.75


def natural_key(path: Path) -> list[object]:
    """Sort key that orders numbers inside names by value ("2" < "10")."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def _thumb(path: Path) -> tuple[np.ndarray, float]:
    grey = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_4)
    if grey is None:
        raise ConfigError(f"{str(path)!r} is not a readable image")
    small = cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    return small.ravel(), float(grey.mean()) / 255.0


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    ranks[order] = np.arange(len(values))
    return ranks


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman correlation of two thumbnails over the pixels neither clips (black or white);
    0 when too few pixels are left to tell."""
    keep = (a > 2) & (b > 2) & (a < 250) & (b < 250)
    if keep.sum() < 50:
        return 0.0
    ra, rb = _ranks(a[keep]), _ranks(b[keep])
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


@dataclass(frozen=True)
class Bracket:
    """One scene: its files in natural order and their mean grey levels."""

    files: tuple[Path, ...]
    means: tuple[float, ...]

    def pairs(self, low_max: float = 0.2, low_min: float = 0.01, well_min: float = 0.35,
              well_max: float = 0.65) -> list[tuple[Path, Path]]:
        """``(dark, target)`` pairs: every frame with mean grey in [low_min, low_max] against
        the frame nearest mid-grey among those in [well_min, well_max]; none without both."""
        wells = [(abs(m - 0.5), f) for f, m in zip(self.files, self.means)
                 if well_min <= m <= well_max]
        if not wells:
            return []
        target = min(wells)[1]
        return [(f, target) for f, m in zip(self.files, self.means) if low_min <= m <= low_max]


def find_brackets(files: Sequence[Path], threshold: float = SAME_SCENE) -> list[Bracket]:
    """Group image files into scenes (see the module docstring); singletons are scenes too."""
    ordered = sorted((Path(f) for f in files), key=natural_key)
    groups: list[tuple[list[Path], list[float]]] = []
    previous = None
    for path in ordered:
        thumb, mean = _thumb(path)
        if previous is not None and rank_correlation(previous, thumb) >= threshold:
            groups[-1][0].append(path)
            groups[-1][1].append(mean)
        else:
            groups.append(([path], [mean]))
        previous = thumb
    return [Bracket(tuple(f), tuple(m)) for f, m in groups]


def split_brackets(brackets: Sequence[Bracket], count: int,
                   seed: int) -> tuple[list[Bracket], list[Bracket]]:
    """Hold out ``count`` scenes that have at least one pair, chosen by ``seed``:
    ``(train, held_out)``. Whole scenes, so no held-out target is ever a training image."""
    usable = [i for i, b in enumerate(brackets) if b.pairs()]
    if count > len(usable):
        raise ConfigError(f"only {len(usable)} exposure brackets have a dark and a well-exposed "
                          f"frame; cannot hold out {count}")
    order = np.random.default_rng(seed).permutation(len(usable))
    held = {usable[i] for i in order[:count].tolist()}
    return ([b for i, b in enumerate(brackets) if i not in held],
            [brackets[i] for i in sorted(held)])
