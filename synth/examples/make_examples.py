"""Draw the example label maps shipped with the web demo (procedural: no dataset pixels).

Run ``python -m synth.examples.make_examples`` (or this file) to rewrite
``synth/examples/<palette>/*.png`` as index PNGs coloured with each palette's paint colours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from palettes import load as load_palette
from synth.labels import write_index_png

HERE = Path(__file__).resolve().parent


def _canvas(palette: str, size: tuple[int, int], fill: str) -> tuple[Image.Image, ImageDraw.ImageDraw, Callable]:
    pal = load_palette(palette)
    img = Image.new("L", size, pal.id_of(fill))
    return img, ImageDraw.Draw(img), pal.id_of


def _ridge(w: int, top: float, amp: float, waves: tuple[float, ...], phase: float = 0.0) -> list[tuple[float, float]]:
    """Points of a wavy horizon from the left edge to the right edge."""
    pts = []
    for x in range(0, w + 1, 4):
        y = top + sum(amp / (k + 1) * math.sin(f * x / w * 2 * math.pi + phase * (k + 1)) for k, f in enumerate(waves))
        pts.append((x, y))
    return pts


def _below(pts: list[tuple[float, float]], w: int, h: int) -> list[tuple[float, float]]:
    return pts + [(w, h), (0, h)]


def landscape_lake(palette: str = "landscape", size=(256, 192)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "sky")
    d.polygon(_below(_ridge(w, h * 0.42, h * 0.12, (1.3, 3.1), 0.4), w, h), fill=cls("mountain"))
    d.polygon(_below(_ridge(w, h * 0.6, h * 0.02, (2.0,)), w, h), fill=cls("grass"))
    d.ellipse([w * 0.25, h * 0.68, w * 0.95, h * 0.92], fill=cls("water"))
    for x in (0.06, 0.14):
        d.ellipse([w * x - 10, h * 0.5, w * x + 10, h * 0.7], fill=cls("tree"))
    return img


def landscape_village(palette: str = "landscape", size=(256, 192)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "sky")
    d.polygon(_below(_ridge(w, h * 0.55, h * 0.05, (1.0, 2.7), 1.1), w, h), fill=cls("tree"))
    d.rectangle([0, h * 0.68, w, h], fill=cls("grass"))
    d.rectangle([w * 0.3, h * 0.45, w * 0.62, h * 0.78], fill=cls("building"))
    d.polygon([(w * 0.42, h), (w * 0.5, h * 0.78), (w * 0.56, h * 0.78), (w * 0.7, h)], fill=cls("road"))
    return img


def landscape_coast(palette: str = "landscape", size=(256, 192)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "sky")
    d.rectangle([0, h * 0.5, w, h], fill=cls("water"))
    d.polygon(_below(_ridge(w // 2, h * 0.35, h * 0.08, (1.5,)), w // 2, h), fill=cls("mountain"))
    d.polygon([(0, h * 0.75), (w * 0.55, h * 0.85), (w * 0.6, h), (0, h)], fill=cls("grass"))
    return img


def facade_house(palette: str = "facades", size=(256, 256)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "facade")
    d.rectangle([0, 0, w, h * 0.06], fill=cls("background"))
    d.rectangle([0, h * 0.06, w, h * 0.1], fill=cls("cornice"))
    for row in range(3):
        y = h * (0.16 + row * 0.22)
        for col in range(4):
            x = w * (0.08 + col * 0.23)
            d.rectangle([x, y, x + w * 0.14, y + h * 0.13], fill=cls("window"))
            d.rectangle([x - 2, y + h * 0.13, x + w * 0.14 + 2, y + h * 0.15], fill=cls("sill"))
    d.rectangle([w * 0.4, h * 0.8, w * 0.6, h], fill=cls("door"))
    return img


def facade_shopfront(palette: str = "facades", size=(256, 256)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "facade")
    for col in range(3):
        x = w * (0.1 + col * 0.3)
        for row in range(2):
            y = h * (0.1 + row * 0.28)
            d.rectangle([x, y, x + w * 0.18, y + h * 0.18], fill=cls("window"))
            d.rectangle([x - 4, y + h * 0.18, x + w * 0.18 + 4, y + h * 0.22], fill=cls("balcony"))
    d.rectangle([0, h * 0.68, w, h * 0.72], fill=cls("molding"))
    d.rectangle([0, h * 0.72, w, h], fill=cls("shop"))
    for x in (0.0, 0.47, 0.94):
        d.rectangle([w * x, h * 0.72, w * x + w * 0.06, h], fill=cls("pillar"))
    return img


def ade_valley(palette: str = "ade20k", size=(256, 256)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "sky")
    d.polygon(_below(_ridge(w, h * 0.4, h * 0.1, (1.2, 2.9), 0.2), w, h), fill=cls("mountain"))
    d.polygon(_below(_ridge(w, h * 0.62, h * 0.03, (2.2,)), w, h), fill=cls("grass"))
    d.polygon([(w * 0.45, h * 0.62), (w * 0.55, h * 0.62), (w * 0.8, h), (w * 0.3, h)], fill=cls("river"))
    d.ellipse([w * 0.02, h * 0.45, w * 0.22, h * 0.75], fill=cls("tree"))
    return img


def ade_street(palette: str = "ade20k", size=(256, 256)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "sky")
    d.rectangle([0, h * 0.2, w * 0.35, h * 0.7], fill=cls("building"))
    d.rectangle([w * 0.65, h * 0.3, w, h * 0.7], fill=cls("building"))
    d.rectangle([0, h * 0.7, w, h], fill=cls("road"))
    d.polygon([(0, h * 0.7), (w * 0.3, h * 0.7), (0, h * 0.9)], fill=cls("sidewalk"))
    d.ellipse([w * 0.38, h * 0.35, w * 0.62, h * 0.72], fill=cls("tree"))
    return img


def coco_beach(palette: str = "cocostuff", size=(256, 256)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "sky-other")
    d.ellipse([w * 0.1, h * 0.08, w * 0.5, h * 0.25], fill=cls("clouds"))
    d.rectangle([0, h * 0.5, w, h], fill=cls("sea"))
    d.polygon(_below(_ridge(w, h * 0.75, h * 0.04, (1.7,)), w, h), fill=cls("sand"))
    return img


def cityscapes_road(palette: str = "cityscapes", size=(512, 256)) -> Image.Image:
    w, h = size
    img, d, cls = _canvas(palette, size, "sky")
    d.rectangle([0, h * 0.15, w * 0.3, h * 0.6], fill=cls("building"))
    d.rectangle([w * 0.7, h * 0.1, w, h * 0.6], fill=cls("vegetation"))
    d.rectangle([0, h * 0.55, w, h], fill=cls("road"))
    d.polygon([(0, h * 0.55), (w * 0.25, h * 0.55), (0, h * 0.8)], fill=cls("sidewalk"))
    d.rectangle([w * 0.45, h * 0.5, w * 0.6, h * 0.68], fill=cls("car"))
    return img


#: palette -> {example name: drawing function}
EXAMPLES: dict[str, dict[str, Callable[[], Image.Image]]] = {
    "landscape": {"lake": landscape_lake, "village": landscape_village, "coast": landscape_coast},
    "facades": {"house": facade_house, "shopfront": facade_shopfront},
    "ade20k": {"valley": ade_valley, "street": ade_street},
    "cocostuff": {"beach": coco_beach},
    "cityscapes": {"road": cityscapes_road},
}


def write_examples(out: Path = HERE) -> list[Path]:
    """Draw every example into ``out/<palette>/<name>.png`` (index PNG); returns the paths."""
    paths = []
    for palette, items in EXAMPLES.items():
        folder = out / palette
        folder.mkdir(parents=True, exist_ok=True)
        for name, draw in items.items():
            path = folder / f"{name}.png"
            write_index_png(np.asarray(draw()), path, palette)
            paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_examples():
        print(p)
