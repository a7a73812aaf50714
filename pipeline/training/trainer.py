"""``tools/train.py``: train an enhancement model from a YAML recipe.

A recipe (``configs/train_*.yaml``) has five blocks, validated like run configs:

* ``model``: ``type`` (a registered model) plus its keyword arguments;
* ``data``: ``mode`` — ``zero_reference`` (unpaired images, the Zero-DCE family),
  ``synthetic`` (dark/clean pairs synthesized on the fly from well-exposed images) or
  ``paired`` (``low/`` + ``high/`` folders) — with folders, crop size and the validation set;
* ``loss``: ``zero_reference`` (the four Zero-DCE losses) or ``restoration``
  (L1/Charbonnier + (MS-)SSIM), with their weights;
* ``optim``: Adam(W) settings, batch size, steps, gradient clipping;
* ``train``: device, threads, seed, output folder, validation/checkpoint cadence.

The run folder gets ``last.pt`` (model, optimizer, step: ``--resume`` continues from it),
``best.pt`` (best validation score), ``weights.pt`` (the best model's state dict alone, what the
pipeline loads) and ``log.jsonl`` (one line per log interval and per validation).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Union

import numpy as np
import torch
from tqdm import tqdm

from ..config import _build, _apply_override, _Where, read_yaml
from ..enhancers.base import check_threads
from ..errors import ConfigError, NocturneError, describe
from .losses import AdversarialLoss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    """Training and validation data."""

    mode: Literal["zero_reference", "synthetic", "paired"] = "zero_reference"
    #: training images: a folder (recursive), or for ``paired`` a folder with low/ and high/
    train: str = ""
    #: validation: a paired folder (low/ + high/); for ``synthetic`` None uses a fixed
    #: synthesized set drawn from ``train`` with ``val_seed``
    val: Union[str, None] = None
    crop: int = 256
    val_crop: int = 256
    val_count: int = 32
    val_seed: int = 12345
    #: ``synthetic``: night reference image the dark frames are histogram-matched to
    night_reference: Union[str, None] = None
    #: ``synthetic``: keyword arguments of the synthesis config
    synth: Mapping[str, Any] = field(default_factory=dict)
    #: ``synthetic``: only images with a mean grey level in [well_min, well_max] are targets
    well_min: float = 0.35
    well_max: float = 0.65
    #: ``synthetic``: share of training samples that are real exposure-bracket pairs found in
    #: ``train`` (``pipeline.training.data.brackets``); 0 trains on synthesized pairs only
    brackets: float = 0.0
    #: ``synthetic``: a bracket frame is a dark input if its mean grey is at most this
    bracket_low_max: float = 0.2
    #: ``synthetic``: whole exposure-bracket scenes held out of all training (with
    #: ``val_seed``) as a real paired test set: ``tools/eval.py --bracket-val RECIPE``
    holdout_scenes: int = 0
    #: ``synthetic``: a random gain in [min, max] in linear light on each training target
    #: (the input unchanged), for models conditioned on the target's brightness; 1, 1: none
    target_gain_min: float = 1.0
    target_gain_max: float = 1.0
    #: with a target gain: the share of samples that keep their target and train ``auto``
    target_auto_share: float = 0.25
    #: resize images so their short side is this before cropping; None keeps full size
    resize: Union[int, None] = None
    workers: int = 1


@dataclass(frozen=True)
class OptimConfig:
    """Optimizer and schedule."""

    lr: float = 1e-4
    weight_decay: float = 1e-4
    #: AdamW's beta1 and beta2 (pix2pix-style GANs use 0.5)
    beta1: float = 0.9
    beta2: float = 0.999
    batch_size: int = 8
    steps: int = 1000
    warmup_steps: int = 0
    #: cosine decay to ``lr * min_lr_ratio`` over ``steps``; 1 keeps the rate constant
    min_lr_ratio: float = 1.0
    grad_clip: Union[float, None] = 0.1


@dataclass(frozen=True)
class TrainConfig:
    """Where and how the loop runs."""

    device: str = "cpu"
    threads: Union[int, None] = None
    seed: int = 0
    out: str = "runs/train"
    log_every: int = 20
    val_every: int = 200
    ckpt_every: int = 200


@dataclass(frozen=True)
class Recipe:
    """A whole training recipe."""

    model: Mapping[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    loss: Mapping[str, Any] = field(default_factory=dict)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


#: the largest ``data.crop`` / ``data.val_crop``, in pixels
MAX_CROP = 4096


def load_recipe(path: str | Path | None, overrides: list[str] | tuple[str, ...] = (),
                raw: Mapping[str, Any] | None = None) -> Recipe:
    """Load and validate a training recipe (same rules as run configs)."""
    import copy

    data = copy.deepcopy(dict(raw)) if raw is not None else (
        read_yaml(path) if path is not None else {})
    overridden = {_apply_override(data, item) for item in overrides}
    where = _Where(str(path) if path is not None else "recipe", overridden)
    recipe: Recipe = _build(Recipe, data, "", where)
    from ..models import MODELS

    mtype = recipe.model.get("type")
    if mtype not in MODELS:
        raise ConfigError(f"{where('model.type')}: unknown model {mtype!r}; "
                          f"valid: {', '.join(MODELS.names())}")
    valid = MODELS.parameters(mtype)
    for key in recipe.model:
        if key != "type" and key not in valid:
            raise ConfigError(f"{where('model.' + key)}: unknown parameter for model "
                              f"{mtype!r}; valid: {', '.join(sorted(valid)) or '(none)'}")
    ltype = recipe.loss.get("type")
    if ltype not in LOSSES:
        raise ConfigError(f"{where('loss.type')}: unknown loss {ltype!r}; "
                          f"valid: {', '.join(LOSSES)}")
    if not recipe.data.train:
        raise ConfigError(f"{where('data.train')}: a training folder is required")
    for key in ("crop", "val_crop", "val_count", "workers"):
        if getattr(recipe.data, key) < (0 if key == "workers" else 1):
            raise ConfigError(f"{where('data.' + key)}: must be positive")
    for key in ("crop", "val_crop"):
        # a crop larger than an image scales the image up to it: 100000 asked for 30 GB
        if getattr(recipe.data, key) > MAX_CROP:
            raise ConfigError(f"{where('data.' + key)}: must be at most {MAX_CROP}, got "
                              f"{getattr(recipe.data, key)}")
    if not 0 <= recipe.data.brackets < 1:
        raise ConfigError(f"{where('data.brackets')}: a share in [0, 1)")
    if recipe.data.holdout_scenes < 0:
        raise ConfigError(f"{where('data.holdout_scenes')}: must be >= 0")
    for key in ("batch_size", "steps"):
        if getattr(recipe.optim, key) < 1:
            raise ConfigError(f"{where('optim.' + key)}: must be >= 1")
    o = recipe.optim
    # each a message of its own: torch's optimizers raise bare ValueErrors for these, and a
    # zero interval divides by zero in the loop
    for key, ok, rule in (
            ("lr", o.lr > 0, "must be > 0"),
            ("weight_decay", o.weight_decay >= 0, "must be >= 0"),
            ("beta1", 0 <= o.beta1 < 1, "must be in [0, 1)"),
            ("beta2", 0 <= o.beta2 < 1, "must be in [0, 1)"),
            ("warmup_steps", o.warmup_steps >= 0, "must be >= 0"),
            ("min_lr_ratio", 0 <= o.min_lr_ratio <= 1, "must be in [0, 1]"),
            ("grad_clip", o.grad_clip is None or o.grad_clip > 0, "must be > 0 or null")):
        if not ok:
            raise ConfigError(f"{where('optim.' + key)}: {rule}, got {getattr(o, key)}")
    for key in ("log_every", "val_every", "ckpt_every"):
        if getattr(recipe.train, key) < 1:
            raise ConfigError(f"{where('train.' + key)}: must be >= 1, got "
                              f"{getattr(recipe.train, key)}")
    try:
        check_threads(recipe.train.threads)
    except ConfigError as exc:
        raise ConfigError(f"{where('train.threads')}: {exc}") from None
    return recipe


#: loss type -> class name in ``pipeline.training.losses``
LOSSES = {
    "zero_reference": "ZeroReferenceLoss",
    "restoration": "RestorationLoss",
    "ratio_log": "RatioLogLoss",
    "adversarial": "AdversarialLoss",
}


def _build_loss(spec: Mapping[str, Any]) -> torch.nn.Module:
    from . import losses

    kwargs = {k: v for k, v in spec.items() if k != "type"}
    cls = getattr(losses, LOSSES[spec["type"]])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # ConfigError included
        raise ConfigError(f"loss: {exc}") from None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _infinite(loader: torch.utils.data.DataLoader, epoch: int = 0) -> Iterator[Any]:
    while True:
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(epoch)
        yield from loader
        epoch += 1


def _lr_at(step: int, cfg: OptimConfig) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class Trainer:
    """Runs one recipe: data, model, loss, optimizer, validation, checkpoints, log."""

    def __init__(self, recipe: Recipe, out: str | Path | None = None) -> None:
        from .data import build_training_data
        from ..models import create_model

        self.recipe = recipe
        tcfg = recipe.train
        if tcfg.threads:
            torch.set_num_threads(tcfg.threads)
        self.device = torch.device(tcfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError("train.device: cuda asked for, but torch sees no CUDA device")
        seed_everything(tcfg.seed)
        model_kwargs = {k: v for k, v in recipe.model.items() if k != "type"}
        self.model = create_model(recipe.model["type"], **model_kwargs).to(self.device)
        self.loss = _build_loss(recipe.loss).to(self.device)
        self.loss_type = recipe.loss["type"]
        self.zero_reference = self.loss_type == "zero_reference"
        if self.loss_type == "ratio_log" and not hasattr(self.model, "forward_raw"):
            raise ConfigError(f"loss.type ratio_log needs a ratio model (ratio_log), not "
                              f"{recipe.model['type']!r}")
        self.train_set, self.val_batches = build_training_data(recipe.data, seed=tcfg.seed)
        if recipe.optim.batch_size > len(self.train_set):
            # the loader drops the last partial batch: it would yield nothing, for ever
            raise ConfigError(f"optim.batch_size {recipe.optim.batch_size} is larger than the "
                              f"training set ({len(self.train_set)} samples in "
                              f"{recipe.data.train})")
        # Only now: a recipe whose data cannot be read leaves no empty run folder behind.
        self.out = Path(out or tcfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        ocfg = recipe.optim
        self.loader = torch.utils.data.DataLoader(
            self.train_set, batch_size=ocfg.batch_size, shuffle=True, drop_last=True,
            num_workers=recipe.data.workers,
            generator=torch.Generator().manual_seed(tcfg.seed),
            # Not persistent: workers must be re-forked each epoch to see set_epoch's new seed.
            persistent_workers=False,
        )
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=ocfg.lr,
                                     weight_decay=ocfg.weight_decay,
                                     betas=(ocfg.beta1, ocfg.beta2))
        self.step = 0
        self.best: float | None = None

    # -- checkpoints ------------------------------------------------------------------
    def save(self, name: str) -> Path:
        path = self.out / name
        tmp = path.with_suffix(".tmp")
        state = {"model": self.model.state_dict(), "optim": self.opt.state_dict(),
                 "step": self.step, "best": self.best,
                 "recipe": dataclasses.asdict(self.recipe)}
        if isinstance(self.loss, AdversarialLoss):
            # the discriminator and its optimizer resume with the generator
            state["loss"] = self.loss.state_dict()
            state["loss_optim"] = self.loss.optimizer.state_dict()
        torch.save(state, tmp)
        tmp.replace(path)  # never a half-written checkpoint under the real name
        return path

    def resume(self, path: str | Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])
        if isinstance(self.loss, AdversarialLoss) and "loss" in state:
            self.loss.load_state_dict(state["loss"])
            self.loss.optimizer.load_state_dict(state["loss_optim"])
        self.step = int(state["step"])
        self.best = state.get("best")
        log.info("resumed from %s at step %d", path, self.step)

    # -- one step -----------------------------------------------------------------------
    def compute_loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        if self.zero_reference:
            x = batch.to(self.device) if torch.is_tensor(batch) else batch[0].to(self.device)
            y, maps = self.model.forward_with_maps(x)
            total, parts = self.loss(x, y, maps)
        elif self.loss_type == "ratio_log":
            from ..models.ratio_log import ratio_target

            flash, ambient = (t.to(self.device) for t in batch)
            total, parts = self.loss(self.model.forward_raw(flash), ratio_target(flash, ambient))
        elif self.loss_type == "adversarial":
            flash, ambient = (t.to(self.device) for t in batch)
            total, parts = self.loss.generator_loss(flash, self.model(flash), ambient,
                                                    update_discriminator=self.model.training)
        else:
            # a third tensor, where the data gives one, says which targets keep their own
            # brightness (``TargetGainDataset``'s ``auto``)
            dark, clean, *auto = (t.to(self.device) for t in batch)
            # a model with a conditioning input (lowres_guided's exposure) learns it from the
            # target; validation calls the plain forward, as inference does
            supervised = getattr(self.model, "forward_supervised", None)
            y = supervised(dark, clean, *auto) if supervised is not None and \
                self.model.training else self.model(dark)
            total, parts = self.loss(y, clean)
        return total, {k: float(v) for k, v in parts.items()}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation metrics; ``score`` is what ``best.pt`` maximizes."""
        from .metrics import psnr, ssim

        self.model.eval()
        out: dict[str, list[float]] = {}
        for batch in self.val_batches:
            if self.zero_reference:
                x = batch.to(self.device) if torch.is_tensor(batch) else batch[0].to(self.device)
                y, maps = self.model.forward_with_maps(x)
                total, _ = self.loss(x, y, maps)
                out.setdefault("val_loss", []).append(float(total))
                out.setdefault("mean", []).append(float(y.mean()))
            else:
                dark, clean = (t.to(self.device) for t in batch)
                y = self.model(dark).clamp(0, 1)
                for a, b in zip(y, clean):
                    ya = (a.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
                    yb = (b.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
                    out.setdefault("psnr", []).append(psnr(ya, yb))
                    out.setdefault("ssim", []).append(ssim(ya, yb))
        self.model.train()
        metrics = {k: float(np.mean(v)) for k, v in out.items()}
        metrics["score"] = -metrics["val_loss"] if self.zero_reference else metrics["psnr"]
        return metrics

    def _log(self, record: dict[str, Any]) -> None:
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def fit(self, steps: int | None = None, progress: bool = True) -> dict[str, float]:
        """Train to ``steps`` (default: the recipe's); returns the last validation metrics."""
        ocfg, tcfg = self.recipe.optim, self.recipe.train
        total = steps or ocfg.steps
        batches = _infinite(self.loader, self.step // max(1, len(self.loader)))
        bar = tqdm(total=total, initial=self.step, unit="step", disable=not progress,
                   file=sys.stderr, dynamic_ncols=True)
        metrics: dict[str, float] = {}
        running: dict[str, float] = {}
        t0 = time.monotonic()
        self.model.train()
        while self.step < total:
            for group in self.opt.param_groups:
                group["lr"] = _lr_at(self.step, ocfg)
            loss, parts = self.compute_loss(next(batches))
            if not torch.isfinite(loss):
                raise NocturneError(f"loss became {float(loss)} at step {self.step}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if ocfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), ocfg.grad_clip)
            self.opt.step()
            self.step += 1
            parts["loss"] = float(loss.detach())
            for k, v in parts.items():
                running[k] = running.get(k, 0.0) + v
            bar.update(1)
            if self.step % tcfg.log_every == 0:
                avg = {k: v / tcfg.log_every for k, v in running.items()}
                running = {}
                bar.set_postfix(loss=f"{avg['loss']:.4f}")
                self._log({"step": self.step, "lr": self.opt.param_groups[0]["lr"],
                           "elapsed_s": round(time.monotonic() - t0, 2), **avg})
            if self.step % tcfg.val_every == 0 or self.step == total:
                metrics = self.validate()
                self._log({"step": self.step, "val": metrics})
                if self.best is None or metrics["score"] > self.best:
                    self.best = metrics["score"]
                    self.save("best.pt")
                    torch.save(self.model.state_dict(), self.out / "weights.pt")
                bar.write(f"step {self.step}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in metrics.items()), file=sys.stderr)
            if self.step % tcfg.ckpt_every == 0 or self.step == total:
                self.save("last.pt")
        bar.close()
        return metrics


def main(argv: list[str] | None = None) -> int:
    """``tools/train.py RECIPE [--set k=v] [--resume] [--out DIR] [--steps N]``."""
    parser = argparse.ArgumentParser(prog="train.py", description=__doc__.split("\n")[0])
    parser.add_argument("recipe", help="a training recipe, e.g. configs/train_zero_dce_pp.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a recipe key (repeatable)")
    parser.add_argument("--out", help="run folder (default: train.out of the recipe)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--steps", type=int, help="train to this step (default: optim.steps)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s: %(message)s")
    trainer: Trainer | None = None
    try:
        recipe = load_recipe(args.recipe, args.overrides)
        trainer = Trainer(recipe, out=args.out)
        if args.resume:
            last = trainer.out / "last.pt"
            if not last.exists():
                raise ConfigError(f"--resume: no checkpoint at {last}")
            trainer.resume(last)
        metrics = trainer.fit(args.steps, progress=not args.no_progress)
    except ConfigError as exc:
        print(f"train.py: error: {describe(exc)}", file=sys.stderr)
        return 2
    except (NocturneError, OSError) as exc:
        print(f"train.py: error: {describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if trainer is not None and trainer.step > 0:
            path = trainer.save("last.pt")
            print(f"train.py: interrupted at step {trainer.step}; saved {path}; continue with "
                  f"--resume", file=sys.stderr)
        else:
            print("train.py: interrupted", file=sys.stderr)
        return 130
    print(json.dumps({"step": trainer.step, "best": trainer.best, **metrics}))
    return 0
