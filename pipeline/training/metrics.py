"""Image quality metrics on uint8 RGB images (NumPy), as low-light papers report them.

* :func:`psnr` and :func:`ssim` (Wang et al. 2004: Gaussian window 11, sigma 1.5, K1 0.01,
  K2 0.03, per channel then averaged, border of half a window excluded) — equal to
  ``skimage.metrics`` with ``gaussian_weights=True, use_sample_covariance=False``;
* :func:`gt_mean_correct`: the "GT-mean" protocol (KinD, LLFlow): the output is scaled so its
  mean grey level equals the ground truth's before scoring, which takes the (ambiguous) global
  brightness out of the comparison;
* no-reference statistics for unpaired footage: mean brightness, a noise estimate
  (Immerkaer 1996), colour cast (mean chroma in CIELAB), clipped fractions;
* codec artefacts: :func:`block_ratio` (luma steps across 8-pixel block edges against steps
  inside blocks: 1 for a blockless image, higher when an enhancer makes H.264's blocks show)
  and :func:`dark_luma` (how bright the input's near-black regions come out).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..errors import ConfigError

_K1, _K2 = 0.01, 0.03
_SIGMA = 1.5
_RADIUS = 5  # int(3.5 * 1.5 + 0.5): scipy's truncation at 3.5 sigma, an 11-tap window


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ConfigError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ConfigError(f"images must be uint8, got {a.dtype} and {b.dtype}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, in dB (``inf`` when equal)."""
    _check_pair(a, b)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _gauss(x: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(x, (2 * _RADIUS + 1, 2 * _RADIUS + 1), _SIGMA,
                            borderType=cv2.BORDER_REFLECT)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two uint8 images (grey or RGB; RGB is the channel mean)."""
    _check_pair(a, b)
    if min(a.shape[:2]) < 2 * _RADIUS + 1:
        raise ConfigError(f"images of {a.shape[:2]} are smaller than the 11-pixel SSIM window")
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = (_K1 * 255) ** 2, (_K2 * 255) ** 2
    scores = []
    for c in range(x.shape[2]):
        xc, yc = x[..., c], y[..., c]
        mx, my = _gauss(xc), _gauss(yc)
        sxx = _gauss(xc * xc) - mx * mx
        syy = _gauss(yc * yc) - my * my
        sxy = _gauss(xc * yc) - mx * my
        s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        scores.append(s[_RADIUS:-_RADIUS, _RADIUS:-_RADIUS].mean())
    return float(np.mean(scores))


def grey(image: np.ndarray) -> np.ndarray:
    """BT.601 grey level of an RGB uint8 image, float64."""
    return image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def gt_mean_correct(output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``output`` scaled so that its mean grey level equals ``target``'s (uint8, clipped)."""
    _check_pair(output, target)
    mean_out = grey(output).mean()
    if mean_out <= 0:
        return output.copy()
    scaled = output.astype(np.float64) * (grey(target).mean() / mean_out)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def noise_sigma(image: np.ndarray) -> float:
    """Immerkaer's fast estimate of Gaussian noise sigma (in grey levels) of an image."""
    g = grey(image) if image.ndim == 3 else image.astype(np.float64)
    h, w = g.shape
    if h < 3 or w < 3:
        raise ConfigError("noise estimate needs an image of at least 3x3")
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)
    response = cv2.filter2D(g, -1, kernel, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    return float(math.sqrt(math.pi / 2) * np.abs(response).sum() / (6 * (w - 2) * (h - 2)))


def no_reference_stats(image: np.ndarray) -> dict[str, float]:
    """Statistics of one RGB uint8 image that need no ground truth.

    ``brightness`` (mean grey, 0-255), ``noise`` (:func:`noise_sigma`), ``colour_cast``
    (distance of the mean a*, b* from neutral in CIELAB), ``dark_clip`` / ``bright_clip``
    (fractions of pixels at grey <= 2 / >= 253).
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ConfigError("no-reference statistics need an RGB uint8 image")
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    g = grey(image)
    return {
        "brightness": float(g.mean()),
        "noise": noise_sigma(image),
        "colour_cast": float(math.hypot(lab[..., 1].mean(), lab[..., 2].mean())),
        "dark_clip": float((g <= 2).mean()),
        "bright_clip": float((g >= 253).mean()),
    }


def zero_reference_terms(low: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Zero-DCE's image losses of an enhanced image, for any enhancer and no ground truth.

    ``L_spa``: spatial consistency of ``out`` with ``low`` (4x4 regions, four neighbours, zero
    padding); ``L_exp``: mean squared distance of 16x16 regions' grey level from 0.6;
    ``L_col``: colour constancy of the channel means. The same definitions as
    ``pipeline.training.losses`` (the training objective of the Zero-DCE family), on [0, 1] values;
    regions that do not fit whole at the right and bottom edges are left out, as average
    pooling does.
    """
    _check_pair(low, out)
    x = low.astype(np.float64).mean(axis=2) / 255.0
    y = out.astype(np.float64).mean(axis=2) / 255.0

    def pool(a: np.ndarray, k: int) -> np.ndarray:
        h, w = (a.shape[0] // k) * k, (a.shape[1] // k) * k
        if h == 0 or w == 0:
            raise ConfigError(f"zero-reference terms need an image of at least {k}x{k}")
        return a[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))

    def diffs(p: np.ndarray) -> list[np.ndarray]:
        q = np.pad(p, 1)
        c = q[1:-1, 1:-1]
        return [c - q[1:-1, :-2], c - q[1:-1, 2:], c - q[:-2, 1:-1], c - q[2:, 1:-1]]

    spa = sum((a - b) ** 2 for a, b in zip(diffs(pool(x, 4)), diffs(pool(y, 4)))).mean()
    exp = ((pool(y, 16) - 0.6) ** 2).mean()
    m = out.reshape(-1, 3).astype(np.float64).mean(axis=0) / 255.0
    col = math.sqrt((m[0] - m[1]) ** 4 + (m[0] - m[2]) ** 4 + (m[1] - m[2]) ** 4)
    return {"L_spa": float(spa), "L_exp": float(exp), "L_col": col}


def block_ratio(image: np.ndarray, block: int = 8) -> float:
    """Mean absolute luma step across ``block``-pixel block edges divided by the mean step
    between neighbours inside blocks, horizontal and vertical together.

    An image without block structure scores about 1; an H.264 frame at a low bit rate scores
    more, and an enhancer that amplifies its blocks raises the ratio further.
    """
    y = grey(image).astype(np.float64)
    steps_x = np.abs(np.diff(y, axis=1))  # step between column j and j + 1
    steps_y = np.abs(np.diff(y, axis=0))
    edge_x = (np.arange(steps_x.shape[1]) % block) == block - 1
    edge_y = (np.arange(steps_y.shape[0]) % block) == block - 1
    across = np.concatenate([steps_x[:, edge_x].ravel(), steps_y[edge_y, :].ravel()])
    inside = np.concatenate([steps_x[:, ~edge_x].ravel(), steps_y[~edge_y, :].ravel()])
    if across.size == 0 or inside.size == 0:
        raise ConfigError(f"image {image.shape} is too small for {block}-pixel blocks")
    return float(across.mean() / max(inside.mean(), 1e-6))


def dark_luma(low: np.ndarray, out: np.ndarray, level: int = 8) -> float:
    """Mean output luma (0-255) where the input's luma is at most ``level`` (near black: a
    night sky); nan when the input has no such pixel."""
    _check_pair(low, out)
    mask = grey(low) <= level
    return float(grey(out)[mask].mean()) if mask.any() else float("nan")
