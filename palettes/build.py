"""Rebuild the palette data files from the reference material in ``../shared/reference/palettes``.

Maintenance tool, not used at run time: ``python -m palettes.build [SHARED_DIR]`` (also writes the
legend PNGs in ``docs/legends/``).
The ADE20K, COCO-Stuff, Cityscapes and COCO-panoptic colours are copied exactly (the models were
trained on them); where the reference gives two classes the same colour, the second gets a distinct
*paint* colour that maps back to its own id (see each file's ``notes``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def _write(data: dict) -> None:
    """Write ``data`` to ``<name>.json`` next to this file."""
    path = HERE / f"{data['name']}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path} ({len(data['classes'])} classes)")


def _read(path: Path) -> Any:
    """The parsed JSON file ``path``."""
    return json.loads(path.read_text())


def _reference(shared: Path, name: str) -> Any:
    """The parsed reference palette ``shared/reference/palettes/<name>``."""
    return _read(shared / "reference" / "palettes" / name)


def _untie(classes: list[dict]) -> list[str]:
    """Give every class whose colour repeats an earlier one a distinct ``paint`` colour."""
    taken = {tuple(c["rgb"]) for c in classes}
    seen: dict[tuple, str] = {}
    notes = []
    for c in classes:
        rgb = tuple(c["rgb"])
        if rgb not in seen:
            seen[rgb] = c["name"]
            continue
        # The free colour farthest from every taken one, so blended or compressed paint of it
        # can never be mistaken for a neighbour.
        grid = [(r, g, b) for r in range(0, 256, 17) for g in range(0, 256, 17) for b in range(0, 256, 17)]
        cand = max(grid, key=lambda p: min(sum((x - y) ** 2 for x, y in zip(p, t)) for t in taken))
        taken.add(cand)
        c["paint"] = list(cand)
        notes.append(
            f"{c['name']} (id {c['id']}) shares the trained colour {list(rgb)} with {seen[rgb]}; "
            f"it is painted as {list(cand)} and mapped back to id {c['id']}; the trained colour "
            f"itself reads as {seen[rgb]}."
        )
    return notes


def _palette(
    name: str,
    title: str,
    source: str,
    dontcare: dict | None,
    fill: int,
    backends: list[str],
    classes: list[dict],
    notes: list[str] | None = None,
    **extra,
) -> dict:
    """A palette file's fields in file order (``extra`` just before ``classes``).

    ``notes`` default to those of :func:`_untie`, which gives repeated colours their own paint.
    """
    notes = _untie(classes) if notes is None else notes
    return {
        "name": name,
        "title": title,
        "source": source,
        "dontcare": dontcare,
        "fill": fill,
        "backends": backends,
        "notes": notes,
        **extra,
        "classes": classes,
    }


_UNLABELED = {"id": 255, "name": "unlabeled (don't care)", "rgb": [0, 0, 0]}

# Which classes are *things* (countable objects, one instance each) rather than *stuff*: what the painter's
# objects mode and the default instance maps use. Written down from these sources:
#: ADE20K: the 100 classes marked ``isthing`` in the ADE20K panoptic set (Mask2Former,
#: mask2former/data/datasets/register_ade20k_panoptic.py, ADE20K_150_CATEGORIES), train-id order.
_ADE20K_THINGS = [
    7, 8, 10, 12, 14, 15, 18, 19, 20, 22, 23, 24, 27, 30, 31, 32, 33, 35, 36, 37, 38, 39, 41, 42, 43, 44, 45,
    47, 49, 50, 53, 55, 56, 57, 58, 62, 64, 65, 66, 67, 69, 70, 71, 72, 73, 74, 75, 76, 78, 80, 81, 82, 83, 85,
    86, 87, 88, 89, 90, 92, 93, 95, 97, 98, 102, 103, 104, 107, 108, 110, 111, 112, 115, 116, 118, 119, 120,
    121, 123, 124, 125, 126, 127, 129, 130, 132, 133, 134, 135, 136, 137, 138, 139, 142, 143, 144, 146, 147,
    148, 149,
]  # fmt: skip
_ADE20K_THINGS_SOURCE = "ADE20K panoptic isthing flags (Mask2Former register_ade20k_panoptic.py)"
#: Cityscapes: the label ids with ``hasInstances`` in cityscapesScripts (helpers/labels.py): person,
#: rider, car, truck, bus, caravan, trailer, train, motorcycle, bicycle.
_CITYSCAPES_THINGS = list(range(24, 34))
_CITYSCAPES_THINGS_SOURCE = "cityscapesScripts helpers/labels.py hasInstances"
#: Daub's own datasets (no instance annotations): the classes that are separate objects in a picture.
_FACADES_THINGS = ["window", "door", "balcony", "pillar", "shop"]
_LANDSCAPE_THINGS = ["foreground object"]


def _ade20k(shared: Path) -> dict:
    ade = _reference(shared, "ade20k_palette.json")
    return _palette(
        "ade20k",
        "ADE20K (150 classes)",
        "ADE20K scene parsing, train-id order; colours of ControlNet's UniFormer/OneFormer ADE20K annotator",
        {"id": 255, "name": "other (don't care)", "rgb": [0, 0, 0]},
        2,
        ["controlnet-seg", "spade-ade20k"],
        [{"id": c["id"], "name": c["name"], "rgb": c["rgb"]} for c in ade],
        things=_ADE20K_THINGS,
        things_source=_ADE20K_THINGS_SOURCE,
    )


def _cocostuff(shared: Path) -> dict:
    coco = _reference(shared, "cocostuff_palette.json")
    return _palette(
        "cocostuff",
        "COCO-Stuff (182 ids)",
        "COCO-Stuff stuffthingmaps ids 0..181 with SPADE's label colormap; 255 = unlabeled",
        _UNLABELED,
        156,
        ["spade-coco"],
        [
            {
                "id": c["id"],
                "name": c["name"],
                "rgb": c["rgb"],
                **({"unused": True} if c["unused_in_cocostuff"] else {}),
            }
            for c in coco
        ],
        things=[c["id"] for c in coco if c["id"] <= 90 and not c["unused_in_cocostuff"]],
        things_source="COCO-Stuff: ids 0-90 are the COCO thing classes (those COCO uses), 91-181 stuff",
    )


def _cityscapes(shared: Path) -> dict:
    city = _reference(shared, "cityscapes_palette.json")
    classes = [
        {
            "id": c["id"],
            "name": c["name"] or "license plate",
            "rgb": c["rgb_spade_labelcolormap"],
            "train_id": c["train_id"] if c["train_id"] is not None else 255,
        }
        for c in city["label_ids_35_spade"]
    ]
    return _palette(
        "cityscapes",
        "Cityscapes (35 label ids)",
        "Cityscapes label ids 0..34 as the official SPADE cityscapes generator takes them; "
        "colours of SPADE's label colormap; train_id gives the 19-class train ids (255 = ignored)",
        None,
        7,
        ["spade-cityscapes"],
        classes,
        train_ids_19=[
            {"id": c["id"], "label_id": c["label_id"], "name": c["name"], "rgb": c["rgb"]} for c in city["train_ids_19"]
        ],
        things=_CITYSCAPES_THINGS,
        things_source=_CITYSCAPES_THINGS_SOURCE,
    )


def _coco133(shared: Path) -> dict:
    pan = _reference(shared, "coco_panoptic133_controlnet_palette.json")
    classes = [
        {
            "id": c["id"],
            "name": c["name"],
            "rgb": c["rgb"],
            "coco_category_id": c["coco_category_id"],
            "isthing": bool(c["isthing"]),
        }
        for c in pan
    ]
    return _palette(
        "coco133",
        "COCO panoptic (133 classes)",
        "COCO panoptic categories and colours of ControlNet v1.1's OneFormer-COCO annotator",
        _UNLABELED,
        119,
        ["controlnet-seg"],
        classes,
        things=[c["id"] for c in classes if c["isthing"]],
        things_source="COCO panoptic isthing flags (the reference palette)",
    )


#: Daub's own brush colours for the palettes of its own datasets, by class name.
_FACADES_PAINT = {
    "background": [196, 224, 250],
    "facade": [214, 140, 92],
    "window": [36, 70, 170],
    "door": [120, 62, 24],
    "cornice": [250, 204, 64],
    "sill": [238, 124, 204],
    "balcony": [58, 176, 84],
    "blind": [64, 204, 204],
    "deco": [150, 84, 204],
    "molding": [255, 240, 200],
    "pillar": [128, 128, 0],
    "shop": [224, 30, 70],
}
_LANDSCAPE_PAINT = {
    "sky": [135, 200, 240],
    "tree": [34, 120, 40],
    "road": [110, 110, 110],
    "grass": [140, 220, 80],
    "water": [30, 100, 220],
    "building": [180, 40, 40],
    "mountain": [140, 95, 55],
    "foreground object": [255, 170, 0],
}


def _dataset_classes(shared: Path, dataset: str, paint: dict[str, list[int]]) -> list[dict]:
    """The classes of ``datasets/<dataset>/classes.json`` with the brush colours ``paint``."""
    data = _read(shared / "datasets" / dataset / "classes.json")
    return [{"id": c["index"], "name": c["name"], "rgb": paint[c["name"]]} for c in data["classes"]]


def _ids_of(classes: list[dict], names: list[str]) -> list[int]:
    """Ids of the classes called ``names``, in id order."""
    return sorted(c["id"] for c in classes if c["name"] in names)


def _facades(shared: Path) -> dict:
    return _palette(
        "facades",
        "CMP Facades (12 classes)",
        "CMP Facade Database classes (ids = CMP id - 1, as in the dataset's classes.json); Daub's own brush colours",
        None,
        1,
        ["facades"],
        _dataset_classes(shared, "facades", _FACADES_PAINT),
        notes=[],
        things=_ids_of(_dataset_classes(shared, "facades", _FACADES_PAINT), _FACADES_THINGS),
        things_source="Daub's choice: the facade parts that come as separate objects",
    )


def _landscape(shared: Path) -> dict:
    return _palette(
        "landscape",
        "Landscape (Stanford Background, 8 classes)",
        "Stanford Background Dataset classes (ids as in the dataset's classes.json); Daub's own brush colours",
        {"id": 15, "name": "unknown (don't care)", "rgb": [0, 0, 0]},
        0,
        ["landscape"],
        _dataset_classes(shared, "stanford_background", _LANDSCAPE_PAINT),
        notes=[],
        things=_ids_of(_dataset_classes(shared, "stanford_background", _LANDSCAPE_PAINT), _LANDSCAPE_THINGS),
        things_source="Daub's choice: the dataset's one object class",
    )


def build(shared: Path) -> None:
    """Write every palette file from the reference material and datasets in ``shared``."""
    for make in (_ade20k, _cocostuff, _cityscapes, _coco133, _facades, _landscape):
        _write(make(shared))


def write_legends(out: Path) -> None:
    """One legend PNG per palette (swatch, id, name) into ``out``."""
    from palettes import NAMES, load

    out.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        load(name).legend().save(out / f"{name}.png")
        print(f"wrote {out / name}.png")


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared")
    write_legends(HERE.parent / "docs" / "legends")
