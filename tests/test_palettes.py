"""Palettes: trained colours equal the reference files, paint colours are unique, ids round-trip."""

from __future__ import annotations

import io
import json
import re
from collections import Counter

import numpy as np
import pytest
from PIL import Image

import palettes
import synth

SIZES = {"ade20k": 150, "cocostuff": 182, "cityscapes": 35, "coco133": 133, "facades": 12, "landscape": 8}
DONTCARE = {"ade20k": 255, "cocostuff": 255, "cityscapes": None, "coco133": 255, "facades": None, "landscape": 15}


def reference(shared_dir, name: str):
    return json.loads((shared_dir / "reference" / "palettes" / name).read_text())


@pytest.fixture(params=palettes.NAMES)
def pal(request) -> palettes.Palette:
    return synth.palette(request.param)


def test_registry_lists_six_palettes():
    assert set(palettes.NAMES) == set(SIZES)
    assert synth.PALETTES == palettes.NAMES


def test_sizes_and_dontcare(pal):
    assert pal.num_classes == SIZES[pal.name]
    assert len(pal.names) == len(pal.rgb) == len(pal.paint) == pal.num_classes
    assert pal.dontcare == DONTCARE[pal.name]
    assert pal.dtype == np.uint8
    assert pal.rgb.dtype == pal.paint.dtype == np.uint8
    assert pal.rgb.shape == pal.paint.shape == (pal.num_classes, 3)
    assert pal.is_valid_id(np.asarray(pal.fill))
    assert pal.backends, "every palette names the backends that consume it"


def test_load_is_cached_and_case_insensitive():
    assert palettes.load(" ADE20K ") is palettes.load("ade20k")
    p = palettes.load("facades")
    assert palettes.load(p) is p


def test_paint_colours_unique(pal):
    colours = [tuple(c) for c in pal.paint.tolist()]
    if pal.dontcare is not None:
        colours.append(pal.dontcare_rgb)
    assert len(set(colours)) == len(colours)


def test_paint_differs_from_trained_only_where_trained_colours_tie(pal):
    """A class gets its own paint colour only when its trained colour repeats an earlier class's; a note says so."""
    first = {}
    for i, rgb in enumerate(map(tuple, pal.rgb.tolist())):
        first.setdefault(rgb, i)
    for i in range(pal.num_classes):
        rgb = tuple(pal.rgb[i].tolist())
        if first[rgb] == i:
            assert (pal.paint[i] == pal.rgb[i]).all(), f"{pal.name} class {i} has an unexplained paint colour"
        else:
            assert (pal.paint[i] != pal.rgb[i]).any()
            assert any(f"(id {i})" in note and pal.names[i] in note for note in pal.notes), f"no note for id {i}"


def test_names_are_clean_and_unique(pal):
    assert all(n == n.strip() and n for n in pal.names)
    assert len(set(pal.names)) == len(pal.names)


def test_ade20k_trained_colours_equal_reference(shared_dir):
    ref = reference(shared_dir, "ade20k_palette.json")
    pal = synth.palette("ade20k")
    assert [c["id"] for c in ref] == list(range(150))
    assert pal.rgb.tolist() == [c["rgb"] for c in ref]
    assert list(pal.names) == [c["name"].strip() for c in ref]


def test_ade20k_road_skyscraper_tie_resolved():
    pal = synth.palette("ade20k")
    road, sky = pal.id_of("road"), pal.id_of("skyscraper")
    assert (road, sky) == (6, 48)
    assert pal.rgb[road].tolist() == pal.rgb[sky].tolist() == [140, 140, 140]
    assert pal.paint[road].tolist() == [140, 140, 140]
    assert pal.paint[sky].tolist() != [140, 140, 140]
    # The skyscraper brush maps back to 48; the shared trained grey reads as road.
    img = np.array([[pal.paint[sky], pal.rgb[sky]]], np.uint8)
    assert pal.to_labels(img).tolist() == [[48, 6]]
    # ControlNet gets the trained colour for both.
    assert pal.to_colors(np.array([[6, 48]]), trained=True).tolist() == [[[140, 140, 140]] * 2]
    assert any("skyscraper" in n and "48" in n for n in pal.notes)


def test_cocostuff_equals_reference(shared_dir):
    ref = reference(shared_dir, "cocostuff_palette.json")
    pal = synth.palette("cocostuff")
    assert pal.rgb.tolist() == [c["rgb"] for c in ref]
    assert list(pal.names) == [c["name"].strip() for c in ref]
    assert pal.dontcare == 255
    unused = [c["id"] for c in ref if c["unused_in_cocostuff"]]
    assert len(unused) == 11
    assert [i for i, u in enumerate(pal.extra["unused"]) if u] == unused


def test_coco133_equals_reference(shared_dir):
    ref = reference(shared_dir, "coco_panoptic133_controlnet_palette.json")
    pal = synth.palette("coco133")
    assert pal.rgb.tolist() == [c["rgb"] for c in ref]
    assert list(pal.names) == [c["name"].strip() for c in ref]
    assert pal.extra["coco_category_id"] == [c["coco_category_id"] for c in ref]


def test_cityscapes_equals_reference(shared_dir):
    ref = reference(shared_dir, "cityscapes_palette.json")
    pal = synth.palette("cityscapes")
    labels = ref["label_ids_35_spade"]
    assert [c["id"] for c in labels] == list(range(35))
    assert pal.rgb.tolist() == [c["rgb_spade_labelcolormap"] for c in labels]
    # The reference leaves id 34 unnamed (cityscapesScripts' "license plate", label id -1 there).
    assert list(pal.names) == [c["name"] or "license plate" for c in labels]
    assert pal.extra["train_id"] == [255 if c["train_id"] is None else c["train_id"] for c in labels]
    train = pal.extra["train_ids_19"]
    assert len(train) == 19
    for mine, theirs in zip(train, ref["train_ids_19"]):
        assert (mine["id"], mine["label_id"], mine["name"], mine["rgb"]) == (
            theirs["id"],
            theirs["label_id"],
            theirs["name"],
            theirs["rgb"],
        )
        # train id k <-> label id: the per-class train_id column agrees with the 19-class table
        assert pal.extra["train_id"][mine["label_id"]] == mine["id"]
    assert sorted(t for t in pal.extra["train_id"] if t != 255) == list(range(19))


