"""The README's picture: the demo's example maps rendered by the embedded models (label | seeds 0, 1, 2).

    python scripts/render_examples.py docs/examples_rendered.jpg [--weights landscape=PATH ...]

Every example map of the ``landscape`` and ``facades`` palettes (``synth/examples``), one row each, at
the model's canvas size. ``--weights MODEL=PATH`` renders other weights of a model (a training run).
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

import synth
from synth.studio import Studio

MODELS = ("landscape", "facades")
SEEDS = (0, 1, 2)
HEIGHT = 192  # every tile is scaled to this height


def rows(weights: dict[str, str]) -> list[tuple[str, list[Image.Image]]]:
    """``(title, [label map, seed 0, seed 1, seed 2])`` per example map."""
    studio = Studio()
    out = []
    for model in MODELS:
        gen = synth.load(model, **({"weights": weights[model]} if model in weights else {}))
        for path in studio.examples(model):
            ids, _ = studio.read_label_map(path, model)
            tiles = [Image.fromarray(gen.palette.to_colors(ids))] + [gen(ids, seed=s) for s in SEEDS]
            out.append((f"{model}: {path.rsplit('/', 1)[-1]}", tiles))
    return out


def sheet(table: list[tuple[str, list[Image.Image]]]) -> Image.Image:
    """The rows side by side, each tile scaled to :data:`HEIGHT`, a title over each row."""
    scaled = [[t.resize((round(t.width * HEIGHT / t.height), HEIGHT), Image.BICUBIC) for t in ts] for _, ts in table]
    width = max(sum(t.width + 4 for t in ts) for ts in scaled) + 4
    canvas = Image.new("RGB", (width, len(table) * (HEIGHT + 22) + 4), "white")
    draw = ImageDraw.Draw(canvas)
    for r, ((title, _), tiles) in enumerate(zip(table, scaled)):
        y, x = 4 + r * (HEIGHT + 22), 4
        draw.text((x, y), f"{title}   (label map | seeds {', '.join(map(str, SEEDS))})", fill="black")
        for t in tiles:
            canvas.paste(t, (x, y + 18))
            x += t.width + 4
    return canvas


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="the picture to write (.jpg or .png)")
    p.add_argument("--weights", action="append", default=[], help="MODEL=PATH: other weights of a model")
    args = p.parse_args()
    weights = dict(w.split("=", 1) for w in args.weights)
    unknown = set(weights) - set(MODELS)
    if unknown:
        p.error(f"--weights: no model {', '.join(sorted(unknown))} (have: {', '.join(MODELS)})")
    picture = sheet(rows(weights))
    picture.save(args.out, **({"quality": 90} if args.out.lower().endswith((".jpg", ".jpeg")) else {}))
    print(f"{args.out}: {picture.width}x{picture.height}, {np.prod(picture.size)} pixels")


if __name__ == "__main__":
    main()
