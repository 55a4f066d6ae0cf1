"""``daub eval``: how recognisable are the generated images? Measured with a segmenter, not guessed.

For every *val* label map of the model's dataset: render it (``--seeds`` seeds), segment the result with
the shipped segmenter (trained on the *train* photos only), and score against the label map. The same
segmenter on the real val photos gives the reference; the ratio generated/real is the figure of merit
(SPADE-class models reach ~0.8 on Cityscapes). Prints JSON; writes a contact sheet
(label | real photo | 3 seeds) PNG.

    daub eval --model landscape --dataset ../shared/datasets/stanford_background --sheet docs/landscape_sheet.png
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
from synth.data import BASE_SIZES, load_split, to_model_size
from synth.segment import confusion, scores

DATASETS = {"landscape": "stanford_background", "facades": "facades"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="daub eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, choices=sorted(DATASETS), help="embedded model to evaluate")
    p.add_argument(
        "--dataset", default=None, help="dataset folder (default ../shared/datasets/<name> next to the repo)"
    )
    p.add_argument("--weights", default=None, help="generator weights (default: the shipped ones)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per label map (default 3)")
    p.add_argument("--limit", type=int, default=None, help="only the first N val maps")
    p.add_argument("--sheet", default=None, help="write a contact sheet PNG here")
    p.add_argument("--sheet-rows", type=int, default=8)
    p.add_argument("--fp32", action="store_true", help="render in fp32 instead of bf16 autocast")
    return p


def default_dataset(model: str) -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "datasets" / DATASETS[model]


def evaluate(
    model: str,
    dataset: str | Path | None = None,
    weights=None,
    seeds: int = 3,
    limit: int | None = None,
    fast: bool = True,
) -> tuple[dict, list]:
    """Score ``model`` on its val split. Returns (figures, rows for a contact sheet)."""
    dataset = Path(dataset) if dataset else default_dataset(model)
    if not dataset.is_dir():
        raise FileNotFoundError(f"dataset not found: {dataset} (pass --dataset)")
    gen = synth.load(model, **({"weights": weights} if weights else {}), fast=fast)
    seg = synth.segmenter(model)
    pal = gen.palette
    size = gen.size_rule.default
    photos, labels, names = load_split(dataset, "val", BASE_SIZES[model], limit=limit)
    real, lab = to_model_size(photos, labels, size)
    ignore = pal.dontcare
    conf_real = np.zeros((pal.num_classes,) * 2, np.int64)
    conf_gen = np.zeros_like(conf_real)
    rows, times = [], []
    for i in range(len(names)):
        ids = lab[i].numpy().astype(pal.dtype)
        t = time.perf_counter()
        imgs = gen.generate(ids, seed=0, num_images=seeds)
        times.append((time.perf_counter() - t) / seeds)
        fake = torch.stack([torch.from_numpy(np.array(im)).permute(2, 0, 1) for im in imgs]).float() / 127.5 - 1
        pred_real = seg.predict(real[i : i + 1])[0].numpy()
        pred_gen = seg.predict(fake).numpy()
        conf_real += confusion(pred_real, ids, pal.num_classes, ignore)
        for p in pred_gen:
            conf_gen += confusion(p, ids, pal.num_classes, ignore)
        rows.append((ids, real[i], imgs))
    s_real, s_gen = scores(conf_real), scores(conf_gen)
    figures = {
        "model": model,
        "val_maps": len(names),
        "seeds": seeds,
        "size": list(size),
        "generated": {"miou": s_gen["miou"], "pixel_acc": s_gen["pixel_acc"]},
        "real": {"miou": s_real["miou"], "pixel_acc": s_real["pixel_acc"]},
        "miou_ratio": round(s_gen["miou"] / max(s_real["miou"], 1e-9), 4),
        "pixel_acc_ratio": round(s_gen["pixel_acc"] / max(s_real["pixel_acc"], 1e-9), 4),
        "iou_per_class": {
            n: {"generated": g, "real": r}
            for n, g, r in zip(pal.names, s_gen["iou_per_class"], s_real["iou_per_class"])
        },
        "median_ms_per_image": round(1000 * float(np.median(times)), 1),
    }
    return figures, rows


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
            Image.fromarray(((real.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()),
        ] + list(imgs)
        for c, tile in enumerate(tiles):
            sheet.paste(tile, (4 + c * (w + 4), y))
    return sheet


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    figures, rows = evaluate(args.model, args.dataset, args.weights, args.seeds, args.limit, fast=not args.fp32)
    if args.sheet:
        Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(rows, synth.palette(args.model), args.sheet_rows).save(args.sheet)
        figures["sheet"] = str(args.sheet)
    print(json.dumps(figures, indent=1))
    return 0