@pytest.mark.parametrize(("name", "dataset"), [("facades", "facades"), ("landscape", "stanford_background")])
def test_dataset_palettes_match_dataset_classes(shared_dir, name, dataset):
    classes = json.loads((shared_dir / "datasets" / dataset / "classes.json").read_text())["classes"]
    pal = synth.palette(name)
    assert [(c["index"], c["name"]) for c in classes] == list(enumerate(pal.names))
    if name == "landscape":
        assert pal.dontcare == 15 and "unknown" in pal.dontcare_name


def test_round_trip_every_id(pal):
    """ids -> paint colours -> ids is exact for every id, the don't-care id included."""
    ids = pal.lut_ids.reshape(1, -1).astype(pal.dtype)
    colours = pal.to_colors(ids)
    assert colours.dtype == np.uint8 and colours.shape == (1, ids.shape[1], 3)
    back = pal.to_labels(colours)
    assert back.dtype == pal.dtype
    np.testing.assert_array_equal(back, ids)
    # and as RGBA and via a PNG file
    rgba = np.concatenate([colours, np.full(colours.shape[:2] + (1,), 255, np.uint8)], -1)
    np.testing.assert_array_equal(pal.to_labels(rgba), ids)
    buf = io.BytesIO()
    Image.fromarray(colours).save(buf, format="PNG")
    np.testing.assert_array_equal(pal.to_labels(Image.open(buf)), ids)


def test_trained_colours_read_back_as_first_class_on_ties(pal):
    ids = np.arange(pal.num_classes).reshape(1, -1)
    back = pal.to_labels(pal.to_colors(ids, trained=True))[0]
    first = {}
    for i, rgb in enumerate(map(tuple, pal.rgb.tolist())):
        first.setdefault(rgb, i)
    assert back.tolist() == [first[tuple(c)] for c in pal.rgb.tolist()]


def test_colour_table(pal):
    table = pal.colour_table()
    assert table.shape == (pal.max_id + 1, 3)
    assert (table[: pal.num_classes] == pal.paint).all()
    assert (pal.colour_table(trained=True)[: pal.num_classes] == pal.rgb).all()
    if pal.dontcare is not None:
        assert tuple(table[pal.dontcare]) == pal.dontcare_rgb


def test_swatches(pal):
    sw = pal.swatches
    expected = pal.num_classes + (pal.dontcare is not None)
    assert len(sw) == expected
    assert [s.id for s in sw[: pal.num_classes]] == list(range(pal.num_classes))
    for s in sw:
        assert re.fullmatch(r"#[0-9a-f]{6}", s.hex)
        assert s.name == pal.name_of(s.id)
        assert s.rgb == tuple(int(s.hex[k : k + 2], 16) for k in (1, 3, 5))
        assert list(s.rgb) == pal.colour_table()[s.id].tolist()
    if pal.dontcare is not None:
        assert sw[-1].id == pal.dontcare and sw[-1].name == pal.dontcare_name
    assert len({s.hex for s in sw}) == len(sw)


def test_id_of_and_name_of(pal):
    for i, n in enumerate(pal.names):
        assert pal.id_of(n) == i
        assert pal.id_of(f"  {n.upper()} ") == i
        assert pal.name_of(i) == n
    if pal.dontcare is not None:
        assert pal.id_of(pal.dontcare_name) == pal.dontcare
        assert pal.name_of(pal.dontcare) == pal.dontcare_name
    with pytest.raises(ValueError, match="no class named 'no such class'"):
        pal.id_of("no such class")
    with pytest.raises(ValueError, match=f"no id {pal.num_classes + 300}"):
        pal.name_of(pal.num_classes + 300)


def test_is_valid_id(pal):
    ids = np.array([-1, 0, pal.num_classes - 1, pal.num_classes, 255, 300])
    ok = pal.is_valid_id(ids).tolist()
    assert ok[:4] == [False, True, True, pal.dontcare == pal.num_classes]
    assert ok[4] == (pal.dontcare == 255)
    assert ok[5] is False


def test_legend_png(pal):
    data = pal.legend_png()
    assert data.startswith(b"\x89PNG")
    img = Image.open(io.BytesIO(data)).convert("RGB")
    assert img.width >= 100 and img.height >= 20
    present = {tuple(c) for c in np.asarray(img).reshape(-1, 3).tolist()}
    missing = [s.name for s in pal.swatches if s.rgb not in present]
    assert not missing, f"legend lacks swatches for {missing}"
    assert pal.legend_data_uri().startswith("data:image/png;base64,")


def test_unknown_palette_name():
    with pytest.raises(ValueError, match=r"unknown palette 'nope'; choose one of: ade20k"):
        palettes.load("nope")
    with pytest.raises(ValueError, match="palette name must be a string"):
        palettes.load(3)


def test_data_files_hold_no_duplicate_trained_colours_without_notes():
    """Every tie in the trained colours is documented (cityscapes has several, ade20k one)."""
    for name in palettes.NAMES:
        pal = palettes.load(name)
        ties = sum(v - 1 for v in Counter(map(tuple, pal.rgb.tolist())).values())
        assert len(pal.notes) == ties, name
