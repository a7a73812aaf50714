"""``tools/eval.py``: score enhancers on images, print a table, write JSON and a montage.

Three kinds of data:

* a paired folder (``low/`` + ``high/``, or ``flash/`` + ``ambient/``; same names): PSNR and SSIM against ``high``, and the
  GT-mean-corrected PSNR/SSIM (output rescaled to the ground truth's mean grey first);
* any other image folder: no-reference statistics (brightness, noise, colour cast, clipping)
  and Zero-DCE's image losses of the output (spatial consistency with the input, exposure,
  colour constancy: lower is better);
* ``--synthetic-val RECIPE``: the fixed synthetic validation pairs of a training recipe (the set
  the trainer validates on), scored like a paired folder;
* ``--bracket-val RECIPE``: real pairs from the exposure-bracket scenes a recipe holds out of
  training (``data.holdout_scenes``): each dark frame against its scene's best-exposed frame;
* ``--codec-clip CRF``: frames of the generated night drive encoded with H.264 at that CRF
  (libx264, 4:2:0, as a dashcam at a low bit rate), scored for codec artefacts: the block-edge
  step ratio (``block_ratio``; the input row is the source's) and the luma of the input's
  near-black regions (``dark_luma``), beside brightness and noise;
* ``--codec-source FILE``: the same scores on a recording of one's own (a video file or one
  image): its frames as they are, or, with ``--codec-clip CRF`` as well, after an H.264
  re-encode at that CRF (a second generation, as a dashcam at that bit rate would add).

Enhancers are given as ``[LABEL:]NAME[,key=value...]``, e.g. ``unet_gn`` or
``official:zero_dce,weights=zero_dce_epoch99.pth``; the input itself is always the first row.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from ..errors import ConfigError, NocturneError, describe, reason
from ..media import MAX_FRAME_SIDE
from .metrics import (block_ratio, dark_luma, gt_mean_correct, no_reference_stats, psnr, ssim,
                      zero_reference_terms)

log = logging.getLogger(__name__)

PAIRED_KEYS = ("psnr", "ssim", "psnr_gtmean", "ssim_gtmean")
NOREF_KEYS = ("brightness", "noise", "colour_cast", "dark_clip", "bright_clip", "L_spa",
              "L_exp", "L_col", "L_img")
CODEC_KEYS = ("block_ratio", "dark_luma", "brightness", "noise")


@dataclass
class Sample:
    """One evaluation image: its name, the dark input and, for paired data, the target."""

    name: str
    low: np.ndarray
    high: np.ndarray | None = None


def parse_enhancer_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``[LABEL:]NAME[,key=value...]`` to ``(label, name, kwargs)``; values are YAML scalars."""
    label = None
    head = spec.split(",", 1)[0]
    if ":" in head:
        label, spec = spec.split(":", 1)
    parts = spec.split(",")
    name = parts[0].strip()
    kwargs: dict[str, Any] = {}
    for item in parts[1:]:
        if "=" not in item:
            raise ConfigError(f"--enhancer {spec!r}: expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        kwargs[key.strip()] = yaml.safe_load(value) if value.strip() else None
    if not name:
        raise ConfigError(f"--enhancer {spec!r}: no enhancer name")
    return (label or name), name, kwargs


def _fit(image: np.ndarray, max_side: int | None, path: Path | None = None) -> np.ndarray:
    # without --max-side, the stream's own limit: a larger image takes minutes per enhancer,
    # or is a decompression bomb
    if not max_side and max(image.shape[:2]) > MAX_FRAME_SIDE:
        raise ConfigError(f"{path}: {image.shape[1]}x{image.shape[0]} is larger than "
                          f"{MAX_FRAME_SIDE} on a side; pass --max-side to score it downscaled")
    if not max_side or max(image.shape[:2]) <= max_side:
        return image
    f = max_side / max(image.shape[:2])
    size = (max(1, round(image.shape[1] * f)), max(1, round(image.shape[0] * f)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_samples(folder: str, max_side: int | None = None,
                 limit: int | None = None) -> tuple[list[Sample], bool]:
    """The images of ``folder`` and whether they are paired (``low/`` + ``high/``, or
    ``flash/`` + ``ambient/``: the flash image is the input)."""
    from .data import list_images, pair_layout, paired_files, read_rgb

    root = Path(folder)
    if pair_layout(root) is not None:
        pairs = paired_files(root)[:limit]
        samples = []
        for low, high in pairs:
            a, b = read_rgb(low), read_rgb(high)
            if a.shape != b.shape:
                raise ConfigError(f"{low} and {high} differ in size")
            samples.append(Sample(low.stem, _fit(a, max_side, low), _fit(b, max_side, high)))
        return samples, True
    files = list_images(root)[:limit]
    return [Sample(p.stem, _fit(read_rgb(p), max_side, p)) for p in files], False


def synthetic_samples(recipe_path: str) -> list[Sample]:
    """The fixed synthetic validation pairs of a training recipe."""
    from .data import NightReference, SynthConfig, synthetic_split, synthetic_validation
    from .trainer import load_recipe

    recipe = load_recipe(recipe_path)
    cfg = recipe.data
    if cfg.mode != "synthetic":
        raise ConfigError(f"{recipe_path}: data.mode is {cfg.mode!r}, not 'synthetic'")
    _, _, val_items = synthetic_split(cfg)  # the trainer's own validation images
    reference = NightReference.from_file(cfg.night_reference) if cfg.night_reference else None
    pairs = synthetic_validation(val_items, cfg.val_crop,
                                 SynthConfig.from_mapping(cfg.synth, "data.synth"),
                                 reference, cfg.val_seed)
    to_u8 = lambda t: (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # noqa: E731
    return [Sample(f"val{i:03d}", to_u8(d), to_u8(c)) for i, (d, c) in enumerate(pairs)]


def bracket_samples(recipe_path: str) -> list[Sample]:
    """Real (dark, well-exposed) pairs of the exposure-bracket scenes a recipe holds out."""
    from .data import bracket_split, read_rgb
    from .trainer import load_recipe

    cfg = load_recipe(recipe_path).data
    if cfg.mode != "synthetic" or cfg.holdout_scenes <= 0:
        raise ConfigError(f"{recipe_path}: holds out no exposure-bracket scenes "
                          f"(data.holdout_scenes)")
    _, held = bracket_split(cfg)
    return [Sample(low.stem, read_rgb(low), read_rgb(high))
            for b in held for low, high in b.pairs(low_max=cfg.bracket_low_max)]


def zero_reference_samples(recipe_path: str) -> list[Sample]:
    """The held-out validation images of a zero-reference recipe, whole (unpaired)."""
    from .data import load_sources, read_rgb, split
    from .trainer import load_recipe

    recipe = load_recipe(recipe_path)
    cfg = recipe.data
    if cfg.mode != "zero_reference":
        raise ConfigError(f"{recipe_path}: data.mode is {cfg.mode!r}, not 'zero_reference'")
    _, val_items = split(load_sources(cfg.train), cfg.val_count, cfg.val_seed)
    return [Sample(Path(str(item)).stem, read_rgb(item)) for item in val_items]


def _check_crf(crf: object) -> None:
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise ConfigError(f"--codec-clip: CRF must be an integer in 0..51, got {crf!r}")


def codec_samples(crf: int, width: int = 640, height: int = 360, frames: int = 12,
                  every: int = 3) -> list[Sample]:
    """Frames of the generated night drive after an H.264 encode at ``crf`` (libx264, yuv420p,
    ``veryfast``): every ``every``-th decoded frame, so P-frames are among them."""
    import tempfile

    import av

    from ..sample import write_night_clip

    _check_crf(crf)
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_night_clip(Path(tmp) / "night.mp4", width, height, fps=30,
                                seconds=frames * every / 30, audio=False, crf=crf, seed=7)
        with av.open(str(clip.path)) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return [Sample(f"crf{crf}_{i:03d}", image) for i, image in enumerate(decoded)
            if i % every == every - 1]


def source_codec_samples(path: str, crf: int | None = None, frames: int = 12,
                         every: int = 3) -> list[Sample]:
    """Frames of a recording of one's own for the codec scores: a video file's first
    ``frames * every`` frames (every ``every``-th kept, so P-frames are among them) or one
    image; with ``crf``, re-encoded with H.264 at that CRF first."""
    import av

    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"--codec-source: {path!r} is not a file")
    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    if image is not None:
        decoded = [cv2.cvtColor(image, cv2.COLOR_BGR2RGB)]
    else:
        decoded = []
        try:
            with av.open(str(source)) as container:
                if not container.streams.video:
                    raise ConfigError(f"--codec-source: {path!r} has no video stream")
                for frame in container.decode(video=0):
                    decoded.append(frame.to_ndarray(format="rgb24"))
                    if len(decoded) >= frames * every:
                        break
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise ConfigError(f"--codec-source: cannot read {path!r} as an image or a video: "
                              f"{reason(exc)}") from None
        if not decoded:
            raise ConfigError(f"--codec-source: {path!r} has no decodable frame")
        if any(f.shape != decoded[0].shape for f in decoded):
            raise ConfigError(f"--codec-source: {path!r} changes resolution in its first "
                              f"{len(decoded)} frames")
    if crf is not None:
        from .data.synth import h264_roundtrip_frames

        _check_crf(crf)
        h, w = (decoded[0].shape[0] // 2) * 2, (decoded[0].shape[1] // 2) * 2
        if h == 0 or w == 0:
            raise ConfigError(f"--codec-source: a frame of {decoded[0].shape[1]}x"
                              f"{decoded[0].shape[0]} is too small to encode")
        # 4:2:0 needs even sides: an odd side loses its last row or column
        decoded = h264_roundtrip_frames([f[:h, :w] for f in decoded], crf)
    tag = source.stem if crf is None else f"{source.stem}_crf{crf}"
    keep = [i for i in range(len(decoded)) if len(decoded) < every or i % every == every - 1]
    return [Sample(f"{tag}_{i:03d}", decoded[i]) for i in keep]


def score(output: np.ndarray, sample: Sample, codec: bool = False) -> dict[str, float]:
    """The metrics of one output: paired ones with a target, else no-reference ones (with
    ``codec``, the codec-artefact ones)."""
    if codec:
        return {"block_ratio": block_ratio(output), "dark_luma": dark_luma(sample.low, output),
                **no_reference_stats(output)}
    if sample.high is None:
        terms = zero_reference_terms(sample.low, output)
        # the Zero-DCE objective's image part with the authors' weights (the smoothness term
        # needs the curve maps, which only the Zero-DCE models have)
        terms["L_img"] = terms["L_spa"] + 10 * terms["L_exp"] + 5 * terms["L_col"]
        return {**no_reference_stats(output), **terms}
    corrected = gt_mean_correct(output, sample.high)
    return {
        "psnr": psnr(output, sample.high),
        "ssim": ssim(output, sample.high),
        "psnr_gtmean": psnr(corrected, sample.high),
        "ssim_gtmean": ssim(corrected, sample.high),
    }


def run_enhancer(enhancer: Any, image: np.ndarray) -> np.ndarray:
    """One image through an enhancer (a batch of one), as a stream of its own: no temporal
    smoothing with the previous image."""
    enhancer.reset()
    return enhancer(np.ascontiguousarray(image)[None])[0]


def _label(image: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((22, image.shape[1], 3), 24, np.uint8)
    cv2.putText(bar, text[:48], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1,
                cv2.LINE_AA)
    return np.concatenate([bar, image], 0)


def montage(rows: list[list[tuple[str, np.ndarray]]], height: int = 200) -> np.ndarray:
    """A grid: one row per image, one labelled column per method, each scaled to ``height``."""
    lines = []
    for row in rows:
        tiles = []
        for text, image in row:
            f = height / image.shape[0]
            tile = cv2.resize(image, (max(1, round(image.shape[1] * f)), height),
                              interpolation=cv2.INTER_AREA)
            tiles.append(_label(tile, text))
            tiles.append(np.zeros((height + 22, 4, 3), np.uint8))
        lines.append(np.concatenate(tiles[:-1], 1))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 4), (0, width - line.shape[1]), (0, 0))) for line in lines]
    return np.concatenate(lines, 0)


def format_table(results: dict[str, dict[str, float]], keys: tuple[str, ...]) -> str:
    """A Markdown table: one row per method, one column per metric."""
    head = "| method | " + " | ".join(keys) + " |"
    rule = "|---|" + "---:|" * len(keys)
    body = [f"| {name} | " + " | ".join(f"{m[k]:.4f}" if k.startswith("ssim") or k.endswith(
        "clip") or k.startswith("L_") else f"{m[k]:.3f}" if k == "block_ratio" else
        f"{m[k]:.2f}" for k in keys) + " |"
        for name, m in results.items()]
    return "\n".join([head, rule, *body])


def evaluate(samples: list[Sample], specs: list[str], paired: bool,
             montage_rows: int = 4, codec: bool = False,
             per_image: dict[str, list[dict[str, Any]]] | None = None,
             ) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Mean metrics per method (the input first) and the montage image (RGB); with
    ``per_image``, each method's scores of every image (with its name, the output's mean grey
    and, for a pair, the target's) are put there as well."""
    from ..enhancers import build_enhancer

    keys = CODEC_KEYS if codec else PAIRED_KEYS if paired else NOREF_KEYS
    methods: list[tuple[str, Any]] = [("input", None)]
    for spec in specs:
        label, name, kwargs = parse_enhancer_spec(spec)
        methods.append((label, build_enhancer(name, where=f"--enhancer {spec}", **kwargs)))
    per: dict[str, list[dict[str, float]]] = {label: [] for label, _ in methods}
    rows: list[list[tuple[str, np.ndarray]]] = []
    try:
        for enhancer in (e for _, e in methods if e is not None):
            enhancer.start()
        for i, sample in enumerate(samples):
            row = []
            for label, enhancer in methods:
                out = sample.low if enhancer is None else run_enhancer(enhancer, sample.low)
                per[label].append(score(out, sample, codec))
                if per_image is not None:
                    per_image.setdefault(label, []).append(
                        {"image": sample.name, "mean_grey": float(out.mean()),
                         **({} if sample.high is None else
                            {"target_mean_grey": float(sample.high.mean())}),
                         # nan (no near-black pixel) as JSON's null
                         **{k: (None if v != v else v) for k, v in per[label][-1].items()}})
                row.append((label, out))
            if sample.high is not None:
                row.append(("ground truth", sample.high))
            if i < montage_rows:
                rows.append(row)
    finally:
        for _, enhancer in methods:
            if enhancer is not None:
                enhancer.close()
    results = {label: {k: float(np.nanmean([s[k] for s in scores])) for k in keys}
               for label, scores in per.items()}
    return results, montage(rows)


def main(argv: list[str] | None = None) -> int:
    """``tools/eval.py DATA --enhancer SPEC ... [--out DIR]``; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="eval.py", description=__doc__.split("\n\n")[0].split(": ", 1)[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="enhancer spec: [LABEL:]NAME[,key=value...], e.g. "
               "official:zero_dce,weights=zero_dce_epoch99.pth")
    parser.add_argument("data", nargs="?", help="a paired folder (low/ + high/) or an image folder")
    parser.add_argument("--synthetic-val", metavar="RECIPE",
                        help="score on a training recipe's fixed synthetic validation pairs")
    parser.add_argument("--bracket-val", metavar="RECIPE",
                        help="score on the real exposure-bracket pairs a recipe holds out")
    parser.add_argument("--zero-reference-val", metavar="RECIPE",
                        help="score (no reference) on a zero-reference recipe's held-out images")
    parser.add_argument("--codec-clip", type=int, metavar="CRF",
                        help="score codec artefacts on the generated night drive encoded at "
                             "this H.264 CRF (e.g. 40); with --codec-source, re-encode that "
                             "file at this CRF")
    parser.add_argument("--codec-source", metavar="FILE",
                        help="score codec artefacts on this video or image (e.g. a dashcam "
                             "recording) instead of the generated drive")
    parser.add_argument("--enhancer", action="append", default=[], metavar="SPEC",
                        help="an enhancer to score (repeatable)")
    parser.add_argument("--out", default="out/eval", help="folder for results.json and "
                        "montage.png (default: out/eval)")
    parser.add_argument("--max-side", type=int, default=None,
                        help="downscale images whose long side is larger (speed)")
    parser.add_argument("--limit", type=int, default=None, help="use at most N images")
    parser.add_argument("--montage-rows", type=int, default=4)
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be >= 1, got {args.limit}")
    if args.max_side is not None and args.max_side < 16:
        parser.error(f"--max-side must be at least 16 pixels, got {args.max_side}")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    try:
        given = [x for x in (args.data, args.synthetic_val, args.bracket_val,
                             args.zero_reference_val) if x]
        if args.codec_source is not None:
            given.append(f"codec source {args.codec_source}" + (
                "" if args.codec_clip is None else f", re-encoded at CRF {args.codec_clip}"))
        elif args.codec_clip is not None:
            given.append(f"codec clip, CRF {args.codec_clip}")
        if len(given) != 1:
            raise ConfigError("give one of DATA, --synthetic-val RECIPE, --bracket-val RECIPE, "
                              "--zero-reference-val RECIPE, --codec-clip CRF or --codec-source "
                              "FILE")
        codec = args.codec_clip is not None or args.codec_source is not None
        if args.codec_source is not None:
            # at their own size: a resize would blur the 8x8 grid the block ratio measures
            samples = source_codec_samples(args.codec_source, args.codec_clip)[:args.limit]
            paired = False
        elif codec:
            samples, paired = codec_samples(args.codec_clip)[:args.limit], False
        elif args.synthetic_val:
            samples, paired = synthetic_samples(args.synthetic_val)[:args.limit], True
        elif args.bracket_val:
            samples, paired = bracket_samples(args.bracket_val)[:args.limit], True
        elif args.zero_reference_val:
            samples = zero_reference_samples(args.zero_reference_val)[:args.limit]
            samples = [Sample(s.name, _fit(s.low, args.max_side)) for s in samples]
            paired = False
        else:
            samples, paired = load_samples(args.data, args.max_side, args.limit)
        per_image: dict[str, list[dict[str, Any]]] = {}
        results, grid = evaluate(samples, args.enhancer, paired, args.montage_rows, codec,
                                 per_image)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        table = format_table(results, CODEC_KEYS if codec else
                             PAIRED_KEYS if paired else NOREF_KEYS)
        (out / "results.json").write_text(json.dumps(
            {"data": given[0], "paired": paired,
             "images": len(samples), "results": results, "per_image": per_image},
            indent=2) + "\n")
        (out / "table.md").write_text(table + "\n")
        if not cv2.imwrite(str(out / "montage.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
            raise ConfigError(f"cannot write {out / 'montage.png'}")
    except ConfigError as exc:
        print(f"eval.py: error: {describe(exc)}", file=sys.stderr)
        return 2
    except (NocturneError, OSError) as exc:
        print(f"eval.py: error: {describe(exc)}", file=sys.stderr)
        return 1
    print(f"{len(samples)} images ({'paired' if paired else 'unpaired'})")
    print(table)
    print(f"wrote {out / 'results.json'}, {out / 'table.md'}, {out / 'montage.png'}")
    return 0
