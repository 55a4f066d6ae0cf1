"""``daub eval``: how close to photographs are the generated images? Measured, not guessed.

For every *val* label map of the model's dataset: render it (``--seeds`` seeds) and compare with the real
val photos. A judge segmenter (trained on the *train* photos only; ``--judge`` picks one) segments both:
the mIoU ratio generated/real says whether each region reads as its class, and KID in the judge's
deepest features how far the two sets lie apart. Image statistics need no judge: the gap between the
radially averaged power spectra (dB), the share of spectral energy on the horizontal/vertical axes
(streaks and grids), and seed diversity. ``--compare NAME=PATH`` scores other weights in the same run
against the same real side, each with ``against_first``: its KID, mIoU ratio and spectrum gap minus
the first version's, with the paired standard error of each difference (same maps, seeds and photos,
so the noise they share cancels). Prints JSON; writes contact sheets (label | real photo | 3 seeds).

    daub eval --model landscape --dataset ../shared/datasets/stanford_background --sheet docs/landscape_sheet.png
    daub eval --model landscape --compare v2=runs/landscape/landscape.safetensors --judge runs/seg-landscape.safetensors
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import synth
from synth.commands import add_compare, parse_compare
from synth.data import BASE_SIZES, load_split, to_model_size
from synth.generators.base import to_uint8
from synth.metrics import (
    axis_energy_share,
    class_texture,
    confusion,
    kid,
    kid_difference,
    kid_standard_error,
    miou_ratio_difference,
    radial_profiles,
    scores,
    seed_diversity,
    spectrum_gap_db,
    spectrum_gap_difference,
)

DATASETS = {"landscape": "stanford_background", "facades": "facades"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="daub eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=sorted(DATASETS), help="embedded model to evaluate")
    p.add_argument(
        "--dataset", default=None, help="dataset folder (default ../shared/datasets/<name> next to the repo)"
    )
    p.add_argument("--weights", default=None, help="generator weights (default: the shipped ones)")
    add_compare(p, "evaluate", "v2=runs/x/landscape.safetensors")
    p.add_argument("--judge", default=None, help="segmenter weights that judge (default: the shipped segmenter)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per label map (default 3)")
    p.add_argument("--limit", type=int, default=None, help="only the first N val maps")
    p.add_argument("--sheet", default=None, help="write a contact sheet PNG here (NAME inserted when comparing)")
    p.add_argument("--sheet-rows", type=int, default=8)
    p.add_argument(
        "--sheet-class",
        default=None,
        help="the sheet shows the val maps with the most of this class (e.g. mountain) instead of the first ones",
    )
    p.add_argument("--fp32", action="store_true", help="render in fp32 instead of bf16 autocast")
    return p


def default_dataset(model: str) -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "datasets" / DATASETS[model]


def reference(model: str, dataset: str | Path | None = None, judge=None, limit: int | None = None, size=None) -> dict:
    """The real side of the comparison: val photos and maps at the model's size, judged once."""
    dataset = Path(dataset) if dataset else default_dataset(model)
    if not dataset.is_dir():
        raise FileNotFoundError(f"dataset not found: {dataset} (pass --dataset)")
    seg = synth.segmenter(model, **({"weights": judge} if judge else {}))
    pal = synth.palette(model)
    photos, labels, names = load_split(dataset, "val", BASE_SIZES[model], limit=limit)
    real, lab = to_model_size(photos, labels, size)
    confs = np.stack(
        [
            confusion(seg.predict(real[i : i + 1])[0].numpy(), lab[i].numpy(), pal.num_classes, pal.dontcare)
            for i in range(len(names))
        ]
    )
    images = to_uint8(real)
    return {
        "judge": seg,
        "palette": pal,
        "real": real,
        "labels": lab,
        "names": names,
        "images": images,
        "scores": scores(confs.sum(0)),
        "confusions": confs,
        "profiles": radial_profiles(images),
        "features": seg.embed(real).numpy(),
    }


