"""Training datasets: unpaired images (zero-reference), synthesized pairs, paired folders.

Images are read as RGB uint8 and returned as float tensors ``(3, H, W)`` in [0, 1]. Every
random choice of a sample is drawn from a generator seeded by ``(seed, epoch, index)``, so a
sample is the same whatever the worker or the order it is read in, and runs are reproducible.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import ConfigError
from ...media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS  # noqa: F401  (VIDEO_EXTENSIONS re-exported)
from .synth import NightReference, SynthConfig, synthesize


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files under ``folder`` (recursive), sorted by path; ``ConfigError`` if none."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"image folder {str(root)!r} does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ConfigError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {str(root)!r}")
    return files


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as RGB uint8 ``(H, W, 3)``; ``ConfigError`` if unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ConfigError(f"{str(path)!r} is not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def video_frames(path: str | os.PathLike[str], every: int = 30,
                 max_frames: int = 1000) -> list[np.ndarray]:
    """Every ``every``-th frame of a video file as RGB uint8, at most ``max_frames``."""
    import av

    frames: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i % every == 0:
                    frames.append(frame.to_ndarray(format="rgb24"))
                    if len(frames) >= max_frames:
                        break
    except (av.error.FFmpegError, OSError) as exc:
        raise ConfigError(f"cannot read video {str(path)!r}: {exc}") from None
    if not frames:
        raise ConfigError(f"video {str(path)!r} has no frames")
    return frames


def mean_grey(image: np.ndarray) -> float:
    """Mean grey level of an RGB uint8 image, in [0, 1]."""
    return float(image.mean()) / 255.0


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 ``(H, W, 3)`` to float ``(3, H, W)`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)


def random_crop(rng: np.random.Generator, size: int, *images: np.ndarray) -> list[np.ndarray]:
    """The same random ``size``x``size`` crop (and flip) of each image; images smaller than
    ``size`` are first resized up so the short side fits."""
    h, w = images[0].shape[:2]
    if min(h, w) < size:
        f = size / min(h, w)
        new = (max(size, round(w * f)), max(size, round(h * f)))
        images = tuple(cv2.resize(im, new, interpolation=cv2.INTER_AREA) for im in images)
        h, w = images[0].shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    flip = rng.random() < 0.5
    out = []
    for im in images:
        c = im[y:y + size, x:x + size]
        out.append(c[:, ::-1] if flip else c)
    return out


def center_crop(size: int, image: np.ndarray) -> np.ndarray:
    """The central ``size``x``size`` crop (after resizing up if needed)."""
    h, w = image.shape[:2]
    if min(h, w) < size:
        f = size / min(h, w)
        image = cv2.resize(image, (max(size, round(w * f)), max(size, round(h * f))),
                           interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return image[y:y + size, x:x + size]


class _Seeded(Dataset):
    """Per-sample generators from ``(seed, epoch, index)``."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """New random choices for every sample (called by the trainer each epoch)."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])


class ImageFolderDataset(_Seeded):
    """Unpaired images for zero-reference training: random crop and flip.

    Args:
        images: image files, or already decoded RGB uint8 arrays.
        crop: side of the square crops.
        resize: if set, images are first resized so their short side is ``resize`` (the
            official Zero-DCE trains on 512x512 SICE images resized to 256).
        seed: base seed of the per-sample generators.
    """

    def __init__(self, images: Sequence[Path | np.ndarray], crop: int = 256,
                 resize: int | None = None, seed: int = 0) -> None:
        super().__init__(seed)
        if not images:
            raise ConfigError("no training images")
        self.images = list(images)
        self.crop = int(crop)
        self.resize = resize

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> np.ndarray:
        item = self.images[index]
        image = read_rgb(item) if isinstance(item, (str, Path)) else item
        if self.resize:
            h, w = image.shape[:2]
            f = self.resize / min(h, w)
            image = cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        return image

    def __getitem__(self, index: int) -> torch.Tensor:
        (crop,) = random_crop(self.rng(index), self.crop, self.load(index))
        return to_tensor(crop)


class SyntheticPairDataset(ImageFolderDataset):
    """(dark, clean) pairs synthesized on the fly from well-exposed images.

    Each sample is a random crop of an image, then :func:`synthesize` with a generator seeded by
    ``(seed, epoch, index)``: deterministic, and new darkness/noise every epoch.
    """

    def __init__(self, images: Sequence[Path | np.ndarray], crop: int = 256,
                 config: SynthConfig | None = None, reference: NightReference | None = None,
                 resize: int | None = None, seed: int = 0) -> None:
        super().__init__(images, crop=crop, resize=resize, seed=seed)
        self.config = config or SynthConfig()
        self.reference = reference

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self.rng(index)
        (crop,) = random_crop(rng, self.crop, self.load(index))
        dark, clean = synthesize(np.ascontiguousarray(crop), rng, self.config, self.reference)
        return to_tensor(dark), to_tensor(clean)


