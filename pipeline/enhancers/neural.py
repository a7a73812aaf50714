"""Neural enhancers run by PyTorch: ``unet_gn``, ``zero_dce``, ``zero_dce_pp``,
``lowres_guided`` (the real-time quality model), and the flash-to-ambient models ``ratio_log``, ``guided_cgan``, ``pix2pix_vgg``.

Each loads a weights file: by default the one the project trained and ships in
``pipeline/weights/NAME.pt`` (see the model cards beside them), or any compatible file given as
``weights=PATH`` — the official Zero-DCE / Zero-DCE++ checkpoints load unchanged. The
flash-to-ambient models ship no weights (their data set is not here): ``weights=PATH`` is
required, from ``tools/train.py``.

The weights are read and checked when the enhancer is built (so a bad path fails before the
pipeline starts); the model moves to its device in ``start``, in the enhance thread. torch is
imported only then, so the CLI and the classical enhancers start without it.
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from ..errors import ConfigError, EnhancerError
from .base import Enhancer, check_threads, default_threads, register_enhancer

if TYPE_CHECKING:
    import torch

#: the registered models that have a PyTorch enhancer of the same name here, and so can be
#: exported to ONNX Runtime and TensorRT
NEURAL_MODELS = ("unet_gn", "zero_dce", "zero_dce_pp", "lowres_guided", "ratio_log",
                 "guided_cgan", "pix2pix_vgg")

#: the shipped weights: ``WEIGHTS_DIR / f"{name}.pt"``
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def default_weights(name: str) -> Path:
    """Path of the shipped weights of model ``name``."""
    return WEIGHTS_DIR / f"{name}.pt"


def _check_device(device: object) -> str:
    if not isinstance(device, str) or not (
        device == "cpu" or device == "cuda" or
        (device.startswith("cuda:") and device[5:].isdigit())
    ):
        raise ConfigError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return device


def width_from_state(state: dict[str, Any], key: str, channels: int,
                     what: str) -> dict[str, float]:
    """``{"width": w}`` from the first convolution ``key`` of a state dict whose channel count
    at width 1 is ``channels``; a file without it is a ``ConfigError``."""
    first = state.get(key)
    if first is None or first.ndim != 4:
        raise ConfigError(f"weights do not look like {what} state dict (no {key})")
    return {"width": first.shape[0] / channels}


class TorchEnhancer(Enhancer):
    """Base of the PyTorch enhancers: weights, device, uint8 <-> float conversion.

    Args:
        weights: a weights file (state dict, see ``pipeline.models.checkpoints``); ``None``
            uses the shipped one.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        threads: intra-op CPU threads for torch; ``None``: half the available cores
            (``default_threads``), leaving room for the decoder and the encoder.
        precision: ``fp32``, ``fp16`` or ``bf16`` (normalization stays in FP32).
        graphs: on CUDA, capture each batch shape's compute as a CUDA graph and replay it.

    On CUDA the frames go through :class:`~pipeline.enhancers.torch_runtime.TorchRunner`:
    uint8 uploads from pinned buffers, conversion on the device, and ``submit``/``collect``
    pipelining (``max_in_flight`` 2) like the TensorRT enhancer's.
    """

    #: the registered model this enhancer runs
    model_name = ""
    #: whether the project ships weights for it (``pipeline/weights/NAME.pt``)
    shipped = True

    #: whether this enhancer's CUDA path is the generic pipelined runner
    pipelined_on_cuda = True

    def __init__(self, weights: str | None = None, device: str = "cpu",
                 threads: int | None = None, precision: str = "fp32", graphs: bool = False,
                 **model_kwargs: Any) -> None:
        from ..models import create_model
        from ..models.checkpoints import load_state, load_weights

        self.device_name = _check_device(device)
        if precision not in ("fp32", "fp16", "bf16"):
            raise ConfigError(f"precision must be fp32, fp16 or bf16, got {precision!r}")
        if not isinstance(graphs, bool):
            raise ConfigError(f"graphs must be true or false, got {graphs!r}")
        self.precision = precision
        self.graphs = graphs
        self.runner: Any = None
        # two batches in flight on a GPU (upload and download overlap compute)
        self.max_in_flight = 2 if self.device_name != "cpu" and self.pipelined_on_cuda else 0
        threads = check_threads(threads)
        self.threads = threads
        path = Path(weights) if weights is not None else default_weights(self.model_name)
        if weights is None and not self.shipped:
            raise ConfigError(
                f"enhancer {self.model_name!r} has no shipped weights: train them with "
                f"tools/train.py configs/train_{self.model_name}.yaml and pass weights=PATH"
            )
        if weights is None and not path.is_file():
            raise ConfigError(
                f"enhancer {self.model_name!r}: the shipped weights {str(path)!r} are missing "
                f"(a broken install?); pass weights=PATH or train them with tools/train.py"
            )
        state = load_state(path)
        kwargs = {**self.model_kwargs_from_state(state), **model_kwargs}
        self.model = create_model(self.model_name, **kwargs)
        load_weights(self.model, state)
        self.model.eval()
        self.weights_path = path
        self.device: "torch.device | None" = None

    @staticmethod
    def model_kwargs_from_state(state: dict[str, Any]) -> dict[str, Any]:
        """Model keyword arguments implied by a state dict (e.g. a U-Net's width)."""
        return {}

    def start(self) -> None:
        import torch

        if self.device is not None:
            return
        device = torch.device(self.device_name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise EnhancerError(f"enhancer {self.name!r}: device {self.device_name!r} asked "
                                f"for, but torch sees no CUDA device")
        if device.type == "cpu":
            torch.set_num_threads(self.threads or default_threads())
        self.device = device
        if (device.type == "cuda" and self.pipelined_on_cuda) or self.precision != "fp32":
            from .torch_runtime import TorchRunner, make_ops

            # the runner places its own copy (cast, laid out) on the device
            self.runner = TorchRunner(self.model, make_ops(device), self.precision,
                                      graphs=self.graphs)
        else:
            self.model.to(device)

    def to_tensor(self, frames: np.ndarray) -> "torch.Tensor":
        """uint8 ``(N, H, W, 3)`` to float ``(N, 3, H, W)`` in [0, 1] on the device."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        return x.permute(0, 3, 1, 2).float().div_(255.0)

    @staticmethod
    def to_frames(y: "torch.Tensor") -> np.ndarray:
        """float ``(N, 3, H, W)`` in [0, 1] to uint8 ``(N, H, W, 3)`` (rounded, clipped)."""
        import torch

        out = y.mul(255.0).round_().clamp_(0, 255).to(dtype=torch.uint8)
        return np.ascontiguousarray(out.permute(0, 2, 3, 1).cpu().numpy())

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        import torch

        self.start()
        if self.runner is not None:
            return self.runner.infer(frames)
        with torch.inference_mode():
            return self.to_frames(self.model(self.to_tensor(frames)))

    def submit(self, frames: np.ndarray) -> None:
        self.start()
        if self.runner is None:
            raise EnhancerError(f"enhancer {self.name!r} runs synchronously on the CPU")
        self.runner.submit(frames)

    def collect(self) -> np.ndarray:
        if self.runner is None:
            raise EnhancerError(f"enhancer {self.name!r} has nothing submitted")
        return self.runner.collect()

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()
            self.runner = None
        if self.device is not None and self.device.type == "cuda":
            import torch

            self.model.to("cpu")
            torch.cuda.empty_cache()
        self.device = None


@register_enhancer("unet_gn")
class UNetGNEnhancer(TorchEnhancer):
    """The GroupNorm U-Net (quality model). The width is read from the weights file."""

    model_name = "unet_gn"

    def __init__(self, weights: str | None = None, device: str = "cpu",
                 threads: int | None = None, precision: str = "fp32",
                 graphs: bool = False) -> None:
        super().__init__(weights, device, threads, precision, graphs)

    @staticmethod
    def model_kwargs_from_state(state: dict[str, Any]) -> dict[str, Any]:
        from ..models.unet_gn import LEVEL_CHANNELS

        kwargs: dict[str, Any] = width_from_state(state, "enc1.0.0.weight", LEVEL_CHANNELS[0],
                                                  "a unet_gn")
        head = state.get("head.2.weight")
        hidden = state.get("head.1.0.weight")
        if head is not None and hidden is not None:
            # weights trained without the input skip (before it existed) still load
            kwargs["input_skip"] = head.shape[1] == hidden.shape[0] + 3
        return kwargs


@register_enhancer("zero_dce")
class ZeroDCEEnhancer(TorchEnhancer):
    """Zero-DCE (8 curve maps at full resolution)."""

    model_name = "zero_dce"

    def __init__(self, weights: str | None = None, device: str = "cpu",
                 threads: int | None = None, precision: str = "fp32",
                 graphs: bool = False) -> None:
        super().__init__(weights, device, threads, precision, graphs)


@register_enhancer("zero_dce_pp")
class ZeroDCEPPEnhancer(TorchEnhancer):
    """Zero-DCE++ (fast fallback): one curve map estimated at 1/``scale`` resolution.

    With ``lut`` (default) the map is estimated on a downscale gathered straight from the
    uint8 frames, upsampled, and the 8 curve steps are applied as one 2-D lookup table
    (``models.curves.CurveLUT``): within one level of the exact curve, a fraction of its cost.
    Without ``lut`` the model's exact float path runs.

    Args:
        scale: downscaling factor of the map estimation (>= 1; the official 12 by default).
        lut: apply the curves through the lookup table.
    """

    model_name = "zero_dce_pp"

    def __init__(self, weights: str | None = None, device: str = "cpu",
                 threads: int | None = None, scale: float = 12.0, lut: bool = True,
                 precision: str = "fp32", graphs: bool = False) -> None:
        from ..models.zero_dce_pp import check_scale

        if not isinstance(lut, bool):
            raise ConfigError(f"lut must be true or false, got {lut!r}")
        if isinstance(scale, numbers.Real):
            scale = check_scale(scale)
        super().__init__(weights, device, threads, precision, graphs, scale=scale)
        self.lut = lut
        self._curve: Any = None

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        import torch

        from ..models.curves import CurveLUT
        from ..models.zero_dce_pp import downscale_frames

        self.start()
        if not self.lut or self.device is None or self.runner is not None:
            return super().enhance(frames)
        if self._curve is None:
            self._curve = CurveLUT()
        with torch.inference_mode():
            small = downscale_frames(frames, self.model.scale)
            r = self.model.estimate_small(small)
            # The table row is affine in r, so convert at low resolution, then upsample.
            rows = self._curve.index(r).permute(0, 2, 3, 1).contiguous().numpy()
        return apply_rows(frames, rows, self._curve)


#: ``lowres_guided``'s default exposure: the network chooses (``auto``). A fixed target pins the
#: frame's mean brightness whatever the scene: on the held-out exposure brackets 0.36 scores
#: 14.9 dB against auto's 19.0 (``tools/eval.py --bracket-val``). Auto gives a mean of 115 on
#: the real night photos; ``tone`` 1.2 darkens that to about 103 without pinning it
DEFAULT_EXPOSURE = "auto"


#: lowres_guided's default temporal smoothing (the previous coefficients' weight per frame,
#: where the picture stands still): a time constant of 20 frames (0.7 s at 30 FPS). Pumping
#: while a headlight passes, in levels (``tools/bench_temporal.py``): 3.84 off, 2.49 at 0.9,
#: 1.72 at 0.95, 1.30 at 0.97 — the U-Net's is 1.70; a real light change moves the low-res
#: grey and is followed at once, so only still regions lag
TEMPORAL = 0.95


@register_enhancer("lowres_guided")
class LowResGuidedEnhancer(TorchEnhancer):
    """The real-time quality model (``models.lowres_guided``): a network at 1/``scale``
    resolution, a guided transform at full resolution.

    On a CPU the model gives the low-resolution coefficients and the host applies them
    (:func:`apply_guided`, OpenCV); elsewhere the whole model runs on the device. For a stream
    the coefficients are smoothed over time and reset on a cut (:class:`TemporalSmoother`).

    Args:
        exposure: target mean brightness in [0.05, 0.95], a preset (``night`` 0.25, ``dusk``
            0.35, ``daylight`` 0.45), or ``auto`` to let the network choose.
        temporal: weight of the previous frames' coefficients, in [0, 1); 0 turns smoothing
            off.
        cut_threshold: a mean luma change (fraction of full scale) on a 32x18 thumbnail above
            which the smoothing restarts (a scene cut).
        deblock: smooth the codec's 8x8 block steps where the picture is flat, before they
            are amplified (``models.lowres_guided.deblock_luma``).
        denoise: with ``deblock``, the share in [0, 1] of the variation inside flat 8x8
            blocks (noise, there) removed before it is amplified.
        bilateral: with ``deblock``, the range sigma of a 3x3 bilateral filter of the guide in
            multiples of the frame's estimated noise sigma, in [0, 20] (0: off;
            ``models.lowres_guided.bilateral_luma``).
        tone: exponent of the global tone curve ``out ** tone`` applied last (above 1:
            darker mid-tones, black and white kept; ``models.lowres_guided``).
    """

    model_name = "lowres_guided"
    #: its CUDA path is its own (coefficients, temporal smoothing, apply), not the runner's
    pipelined_on_cuda = False

    def __init__(self, weights: str | None = None, device: str = "cpu",
                 threads: int | None = None, exposure: float | str = DEFAULT_EXPOSURE,
                 temporal: float = TEMPORAL, cut_threshold: float = 0.12,
                 deblock: bool = True, denoise: float | None = None,
                 tone: float | None = None, bilateral: float | None = None) -> None:
        from ..models.lowres_guided import (BILATERAL, DENOISE, TONE, check_bilateral,
                                            check_denoise, check_exposure, check_tone)

        if not isinstance(deblock, bool):
            raise ConfigError(f"deblock must be true or false, got {deblock!r}")
        denoise = check_denoise(DENOISE if denoise is None else denoise)
        tone = check_tone(TONE if tone is None else tone)
        bilateral = check_bilateral(BILATERAL if bilateral is None else bilateral)
        super().__init__(weights, device, threads, exposure=check_exposure(exposure),
                         deblock=deblock, denoise=denoise, tone=tone, bilateral=bilateral)
        self.smoother = TemporalSmoother(temporal, cut_threshold)
        self.applier = GuidedApplier(deblock, denoise, tone, bilateral)

    @staticmethod
    def model_kwargs_from_state(state: dict[str, Any]) -> dict[str, Any]:
        """The levels' channels (``enc1``, ``enc2``, ... first convolutions) and whether the
        file has the global path, read from the file."""
        width_from_state(state, "enc1.0.0.weight", 1, "a lowres_guided")
        channels = []
        while (first := state.get(f"enc{len(channels) + 1}.0.0.weight")) is not None:
            channels.append(int(first.shape[0]))
        return {"channels": channels, "global_context": "global_fc.0.weight" in state}

    def enhance(self, frames: np.ndarray) -> np.ndarray:
        import torch

        self.start()
        assert self.device is not None
        with torch.inference_mode():
            views = greys = None
            if self.device.type == "cpu":
                greys = self.applier.grey_buffer(frames)
                views = low_views(frames, self.model.scale, greys)
                rows = self.model.forward_low(torch.from_numpy(views)).numpy()
            else:
                x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
                rows = self.model.forward_rows(x).cpu().numpy()
        rows = self.smoother(rows, frames, None if views is None else views[..., 3])
        if self.device.type == "cpu":
            assert views is not None
            return self.applier(frames, rows, self.model.scale, views[..., 3], greys)
        with torch.inference_mode():
            r = torch.from_numpy(rows).to(self.device).permute(0, 3, 1, 2)
            y = self.model.apply(r[:, :3], r[:, 3:] / 255.0, self.to_tensor(frames))
            return self.to_frames(y)

    def reset(self) -> None:
        self.smoother.reset()

    def stats(self) -> dict[str, Any]:
        return {"scene_cuts": self.smoother.cuts}


class TemporalSmoother:
    """Exponential smoothing of per-frame low-resolution coefficients along a stream, restarted
    on a scene cut or a size change, so the brightness does not pump when a headlight passes
    and does not lag across a cut.

    Only where the picture stands still: each coefficient is smoothed by ``strength`` where the
    frame's low-resolution grey (one value per ``scale`` block) changed by at most
    ``MOTION_FLOOR`` levels + ``MOTION_SHARE`` of its value since the previous frame, anywhere in
    its 3x3 neighbourhood (the guided filter's window), not at all where it changed by twice
    that, and in between linearly. Coefficients fitted to the previous content and applied to
    new content (a moving light, a passing car) render it wrongly — a moving bright object
    trails a wrong tone — so where the content moves the transform follows at once, and where it
    stands still (the sky while a headlight passes below) it holds.
    """

    #: change of a block's grey (levels) always counted as still, and the share of its value
    #: added to that
    MOTION_FLOOR = 2.0
    MOTION_SHARE = 0.05

    #: thumbnail size (width, height) the cut detector compares
    THUMB = (32, 18)

    def __init__(self, strength: float = TEMPORAL, cut_threshold: float = 0.12) -> None:
        for name, value in (("temporal", strength), ("cut_threshold", cut_threshold)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(f"{name} must be a number, got {value!r}")
        if not 0 <= strength < 1:
            raise ConfigError(f"temporal must be in [0, 1), got {strength!r}")
        if not 0 < cut_threshold <= 1:
            raise ConfigError(f"cut_threshold must be in (0, 1], got {cut_threshold!r}")
        self.strength = float(strength)
        self.cut_threshold = float(cut_threshold) * 255.0
        self.cuts = 0
        self._state: np.ndarray | None = None
        self._thumb: np.ndarray | None = None
        self._grey: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the stream (the next frame starts afresh)."""
        self._state = None
        self._thumb = None
        self._grey = None

    def __call__(self, rows: np.ndarray, frames: np.ndarray,
                 block_means: np.ndarray | None = None) -> np.ndarray:
        """``rows`` ``(N, h, w, C)`` smoothed in stream order; ``frames`` are their frames and
        ``block_means`` ``(N, h, w)`` in [0, 1] their grey low views, where the caller has
        them (computed from the frames otherwise)."""
        if self.strength == 0:
            return rows
        out = np.empty_like(rows)
        h, w = rows.shape[1:3]
        for i, (row, frame) in enumerate(zip(rows, frames)):
            if block_means is not None:
                grey = block_means[i] * np.float32(255.0)
            else:
                grey = cv2.resize(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
                                  .astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
            # the cut detector's thumbnail from the low view, not the frame again (1.2 ms of
            # full-resolution work per 1080p frame)
            thumb = cv2.resize(grey, self.THUMB, interpolation=cv2.INTER_AREA)
            cut = (self._state is None or self._state.shape != row.shape or
                   float(np.abs(thumb - self._thumb).mean()) > self.cut_threshold)
            if cut:
                if self._state is not None:
                    self.cuts += 1
                self._state = row.astype(np.float32, copy=True)
            else:
                assert self._grey is not None
                allowed = self.MOTION_FLOOR + self.MOTION_SHARE * np.maximum(grey, self._grey)
                change = cv2.dilate(np.abs(grey - self._grey) / allowed, np.ones((3, 3)))
                still = np.clip(2.0 - change, 0.0, 1.0)[..., None]
                weight = self.strength * still
                self._state += (1.0 - weight) * (row - self._state)
            self._thumb = thumb
            self._grey = grey
            out[i] = self._state
        return out


def low_views(frames: np.ndarray, scale: int,
              greys: np.ndarray | None = None) -> np.ndarray:
    """``lowres_guided``'s low views of uint8 ``(N, H, W, 3)`` frames: each frame edge-padded to
    a multiple of ``scale`` and box-averaged by it (``INTER_AREA`` by an integer factor), RGB
    and grey, ``(N, H / scale, W / scale, 4)`` float32 in [0, 1].

    ``greys`` ``(N, H, W)`` uint8, where given, receives the frames' grey images, which the
    views are made from and :class:`GuidedApplier` needs again (one conversion, not two)"""
    n, height, width, _ = frames.shape
    pad_h, pad_w = -height % scale, -width % scale
    h, w = (height + pad_h) // scale, (width + pad_w) // scale
    out = np.empty((n, h, w, 4), np.float32)
    for i in range(n):
        frame = np.ascontiguousarray(frames[i])
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY,
                            dst=None if greys is None else greys[i])
        if pad_h or pad_w:
            frame = cv2.copyMakeBorder(frame, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
            grey = cv2.copyMakeBorder(grey, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        # the colour and the grey planes each reduced on their own: merging them into one
        # four-channel image first cost more than all the averaging (2.7 ms at 1080p)
        out[i, ..., :3] = _block_means(frame, scale, h, w)
        out[i, ..., 3] = _block_means(grey, scale, h, w)
    out *= 1.0 / 255.0
    return out


def _block_means(image: np.ndarray, scale: int, h: int, w: int) -> np.ndarray:
    """The means of ``image``'s ``scale`` x ``scale`` blocks (its size a multiple of the
    scale), float32 ``(h, w[, channels])``."""
    if scale > 257:  # a column of 8-bit values would overflow uint16
        return cv2.resize(image.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    # each block's ``scale`` rows summed exactly in uint16 (contiguous: fast), then the columns
    # averaged in float at 1/scale of the frame's height: the same means as averaging the
    # whole frame in float (area averaging of uint8 rounds to uint8), without a full-size
    # float copy (6.3 -> 4.6 ms at 1080p)
    channels = image.shape[2] if image.ndim == 3 else 1
    sums = image.reshape(h, scale, w * scale * channels).sum(axis=1, dtype=np.uint16)
    shape = (h, w * scale, channels) if image.ndim == 3 else (h, w * scale)
    means = cv2.resize(sums.astype(np.float32).reshape(shape), (w, h),
                       interpolation=cv2.INTER_AREA)
    means *= 1.0 / scale
    return means


class GuidedApplier:
    """``A * Y + B`` for uint8 ``(N, H, W, 3)`` frames, ``rows`` being ``lowres_guided``'s
    low-resolution ``A`` and ``255 * B`` ``(N, h, w, 6)`` (``forward_rows``).

    OpenCV does the full-resolution work: a bilinear resize of each coefficient image (the
    same half-pixel mapping as the model's ``interpolate``), the grey guide (the same
    fixed-point weights as the model's ``luma_u8``), filtered and deblocked as the model's
    ``bilateral_luma`` and ``deblock_luma`` do when ``deblock`` is on, and a multiply-add whose
    uint8 result is rounded and saturated in one step.

    The frame is done in horizontal strips of ``strip`` rows (a multiple of the scale), each
    strip's planes kept in buffers reused between strips and frames: the work is a dozen
    passes over full-size float planes, and a 1080p frame's planes (over 100 MB) went to
    memory and back at every pass, while a strip's stay in the processor's cache (the apply
    at 1080p: 17 -> 10 ms). Each strip upsamples the coefficient rows around it (one more
    above and below, so the bilinear result is the whole frame's) and filters the grey rows
    around it (one more above and below, for the bilateral filter's window).
    """

    #: rows per strip (at scale 8: 16 coefficient rows)
    STRIP = 128

    def __init__(self, deblock: bool = True, denoise: float = 0.0, tone: float = 1.0,
                 bilateral: float = 0.0) -> None:
        self.deblock = bool(deblock)
        self.denoise = float(denoise)
        self.bilateral = float(bilateral)
        # the tone curve on the rounded result: a table lookup
        self._tone = None if tone == 1.0 else np.rint(
            255.0 * (np.arange(256) / 255.0) ** float(tone)).astype(np.uint8)
        self._size: tuple[int, ...] = ()
        self._buffers: dict[str, np.ndarray] = {}
        self._greys: np.ndarray | None = None

    def _ensure(self, rows: int, width: int, padded: int) -> dict[str, np.ndarray]:
        """The buffers of one strip: ``rows`` upsampled rows of the ``padded`` width (the
        frame's width padded to a multiple of the scale), ``width`` the frame's."""
        if self._size != (rows, width, padded):
            self._size = (rows, width, padded)
            self._buffers = {
                "guide": np.empty((rows, width, 3), np.float32 if self.deblock else np.uint8),
                "a": np.empty((rows, padded, 3), np.float32),
                "b": np.empty((rows, padded, 3), np.float32),
                "product": np.empty((rows, width, 3), np.float32),
            }
            if self.deblock:
                for name in ("near", "smooth", "weight"):
                    self._buffers[name] = np.empty((rows, padded), np.float32)
                for name in ("y", "raw", "filtered"):
                    self._buffers[name] = np.empty((rows, width), np.float32)
        return self._buffers

    def grey_buffer(self, frames: np.ndarray) -> np.ndarray:
        """A ``(N, H, W)`` uint8 buffer, kept between calls, for ``low_views`` to leave the
        frames' grey images in and ``__call__`` to take them from."""
        n, height, width = frames.shape[:3]
        buf = self._greys
        if buf is None or buf.shape[0] < n or buf.shape[1:] != (height, width):
            buf = self._greys = np.empty((n, height, width), np.uint8)
        return buf[:n]

    def __call__(self, frames: np.ndarray, rows: np.ndarray, scale: int,
                 block_means: np.ndarray | None = None,
                 greys: np.ndarray | None = None) -> np.ndarray:
        """``block_means`` ``(N, h, w)`` in [0, 1]: the frames' grey low views, and ``greys``
        ``(N, H, W)`` their grey images, where the caller has them (``low_views``); computed
        here otherwise."""
        from ..models.lowres_guided import BILATERAL_MIN_SIGMA

        n, height, width, _ = frames.shape
        h, w = rows.shape[1:3]
        strip = max(scale, self.STRIP // scale * scale)
        # a strip's coefficient rows, one more above and below: (strip / scale + 2) * scale
        buf = self._ensure(strip + 2 * scale, width, w * scale)
        out = np.empty_like(frames)
        for i in range(n):
            if greys is not None:
                grey = greys[i]
            else:
                grey = cv2.cvtColor(np.ascontiguousarray(frames[i]), cv2.COLOR_RGB2GRAY)
            a_low = np.ascontiguousarray(rows[i, ..., 0:3])
            b_low = np.ascontiguousarray(rows[i, ..., 3:6])
            flat = means = None
            sigma = 0.0
            if self.deblock:
                means = (block_means[i] if block_means is not None else
                         low_views(frames[i:i + 1], scale)[0, ..., 3]) * np.float32(255.0)
                flat = _flatness(means)
                if self.bilateral > 0.0:
                    sigma = max(self.bilateral * noise_sigma_u8(grey), BILATERAL_MIN_SIGMA)
            for top in range(0, height, strip):
                bottom = min(top + strip, height)
                # the coefficient rows [first, last) around the strip, and where it starts
                first = max(top // scale - 1, 0)
                last = min(-(-bottom // scale) + 1, h)
                offset = top - first * scale

                def up(small: np.ndarray, name: str,
                       interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
                    dst = buf[name][:(last - first) * scale]
                    cv2.resize(small[first:last], (dst.shape[1], dst.shape[0]), dst=dst,
                               interpolation=interpolation)
                    return dst[offset:offset + bottom - top, :width]

                guide = buf["guide"][:bottom - top]
                if self.deblock:
                    assert means is not None and flat is not None
                    y = self._guide_strip(buf, grey, top, bottom, sigma)
                    # INTER_AREA upscaling by an integer factor is exactly nearest-neighbour
                    near = up(means, "near", cv2.INTER_AREA)
                    smooth = up(means, "smooth")
                    weight = up(flat, "weight")
                    # y + flat * (smooth - near - denoise * (y - near)), as
                    # y + flat * (smooth - (1 - denoise) * near - denoise * y)
                    cv2.scaleAdd(near, -(1.0 - self.denoise), smooth, dst=smooth)
                    cv2.scaleAdd(y, -self.denoise, smooth, dst=smooth)
                    cv2.multiply(smooth, weight, dst=smooth)
                    cv2.add(y, smooth, dst=y)
                    cv2.merge([y] * 3, dst=guide)
                else:
                    cv2.merge([grey[top:bottom]] * 3, dst=guide)
                product = buf["product"][:bottom - top]
                cv2.multiply(up(a_low, "a"), guide, dst=product, dtype=cv2.CV_32F)
                target = out[i, top:bottom]
                cv2.add(product, up(b_low, "b"), dst=target, dtype=cv2.CV_8U)
                if self._tone is not None:
                    cv2.LUT(target, self._tone, dst=target)
        return out

    @staticmethod
    def _guide_strip(buf: dict[str, np.ndarray], grey: np.ndarray, top: int, bottom: int,
                     sigma: float) -> np.ndarray:
        """The grey rows ``[top, bottom)`` as float (a view of ``buf``), through the bilateral
        filter (range ``sigma`` levels) where ``sigma`` > 0: filtered with a row more above
        and below where the frame has them, so the strip's rows are the whole frame's."""
        if sigma <= 0.0:
            y = buf["y"][:bottom - top]
            np.copyto(y, grey[top:bottom])
            return y
        first, last = max(top - 1, 0), min(bottom + 1, grey.shape[0])
        raw, filtered = buf["raw"][:last - first], buf["filtered"][:last - first]
        np.copyto(raw, grey[first:last])
        cv2.bilateralFilter(raw, 3, sigma, 1.0, dst=filtered, borderType=cv2.BORDER_REPLICATE)
        return filtered[top - first:top - first + bottom - top]


def _flatness(means: np.ndarray) -> np.ndarray:
    """Per block, how flat its neighbourhood is (``models.lowres_guided.deblock_luma``'s
    weight, in levels): 1 where the block's mean equals its four neighbours', 0 from a step of
    ``DEBLOCK_FLOOR + DEBLOCK_SLOPE * mean`` up; float32 ``(h, w)`` for the means ``(h, w)``."""
    from ..models.lowres_guided import DEBLOCK_FLOOR, DEBLOCK_SLOPE

    padded = np.pad(means, 1, mode="edge")
    step = np.max(np.abs(np.stack([padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1],
                                   padded[2:, 1:-1]]) - means), axis=0)
    return np.clip(1.0 - step / (DEBLOCK_FLOOR * 255.0 + DEBLOCK_SLOPE * means),
                   0.0, 1.0).astype(np.float32)


def noise_sigma_u8(grey: np.ndarray) -> float:
    """Immerkaer's noise sigma of a uint8 grey image in levels, on every ``NOISE_ROW_STEP``-th
    row, the edges replicated, as ``models.lowres_guided.noise_sigma_levels``. The kernel is
    separable: the vertical second difference of the sampled rows, then the horizontal one;
    the responses are small integers (at most 16 * 255, int16) and their sum exact."""
    from ..models.lowres_guided import NOISE_ROW_STEP

    h, w = grey.shape
    rows = np.arange(0, h, NOISE_ROW_STEP)
    # the sampled rows and their neighbours (copies of a 1/8 of the frame: cheap), with the
    # first and last rows standing in for the ones beyond the frame's edge
    middle = grey[rows]
    above, below = grey[np.maximum(rows - 1, 0)], grey[np.minimum(rows + 1, h - 1)]
    # adds and subtractions, not filter2D, which is slow on int16 (0.5 against 1.2 ms)
    v = cv2.subtract(cv2.add(above, below, dtype=cv2.CV_16S),
                     cv2.add(middle, middle, dtype=cv2.CV_16S))
    v = cv2.copyMakeBorder(v, 0, 0, 1, 1, cv2.BORDER_REPLICATE)
    response = cv2.subtract(cv2.add(v[:, :-2], v[:, 2:]), cv2.add(v[:, 1:-1], v[:, 1:-1]))
    return float(cv2.norm(response, cv2.NORM_L1) * math.sqrt(math.pi / 2.0)
                 / (6.0 * len(rows) * w))


def apply_guided(frames: np.ndarray, rows: np.ndarray, scale: int,
                 deblock: bool = True) -> np.ndarray:
    """:class:`GuidedApplier` once (tests, tools); enhancers keep an applier and its buffers."""
    return GuidedApplier(deblock)(frames, rows, scale)


class FlashEnhancer(TorchEnhancer):
    """Base of the flash-to-ambient enhancers; the width is read from the weights file."""

    shipped = False

    def __init__(self, weights: str | None = None, device: str = "cpu",
                 threads: int | None = None, precision: str = "fp32",
                 graphs: bool = False) -> None:
        super().__init__(weights, device, threads, precision, graphs)

    @staticmethod
    def model_kwargs_from_state(state: dict[str, Any]) -> dict[str, Any]:
        return width_from_state(state, "encoder.conv1_1.weight", 64,
                                "a flash-to-ambient model's")


@register_enhancer("ratio_log")
class RatioLogEnhancer(FlashEnhancer):
    """Flash to ambient through a predicted log-ratio map (``models.ratio_log``)."""

    model_name = "ratio_log"


@register_enhancer("guided_cgan")
class GuidedCGANEnhancer(FlashEnhancer):
    """Flash to ambient, the guided conditional GAN's generator (``models.guided_cgan``)."""

    model_name = "guided_cgan"


@register_enhancer("pix2pix_vgg")
class Pix2PixVGGEnhancer(FlashEnhancer):
    """Flash to ambient, pix2pix with a VGG-16 encoder (``models.pix2pix_vgg``)."""

    model_name = "pix2pix_vgg"


def apply_rows(frames: np.ndarray, rows: np.ndarray, curve: Any) -> np.ndarray:
    """Curve uint8 ``(N, H, W, 3)`` frames with a Zero-DCE++ map given as low-resolution
    lookup-table rows ``(N, h, w, 3)`` (``CurveLUT.index`` of the map): each map is upsampled
    like the official code (bilinear, corners aligned) and every pixel read from the table."""
    n, h, w, _ = frames.shape
    index = np.stack([upsample_align_corners(np.ascontiguousarray(m, dtype=np.float32), h, w)
                      for m in rows])
    return curve.apply_index(np.ascontiguousarray(frames), index)


def upsample_align_corners(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a float32 ``(h, w, C)`` map to ``(height, width, C)`` with
    ``align_corners=True`` (corner pixels map to corner pixels), as the official
    ``nn.UpsamplingBilinear2d``.

    ``cv2.warpAffine`` with the inverse map ``src = dst * (in - 1) / (out - 1)``: the same result
    as ``F.interpolate(..., align_corners=True)`` to float rounding, about 4x faster at 720p
    because it writes the channels-last layout the lookup needs directly.
    """
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    sx = (w - 1) / (width - 1) if width > 1 else 0.0
    sy = (h - 1) / (height - 1) if height > 1 else 0.0
    matrix = np.float32([[sx, 0, 0], [0, sy, 0]])
    out = cv2.warpAffine(image, matrix, (width, height),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(height, width, image.shape[2])
