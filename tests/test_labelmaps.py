"""Label-map edits (synth.labelmaps): palette moves, flood fill, canvas fit, overlay, class counts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from palettes import load as load_palette
from synth import labelmaps

LAND = load_palette("landscape")
SKY, TREE, WATER = (LAND.id_of(n) for n in ("sky", "tree", "water"))


def test_flood_fill_fills_one_connected_region():
    ids = np.full((10, 10), SKY, np.uint8)
    ids[:, 5] = TREE  # a wall: the right half is another region
    out = labelmaps.flood_fill(ids, 1, 1, WATER, "landscape")
    assert (out[:, :5] == WATER).all() and (out[:, 5] == TREE).all() and (out[:, 6:] == SKY).all()
    assert (ids[:, :5] == SKY).all()  # input untouched
    with pytest.raises(ValueError, match="outside"):
        labelmaps.flood_fill(ids, 10, 0, WATER, "landscape")
    with pytest.raises(ValueError, match="not a class"):
        labelmaps.flood_fill(ids, 0, 0, 99, "landscape")


def test_to_palette_keeps_shared_class_names_and_clears_the_rest():
    ade = load_palette("ade20k")
    ids = np.array([[SKY, TREE, LAND.id_of("foreground object"), LAND.dontcare]], np.uint8)
    out = labelmaps.to_palette(ids, "landscape", "ade20k")
    assert out.tolist() == [[ade.id_of("sky"), ade.id_of("tree"), ade.fill, ade.dontcare]]
    fac = load_palette("facades")
    out = labelmaps.to_palette(ids, "landscape", "facades")  # nothing in common: all fill
    assert (out == fac.fill).all()


def test_dropped_classes_names_what_a_palette_move_loses():
    ids = np.array([[SKY, SKY, TREE, LAND.id_of("foreground object"), LAND.dontcare]], np.uint8)
    assert labelmaps.dropped_classes(ids, "landscape", "ade20k") == {"foreground object": 1}
    lost = labelmaps.dropped_classes(ids, "landscape", "facades")
    assert set(lost) == {"sky", "tree", "foreground object", LAND.dontcare_name} and lost["sky"] == 2
    assert labelmaps.dropped_classes(ids, "landscape", "landscape") == {}


def test_fit_canvas_keeps_aspect_and_multiples_of_32():
    out = labelmaps.fit_canvas(np.zeros((300, 800), np.uint8), (256, 192))
    assert out.shape[1] == 256 and out.shape[0] % 32 == 0 and out.shape[0] == 96


def test_overlay_blends_and_checks_alpha():
    ids = np.full((4, 6), WATER, np.uint8)
    photo = Image.new("RGB", (12, 8), (0, 0, 0))
    out = labelmaps.overlay(photo, ids, "landscape", alpha=1.0)
    assert out.size == (12, 8) and out.getpixel((11, 7)) == tuple(int(v) for v in LAND.paint[WATER])
    assert labelmaps.overlay(photo, ids, "landscape", alpha=0.0).getpixel((0, 0)) == (0, 0, 0)
    with pytest.raises(ValueError, match="alpha"):
        labelmaps.overlay(photo, ids, "landscape", alpha=2)


def test_class_counts_in_id_order():
    ids = np.array([[WATER, SKY, SKY]], np.uint8)
    assert list(labelmaps.class_counts(ids, "landscape").items()) == [("sky", 2), ("water", 1)]