def evaluate(
    model: str,
    dataset: str | Path | None = None,
    weights=None,
    seeds: int = 3,
    limit: int | None = None,
    fast: bool = True,
    judge=None,
    ref: dict | None = None,
    per_map: dict | None = None,
) -> tuple[dict, list]:
    """Score ``model`` (``weights``) on its val split. Returns (figures, rows for a contact sheet).

    Figures: judge mIoU and pixel accuracy of generated vs real photos (and their ratio), KID between
    generated and real photos in the judge's deepest features (and its standard error over the val maps),
    the radially averaged power-spectrum gap (dB), the share of spectral energy on the horizontal/vertical
    axes (streaks; real photos beside it), seed diversity (mean pairwise L1 between seeds of one map) and the
    median render time.
    Pass ``ref`` (from :func:`reference`) to score several weights against one real side, and a dict as
    ``per_map`` to get what :func:`paired_against` compares versions with: ``features``, the judge's
    features of each map's generated images (``[seeds, D]`` per map), ``confusions`` ``[M, C, C]`` and
    ``profiles`` (:func:`synth.metrics.radial_profiles` of the generated images).
    """
    gen = synth.load(model, **({"weights": weights} if weights else {}), fast=fast)
    size = gen.size_rule.default
    ref = ref or reference(model, dataset, judge, limit, size)
    pal, seg, lab = ref["palette"], ref["judge"], ref["labels"]
    confs = np.zeros((len(ref["names"]), pal.num_classes, pal.num_classes), np.int64)
    rows, times, fakes, feats = [], [], [], []
    for i in range(len(ref["names"])):
        ids = lab[i].numpy().astype(pal.dtype)
        t = time.perf_counter()
        imgs = gen.generate(ids, seed=0, num_images=seeds)
        times.append((time.perf_counter() - t) / seeds)
        arr = np.stack([np.array(im) for im in imgs])
        fake = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 127.5 - 1
        for p in seg.predict(fake).numpy():
            confs[i] += confusion(p, ids, pal.num_classes, pal.dontcare)
        feats.append(seg.embed(fake).numpy())
        fakes.append(arr)
        rows.append((ids, ref["real"][i], imgs))
    all_fakes = np.concatenate(fakes)
    if per_map is not None:
        per_map.update(features=feats, confusions=confs, profiles=radial_profiles(all_fakes))
    s_real, s_gen = ref["scores"], scores(confs.sum(0))
    figures = {
        "model": model,
        "weights": str(weights) if weights else "shipped",
        "val_maps": len(ref["names"]),
        "seeds": seeds,
        "size": list(size),
        "generated": {"miou": s_gen["miou"], "pixel_acc": s_gen["pixel_acc"]},
        "real": {"miou": s_real["miou"], "pixel_acc": s_real["pixel_acc"]},
        "miou_ratio": round(s_gen["miou"] / max(s_real["miou"], 1e-9), 4),
        "pixel_acc_ratio": round(s_gen["pixel_acc"] / max(s_real["pixel_acc"], 1e-9), 4),
        "kid": round(kid(np.concatenate(feats), ref["features"]), 5),
        "kid_se": _kid_se(feats, ref["features"]),
        "spectrum_gap_db": round(spectrum_gap_db(all_fakes, ref["images"]), 3),
        "axis_energy": {
            "generated": round(axis_energy_share(all_fakes), 4),
            "real": round(axis_energy_share(ref["images"]), 4),
        },
        "seed_diversity": round(seed_diversity(fakes), 4),
        "iou_per_class": {
            n: {"generated": g, "real": r}
            for n, g, r in zip(pal.names, s_gen["iou_per_class"], s_real["iou_per_class"])
        },
        "texture_per_class": _texture_table(pal, all_fakes, ref, seeds),
        "median_ms_per_image": round(1000 * float(np.median(times)), 1),
    }
    return figures, rows


def _kid_se(feats: list[np.ndarray], real: np.ndarray) -> float | None:
    """:func:`synth.metrics.kid_standard_error`, map ``i``'s seeds (``feats[i]``) grouped with its photo
    (``real[i]``); None below 4 maps."""
    groups = _map_groups(feats)
    if groups is None:
        return None
    return round(kid_standard_error(np.concatenate(feats), real, groups, np.arange(len(feats))), 5)


def _map_groups(feats: list[np.ndarray]) -> np.ndarray | None:
    """The map index of each generated image (``feats[i]``: map ``i``'s seeds), for the half-split errors;
    None below the 4 maps they need."""
    if len(feats) < 4:
        return None
    return np.repeat(np.arange(len(feats)), [len(f) for f in feats])


def _texture_table(pal, fakes: np.ndarray, ref: dict, seeds: int) -> dict:
    """:func:`synth.metrics.class_texture` per class name, generated beside real (``fakes``: ``seeds`` per map)."""
    lab = ref["labels"].numpy()
    gen = class_texture(fakes, np.repeat(lab, seeds, axis=0), pal.num_classes)
    real = class_texture(ref["images"], lab, pal.num_classes)
    return {
        n: {k: {"generated": g[k], "real": r[k]} for k in ("detail", "grain", "colour_spread")}
        for n, g, r in zip(pal.names, gen, real)
        if g is not None and r is not None
    }


