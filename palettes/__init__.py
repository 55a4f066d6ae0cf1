"""What colours mean: one JSON data file per palette, and the :class:`Palette` type.

A palette lists classes (contiguous ids ``0..C-1``) with two colours each:

* ``rgb`` — the colour the models were trained on (ControlNet's annotator colours, SPADE's colormap);
* ``paint`` — the brush colour a user paints with. It equals ``rgb`` except where the reference gives
  two classes the same colour; then the second class gets a distinct paint colour (see ``notes``).

An optional *don't-care* id (255 for ADE20K/COCO, 15 for landscape) marks unlabeled pixels; SPADE
backends feed it to an extra channel. This package is data only and imports nothing of :mod:`synth`:
ids -> colours and the legend are here; reading paint (colours -> ids) is :mod:`synth.labels`, whose
:class:`~synth.labels.LabelPalette` (what :func:`synth.palette` returns) adds ``to_labels``.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
NAMES = ("ade20k", "cocostuff", "cityscapes", "coco133", "facades", "landscape")


@dataclass(frozen=True)
class Swatch:
    """One brush of a palette, for the UI: id, name and paint colour."""

    id: int
    name: str
    rgb: tuple[int, int, int]

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


@dataclass(frozen=True, eq=False)
class Palette:
    """Class ids, names and colours of one label set.

    Attributes:
        name: registry name, e.g. ``"ade20k"``.
        title: human-readable title.
        names: class names, index = id.
        rgb: ``[C, 3]`` uint8 trained colours (may contain ties).
        paint: ``[C, 3]`` uint8 brush colours, all unique.
        dontcare: id of the don't-care label, or ``None``.
        dontcare_name, dontcare_rgb: its name and colour.
        fill: id used for transparent / erased paint.
        backends: names of the generators that consume this palette.
        notes: documented deviations (e.g. colour ties resolved).
        extra: per-class metadata from the data file (e.g. Cityscapes train ids).
        things: ids of the *thing* classes (countable objects, one instance each: people, cars, windows),
            as opposed to *stuff* (sky, road); ``things_source`` says where the list comes from.
    """

    name: str
    title: str
    names: tuple[str, ...]
    rgb: np.ndarray
    paint: np.ndarray
    dontcare: int | None
    dontcare_name: str
    dontcare_rgb: tuple[int, int, int]
    fill: int
    backends: tuple[str, ...]
    notes: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)
    things: tuple[int, ...] = ()
    things_source: str = ""

    def __post_init__(self) -> None:
        colours = [tuple(c) for c in self.paint.tolist()]
        if self.dontcare is not None:
            colours.append(self.dontcare_rgb)
        if len(set(colours)) != len(colours):
            raise ValueError(f"palette {self.name!r}: paint colours are not unique")
        if self.dontcare is not None and self.dontcare < self.num_classes:
            raise ValueError(f"palette {self.name!r}: don't-care id {self.dontcare} collides with a class id")
        if any(not 0 <= t < self.num_classes for t in self.things):
            raise ValueError(f"palette {self.name!r}: thing ids must be class ids")

    # -- sizes and ids -------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of real classes ``C`` (the don't-care id is not counted)."""
        return len(self.names)

    @property
    def max_id(self) -> int:
        """Largest id a label map of this palette may hold."""
        return self.dontcare if self.dontcare is not None else self.num_classes - 1

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned dtype holding every id (uint8 for all palettes up to 256 ids)."""
        return np.dtype(np.uint8 if self.max_id < 256 else np.uint16)

    def is_valid_id(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask of entries that are class ids or the don't-care id."""
        ok = ids < self.num_classes
        if self.dontcare is not None:
            ok |= ids == self.dontcare
        return ok & (ids >= 0)

    def id_of(self, name: str) -> int:
        """Id of a class by (case-insensitive) name; the don't-care name is accepted too."""
        key = name.strip().lower()
        for i, n in enumerate(self.names):
            if n.lower() == key:
                return i
        if self.dontcare is not None and key in (self.dontcare_name.lower(), self.dontcare_name.split(" (")[0].lower()):
            return self.dontcare
        raise ValueError(f"palette {self.name!r} has no class named {name!r}")

    def name_of(self, i: int) -> str:
        if self.dontcare is not None and i == self.dontcare:
            return self.dontcare_name
        if not 0 <= i < self.num_classes:
            raise ValueError(f"palette {self.name!r} has no id {i}")
        return self.names[i]

    # -- colour tables -------------------------------------------------------------------------
    @cached_property
    def lut_ids(self) -> np.ndarray:
        """Ids of every paintable colour, matching :attr:`lut_paint` row for row."""
        ids = list(range(self.num_classes)) + ([self.dontcare] if self.dontcare is not None else [])
        return np.asarray(ids, dtype=np.int64)

    @cached_property
    def lut_paint(self) -> np.ndarray:
        """``[K, 3]`` uint8: the paint colour of each id in :attr:`lut_ids` (classes then don't-care)."""
        rows = [self.paint] + ([np.asarray([self.dontcare_rgb], np.uint8)] if self.dontcare is not None else [])
        return np.concatenate(rows).astype(np.uint8)

    def colour_table(self, trained: bool = False) -> np.ndarray:
        """``[max_id + 1, 3]`` uint8 table: id -> colour (paint colours, or trained ones)."""
        table = np.zeros((self.max_id + 1, 3), np.uint8)
        table[: self.num_classes] = self.rgb if trained else self.paint
        if self.dontcare is not None:
            table[self.dontcare] = self.dontcare_rgb
        return table

    @property
    def swatches(self) -> list[Swatch]:
        """Every brush: the classes in id order, then the don't-care label if any."""
        out = [Swatch(i, n, tuple(int(v) for v in self.paint[i])) for i, n in enumerate(self.names)]
        if self.dontcare is not None:
            out.append(Swatch(self.dontcare, self.dontcare_name, self.dontcare_rgb))
        return out

    # -- ids -> colours, legend ----------------------------------------------------------------
    def to_colors(self, ids, trained: bool = False) -> np.ndarray:
        """``[H, W]`` ids -> ``[H, W, 3]`` uint8 colours (paint colours, or ``trained=True`` colours)."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"expected an [H, W] id map, got shape {ids.shape}")
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"ids must be integers, got {ids.dtype}")
        bad = ~self.is_valid_id(ids)
        if bad.any():
            raise ValueError(f"ids not in palette {self.name!r}: {np.unique(ids[bad])[:8].tolist()}")
        return self.colour_table(trained=trained)[ids]

    def legend(self, columns: int | None = None, swatch: int = 18):
        """A legend image (PIL) with one swatch and name per class."""
        from palettes.legend import legend_image

        return legend_image(self, columns=columns, swatch=swatch)

    def legend_png(self) -> bytes:
        buf = io.BytesIO()
        self.legend().save(buf, format="PNG")
        return buf.getvalue()

    def legend_data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.legend_png()).decode()

    def __repr__(self) -> str:
        return f"Palette({self.name!r}, {self.num_classes} classes, dontcare={self.dontcare})"


def _from_json(path: Path) -> Palette:
    data = json.loads(path.read_text())
    classes = data["classes"]
    if [c["id"] for c in classes] != list(range(len(classes))):
        raise ValueError(f"{path}: class ids must be 0..C-1 in order")
    dc = data.get("dontcare")
    extra_keys = {k for c in classes for k in c} - {"id", "name", "rgb", "paint"}
    extra = {k: [c.get(k) for c in classes] for k in sorted(extra_keys)}
    if "train_ids_19" in data:
        extra["train_ids_19"] = data["train_ids_19"]
    return Palette(
        name=data["name"],
        title=data.get("title", data["name"]),
        names=tuple(c["name"].strip() for c in classes),
        rgb=np.asarray([c["rgb"] for c in classes], np.uint8),
        paint=np.asarray([c.get("paint", c["rgb"]) for c in classes], np.uint8),
        dontcare=None if dc is None else int(dc["id"]),
        dontcare_name="" if dc is None else dc["name"],
        dontcare_rgb=(0, 0, 0) if dc is None else tuple(dc["rgb"]),
        fill=int(data.get("fill", 0)),
        backends=tuple(data.get("backends", ())),
        notes=tuple(data.get("notes", ())),
        extra=extra,
        things=tuple(int(t) for t in data.get("things", ())),
        things_source=data.get("things_source", ""),
    )


_CACHE: dict[str, Palette] = {}


def load(name: str | Palette) -> Palette:
    """Return the palette called ``name`` (one of :data:`NAMES`), or a palette passed through."""
    if isinstance(name, Palette):
        return name
    if not isinstance(name, str):
        raise ValueError(f"palette name must be a string, got {type(name).__name__}")
    key = name.strip().lower()
    if key not in NAMES:
        raise ValueError(f"unknown palette {name[:40]!r}; choose one of: {', '.join(NAMES)}")
    if key not in _CACHE:
        _CACHE[key] = _from_json(HERE / f"{key}.json")
    return _CACHE[key]


__all__ = ["NAMES", "Palette", "Swatch", "load"]