class PairListDataset(_Seeded):
    """Aligned ``(dark, target)`` image file pairs: the same random crop and flip of both
    (``crop`` None: whole images), resized first so the short side is ``resize`` if set."""

    def __init__(self, pairs: Sequence[tuple[Path, Path]], crop: int | None = 256,
                 resize: int | None = None, seed: int = 0) -> None:
        super().__init__(seed)
        if not pairs:
            raise ConfigError("no image pairs")
        self.pairs = list(pairs)
        self.crop = crop
        self.resize = resize

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        low_path, high_path = self.pairs[index]
        low, high = read_rgb(low_path), read_rgb(high_path)
        if low.shape != high.shape:
            raise ConfigError(f"{low_path} and {high_path} differ in size")
        if self.resize:
            h, w = low.shape[:2]
            f = self.resize / min(h, w)
            size = (round(w * f), round(h * f))
            low, high = (cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in (low, high))
        if self.crop:
            low, high = random_crop(self.rng(index), self.crop, low, high)
        return to_tensor(low), to_tensor(high)


class MixedPairDataset(_Seeded):
    """Synthetic pairs plus a share of real pairs.

    Every synthetic sample is kept once per epoch; ``share`` of the epoch's samples come from
    ``real``, walked in a different window each epoch so all real pairs are seen over time.
    """

    def __init__(self, synthetic: _Seeded, real: _Seeded, share: float) -> None:
        super().__init__(synthetic.seed)
        if not 0 < share < 1:
            raise ConfigError(f"the real-pair share must be in (0, 1), got {share}")
        self.synthetic, self.real = synthetic, real
        self.extra = max(1, round(len(synthetic) * share / (1 - share)))

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.synthetic.set_epoch(epoch)
        self.real.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.synthetic) + self.extra

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index < len(self.synthetic):
            return self.synthetic[index]
        return self.real[(index - len(self.synthetic) + self.epoch * self.extra) % len(self.real)]


class TargetGainDataset(_Seeded):
    """Pairs whose target is brightened or darkened by a random gain in linear light
    (log-uniform in ``[low, high]``), the input unchanged: a model conditioned on the target's
    brightness (``lowres_guided``'s exposure) learns the whole range it will be asked for, not
    only the well-exposed targets' 0.35-0.65.

    Each item is ``(dark, target, auto)``: for a share ``auto_share`` of the items the target
    keeps its own brightness and ``auto`` is 1 — the model is then trained without the knob
    (``AUTO``) and learns the well-exposed brightness; with a random gain the model could only
    learn the gains' average, and with a blurred target."""

    def __init__(self, base: _Seeded, low: float, high: float, auto_share: float = 0.25) -> None:
        super().__init__(base.seed + 7)
        if not 0 < low <= high:
            raise ConfigError(f"data.target_gain_min/max must be 0 < min <= max, got {low}, {high}")
        if not 0 <= auto_share <= 1:
            raise ConfigError(f"data.target_auto_share must be in [0, 1], got {auto_share}")
        self.base, self.low, self.high = base, float(low), float(high)
        self.auto_share = float(auto_share)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        from .synth import linear_to_srgb, srgb_to_linear

        dark, clean = self.base[index]
        rng = self.rng(index)
        if rng.random() < self.auto_share:
            return dark, clean, torch.ones(())
        gain = float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        linear = srgb_to_linear(clean.numpy()) * gain
        target = np.rint(linear_to_srgb(linear) * 255.0) / 255.0
        return dark, torch.from_numpy(target.astype(np.float32)), torch.zeros(())


class PairedFolderDataset(PairListDataset):
    """A folder with ``low/`` and ``high/`` (LOL) or ``flash/`` and ``ambient/`` (FAID)
    subfolders of same-named images.

    Args:
        root: the folder.
        crop: random crop side for training; ``None`` returns whole images (evaluation).
        resize: if set, both images are first resized so their short side is this.
    """

    def __init__(self, root: str | os.PathLike[str], crop: int | None = None,
                 resize: int | None = None, seed: int = 0) -> None:
        super().__init__(paired_files(root), crop=crop, resize=resize, seed=seed)


#: subfolder names of paired data sets: (input, target)
PAIR_LAYOUTS = (("low", "high"), ("flash", "ambient"))


def pair_layout(root: str | os.PathLike[str]) -> tuple[str, str] | None:
    """The ``(input, target)`` subfolder names ``root`` has (``low/``+``high/``, LOL-style, or
    ``flash/``+``ambient/``, FAID-style), or ``None`` if it is not a paired folder."""
    base = Path(root)
    for a, b in PAIR_LAYOUTS:
        if (base / a).is_dir() and (base / b).is_dir():
            return a, b
    return None


def paired_files(root: str | os.PathLike[str]) -> list[tuple[Path, Path]]:
    """``(input, target)`` file pairs of a paired folder (see :func:`pair_layout`), matched by
    file stem."""
    base = Path(root)
    layout = pair_layout(base)
    if layout is None:
        raise ConfigError(f"paired folder {str(base)!r} needs low/ and high/ (or flash/ and "
                          f"ambient/) subfolders")
    low_dir, high_dir = base / layout[0], base / layout[1]
    highs = {p.stem: p for p in list_images(high_dir)}
    pairs = [(p, highs[p.stem]) for p in list_images(low_dir) if p.stem in highs]
    if not pairs:
        raise ConfigError(f"no image in {str(low_dir)!r} has a same-named one in "
                          f"{str(high_dir)!r}")
    return pairs