def contact_sheet(rows: list, palette, max_rows: int = 8) -> Image.Image:
    """label | real | seed 0 | seed 1 | seed 2 per row, with a header."""
    rows = rows[:max_rows]
    h, w = rows[0][0].shape
    cols = 2 + len(rows[0][2])
    sheet = Image.new("RGB", (cols * (w + 4) + 4, len(rows) * (h + 4) + 22), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(["label map", "real photo"] + [f"seed {k}" for k in range(cols - 2)]):
        draw.text((4 + c * (w + 4), 5), title, fill="black")
    for r, (ids, real, imgs) in enumerate(rows):
        y = 22 + r * (h + 4)
        tiles = [
            Image.fromarray(palette.to_colors(ids)),
            Image.fromarray(to_uint8(real[None])[0]),
        ] + list(imgs)
        for c, tile in enumerate(tiles):
            sheet.paste(tile, (4 + c * (w + 4), y))
    return sheet


def sheet_class_id(model: str, name: str | None) -> int | None:
    """The id of ``--sheet-class`` ``name`` in ``model``'s palette (``None`` for none), else a one-line error."""
    if name is None:
        return None
    names = list(synth.palette(model).names)
    if name not in names:
        raise ValueError(f"--sheet-class: {model} has no class {name!r} (classes: {', '.join(names)})")
    return names.index(name)


def rows_with_most(rows: list, class_id: int | None) -> list:
    """Sheet ``rows`` ordered by the share of their map that is ``class_id``, most first (``None``: as they are)."""
    if class_id is None:
        return rows
    return sorted(rows, key=lambda row: -float((row[0] == class_id).mean()))


def paired_against(mine: dict, base: dict, ref: dict, name: str) -> dict | None:
    """A version's KID, judge mIoU ratio and spectrum gap minus those of version ``name``, each with its
    paired standard error (both versions on the same random halves of the maps, so the noise they share
    cancels): :func:`synth.metrics.kid_difference`, :func:`synth.metrics.miou_ratio_difference`,
    :func:`synth.metrics.spectrum_gap_difference`. ``mine`` and ``base`` are :func:`evaluate`'s ``per_map``
    of the two versions, rendered from the same maps and seeds. None below 4 maps."""
    feats = mine["features"]
    groups = _map_groups(feats)
    if groups is None:
        return None
    kd, kse = kid_difference(
        np.concatenate(feats), np.concatenate(base["features"]), ref["features"], groups, np.arange(len(feats))
    )
    md, mse = miou_ratio_difference(mine["confusions"], base["confusions"], ref["confusions"])
    sd, sse = spectrum_gap_difference(mine["profiles"], base["profiles"], ref["profiles"], groups)
    return {
        "version": name,
        "kid": {"diff": round(kd, 5), "se": round(kse, 5)},
        "miou_ratio": {"diff": round(md, 4), "se": round(mse, 4)},
        "spectrum_gap_db": {"diff": round(sd, 3), "se": round(sse, 3)},
    }


def _named_weights(args) -> list[tuple[str, str | None]]:
    return [("shipped" if not args.weights else Path(args.weights).stem, args.weights), *parse_compare(args.compare)]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    runs = _named_weights(args)
    focus = sheet_class_id(args.model, args.sheet_class)
    results, ref, base = {}, None, None
    for name, weights in runs:
        if ref is None:
            size = synth.load(args.model, **({"weights": weights} if weights else {})).size_rule.default
            ref = reference(args.model, args.dataset, args.judge, args.limit, size)
        per_map: dict = {}
        figures, rows = evaluate(
            args.model, weights=weights, seeds=args.seeds, fast=not args.fp32, ref=ref, per_map=per_map
        )
        if base is None:
            base = (name, per_map)
        else:
            figures["against_first"] = paired_against(per_map, base[1], ref, base[0])
        if args.sheet:
            sheet = Path(args.sheet)
            if len(runs) > 1:
                sheet = sheet.with_name(f"{sheet.stem}_{name}{sheet.suffix}")
            sheet.parent.mkdir(parents=True, exist_ok=True)
            contact_sheet(rows_with_most(rows, focus), synth.palette(args.model), args.sheet_rows).save(sheet)
            figures["sheet"] = str(sheet)
        results[name] = figures
    judge = args.judge or "shipped"
    if len(runs) == 1:
        print(json.dumps({**results[runs[0][0]], "judge": judge}, indent=1))
    else:
        print(json.dumps({"model": args.model, "judge": judge, "versions": results}, indent=1))
    return 0
