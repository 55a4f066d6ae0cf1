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

HERE = Path(__file__).parent


def _write(name: str, data: dict) -> None:
    path = HERE / f"{name}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path} ({len(data['classes'])} classes)")


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


def build(shared: Path) -> None:
    ref = shared / "reference" / "palettes"

    ade = json.loads((ref / "ade20k_palette.json").read_text())
    classes = [{"id": c["id"], "name": c["name"], "rgb": c["rgb"]} for c in ade]
    notes = _untie(classes)
    _write(
        "ade20k",
        {
            "name": "ade20k",
            "title": "ADE20K (150 classes)",
            "source": "ADE20K scene parsing, train-id order; colours of ControlNet's UniFormer/OneFormer ADE20K annotator",
            "dontcare": {"id": 255, "name": "other (don't care)", "rgb": [0, 0, 0]},
            "fill": 2,
            "backends": ["controlnet-seg", "spade-ade20k"],
            "notes": notes,
            "classes": classes,
        },
    )

    coco = json.loads((ref / "cocostuff_palette.json").read_text())
    classes = [
        {"id": c["id"], "name": c["name"], "rgb": c["rgb"], **({"unused": True} if c["unused_in_cocostuff"] else {})}
        for c in coco
    ]
    notes = _untie(classes)
    _write(
        "cocostuff",
        {
            "name": "cocostuff",
            "title": "COCO-Stuff (182 ids)",
            "source": "COCO-Stuff stuffthingmaps ids 0..181 with SPADE's label colormap; 255 = unlabeled",
            "dontcare": {"id": 255, "name": "unlabeled (don't care)", "rgb": [0, 0, 0]},
            "fill": 156,
            "backends": ["spade-coco"],
            "notes": notes,
            "classes": classes,
        },
    )

    city = json.loads((ref / "cityscapes_palette.json").read_text())
    classes = []
    for c in city["label_ids_35_spade"]:
        name = c["name"] or "license plate"
        classes.append(
            {
                "id": c["id"],
                "name": name,
                "rgb": c["rgb_spade_labelcolormap"],
                "train_id": c["train_id"] if c["train_id"] is not None else 255,
            }
        )
    notes = _untie(classes)
    _write(
        "cityscapes",
        {
            "name": "cityscapes",
            "title": "Cityscapes (35 label ids)",
            "source": "Cityscapes label ids 0..34 as the official SPADE cityscapes generator takes them; "
            "colours of SPADE's label colormap; train_id gives the 19-class train ids (255 = ignored)",
            "dontcare": None,
            "fill": 7,
            "backends": ["spade-cityscapes"],
            "notes": notes,
            "train_ids_19": [
                {"id": c["id"], "label_id": c["label_id"], "name": c["name"], "rgb": c["rgb"]}
                for c in city["train_ids_19"]
            ],
            "classes": classes,
        },
    )

    pan = json.loads((ref / "coco_panoptic133_controlnet_palette.json").read_text())
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
    notes = _untie(classes)
    _write(
        "coco133",
        {
            "name": "coco133",
            "title": "COCO panoptic (133 classes)",
            "source": "COCO panoptic categories and colours of ControlNet v1.1's OneFormer-COCO annotator",
            "dontcare": {"id": 255, "name": "unlabeled (don't care)", "rgb": [0, 0, 0]},
            "fill": 119,
            "backends": ["controlnet-seg"],
            "notes": notes,
            "classes": classes,
        },
    )

    fac = json.loads((shared / "datasets" / "facades" / "classes.json").read_text())
    paint = {
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
    classes = [{"id": c["index"], "name": c["name"], "rgb": paint[c["name"]]} for c in fac["classes"]]
    _write(
        "facades",
        {
            "name": "facades",
            "title": "CMP Facades (12 classes)",
            "source": "CMP Facade Database classes (ids = CMP id - 1, as in the dataset's classes.json); Daub's own brush colours",
            "dontcare": None,
            "fill": 1,
            "backends": ["facades"],
            "notes": [],
            "classes": classes,
        },
    )

    sb = json.loads((shared / "datasets" / "stanford_background" / "classes.json").read_text())
    paint = {
        "sky": [135, 200, 240],
        "tree": [34, 120, 40],
        "road": [110, 110, 110],
        "grass": [140, 220, 80],
        "water": [30, 100, 220],
        "building": [180, 40, 40],
        "mountain": [140, 95, 55],
        "foreground object": [255, 170, 0],
    }
    classes = [{"id": c["index"], "name": c["name"], "rgb": paint[c["name"]]} for c in sb["classes"]]
    _write(
        "landscape",
        {
            "name": "landscape",
            "title": "Landscape (Stanford Background, 8 classes)",
            "source": "Stanford Background Dataset classes (ids as in the dataset's classes.json); Daub's own brush colours",
            "dontcare": {"id": 15, "name": "unknown (don't care)", "rgb": [0, 0, 0]},
            "fill": 0,
            "backends": ["landscape"],
            "notes": [],
            "classes": classes,
        },
    )


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
