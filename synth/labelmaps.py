"""Edits of whole label maps (plain numpy): move between palettes, flood fill, fit a canvas, overlay.

These are the painter's operations on ``[H, W]`` id maps; they know palettes but no model.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from palettes import Palette
from palettes import load as load_palette
from synth.labels import INDEX_MODES, THING_BASE, TRANSPARENT_BELOW, pack_rgb, resize_labels, snap_size


def class_table(src: Palette | str, dst: Palette | str) -> np.ndarray:
    """``table[id_in_src] -> id_in_dst``: a class keeps its id when ``dst`` has a class of the same
    (case-insensitive) name, don't-care stays don't-care when ``dst`` has one, anything else becomes
    ``dst``'s fill class."""
    a, b = load_palette(src), load_palette(dst)
    table = np.full(a.max_id + 1, b.fill, np.int64)
    for i in range(a.max_id + 1):
        if not a.is_valid_id(np.asarray(i)):
            continue
        if i == a.dontcare and b.dontcare is not None:
            table[i] = b.dontcare
            continue
        try:
            table[i] = b.id_of(a.name_of(i))
        except ValueError:
            pass
    return table


def to_palette(ids: np.ndarray, src: Palette | str, dst: Palette | str) -> np.ndarray:
    """Ids of palette ``src`` -> ids of ``dst`` by class name (see :func:`class_table`)."""
    return class_table(src, dst)[np.asarray(ids, np.int64)].astype(load_palette(dst).dtype)


def dropped_classes(ids: np.ndarray, src: Palette | str, dst: Palette | str) -> dict[str, int]:
    """Classes present in ``ids`` that ``dst`` has no class for: ``{name: pixels}`` (they become its fill)."""
    a, b = load_palette(src), load_palette(dst)
    table = class_table(a, b)
    counts = np.bincount(np.asarray(ids, np.int64).ravel(), minlength=a.max_id + 1)
    out = {}
    for i in np.flatnonzero(counts):
        kept = i == a.dontcare and b.dontcare is not None
        if not kept and table[i] == b.fill and a.name_of(int(i)).lower() != b.name_of(b.fill).lower():
            out[a.name_of(int(i))] = int(counts[i])
    return out


def flood_fill(ids: np.ndarray, x: int, y: int, class_id: int, palette: Palette | str) -> np.ndarray:
    """A copy of ``ids`` whose 4-connected region of equal ids around ``(x, y)`` has id ``class_id``."""
    from scipy import ndimage

    pal = load_palette(palette)
    ids = np.asarray(ids)
    h, w = ids.shape
    if not (0 <= int(x) < w and 0 <= int(y) < h):
        raise ValueError(f"point ({x}, {y}) is outside the {w}x{h} label map")
    if not pal.is_valid_id(np.asarray(class_id)):
        raise ValueError(f"{class_id} is not a class of palette {pal.name!r}")
    regions, _ = ndimage.label(ids == ids[int(y), int(x)])
    out = ids.copy()
    out[regions == regions[int(y), int(x)]] = class_id
    return out


def fit_canvas(ids: np.ndarray, canvas: tuple[int, int], multiple: int = 32) -> np.ndarray:
    """Resize ids (nearest) to fit a ``(width, height)`` canvas box, keeping the aspect; sides are
    multiples of ``multiple`` and at most the box's longer side."""
    h, w = np.asarray(ids).shape
    bw, bh = canvas
    s = min(bw / w, bh / h)
    size = snap_size(max(1, round(w * s)), max(1, round(h * s)), multiple, max_side=max(bw, bh))
    return resize_labels(ids, size)


def overlay(image: Image.Image, ids: np.ndarray, palette: Palette | str, alpha: float = 0.45) -> Image.Image:
    """The photo blended with the label map's paint colours (``alpha`` = weight of the colours)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in 0..1, got {alpha}")
    colours = Image.fromarray(load_palette(palette).to_colors(ids)).resize(image.size, Image.Resampling.NEAREST)
    return Image.blend(image.convert("RGB"), colours, alpha)


def default_instances(ids: np.ndarray, palette: Palette | str, objects: np.ndarray | None = None) -> np.ndarray:
    """The instance map of a label map: stuff pixels hold their class id, and every object of a thing class
    (:attr:`~palettes.Palette.things`) its own id from :data:`~synth.labels.THING_BASE` up.

    ``objects``: object ids the user painted (``[H, W]``, 0 = none), e.g. the painter's objects mode: thing
    pixels with the same class and object id form one object. Thing pixels without one are split into
    connected parts (4-neighbours), one object each: the default when the user does nothing.
    """
    from scipy import ndimage

    pal = load_palette(palette)
    ids = np.asarray(ids)
    inst = ids.astype(np.int64)
    if objects is not None and np.asarray(objects).shape != ids.shape:
        raise ValueError(f"objects map is {np.asarray(objects).shape[::-1]}, label map is {ids.shape[::-1]} (W, H)")
    next_id = THING_BASE
    for cls in pal.things:
        mask = ids == cls
        if not mask.any():
            continue
        if objects is not None:
            obj = np.asarray(objects)
            for oid in np.unique(obj[mask & (obj > 0)]):
                inst[mask & (obj == oid)] = next_id
                next_id += 1
            mask &= obj <= 0
        parts, n = ndimage.label(mask)
        if n:
            inst[mask] = parts[mask] - 1 + next_id
            next_id += n
    if next_id > 65536:
        raise ValueError(f"too many objects ({next_id - THING_BASE}) for a 16-bit instance map")
    return inst


def instance_colours(instance: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` uint8 view of an instance map: each object (id >= ``THING_BASE``) its own vivid colour
    (hues a golden angle apart), stuff (a class id) a grey by class."""
    inst = np.asarray(instance).astype(np.int64)
    uniq, inverse = np.unique(inst, return_inverse=True)
    table = np.empty((len(uniq), 3), np.uint8)
    things = uniq >= THING_BASE
    greys = 70 + (uniq[~things] * 47) % 120
    table[~things] = np.repeat(greys[:, None], 3, 1)
    hue = ((uniq[things] - THING_BASE) * 0.618034) % 1.0
    table[things] = _vivid(hue)
    return table[inverse.reshape(inst.shape)]


def _vivid(hue: np.ndarray) -> np.ndarray:
    """Fully saturated, bright RGB colours (uint8 ``[N, 3]``) for hues in 0..1."""
    k = (hue[:, None] * 6 + np.array([5.0, 3.0, 1.0])) % 6
    rgb = 1 - np.clip(np.minimum(k, 4 - k), 0, 1)  # HSV -> RGB with S = V = 1
    return (40 + rgb * 215).astype(np.uint8)


def class_counts(ids: np.ndarray, palette: Palette | str) -> dict[str, int]:
    """``{class name: pixels}`` for the classes present in ``ids``, in id order."""
    pal = load_palette(palette)
    flat = np.asarray(ids).reshape(-1)
    counts = np.zeros(pal.max_id + 1, np.int64)
    for i in range(0, len(flat), _CHUNK):  # chunks: bincount's int64 copy of a 4096^2 map would be 134 MB
        part = np.bincount(flat[i : i + _CHUNK], minlength=len(counts))
        counts += part[: len(counts)]
    return {pal.name_of(int(i)): int(counts[i]) for i in np.flatnonzero(counts)}


#: Pixels per chunk in :func:`class_counts`.
_CHUNK = 1 << 20


def palette_shares(image: Image.Image, names: tuple[str, ...] | None = None, samples: int = 65536) -> dict[str, float]:
    """For a colour picture: the share of its pixels whose colour is exactly a paint or trained colour of
    each palette (``names``, default all). Grey-level index maps carry no colours: ``{}``."""
    from palettes import NAMES

    if image.mode in INDEX_MODES and (image.mode != "P" or _grey_palette(image)):
        return {}
    rgba = np.asarray(image.convert("RGBA")).reshape(-1, 4)
    if len(rgba) > samples:  # a fixed random sample (with replacement: no permutation of every pixel index)
        rgba = rgba[np.sort(np.random.default_rng(0).integers(0, len(rgba), samples))]
    rgb = rgba[rgba[:, 3] >= TRANSPARENT_BELOW, :3]  # transparent pixels carry no paint (they become the fill)
    codes = pack_rgb(rgb)
    shares = {}
    for name in names or NAMES:
        pal = load_palette(name)
        known = pack_rgb(np.concatenate([pal.lut_paint, pal.colour_table(trained=True)]))
        shares[name] = float(np.isin(codes, known).mean()) if len(codes) else 0.0
    return shares


def _grey_palette(image: Image.Image) -> bool:
    """True for a "P" image whose palette is the identity grey ramp (an index map without colours)."""
    pal = image.getpalette() or []
    n = min(len(pal) // 3, 256)
    return n > 0 and all(pal[3 * i] == pal[3 * i + 1] == pal[3 * i + 2] == i for i in range(n))


def check_palette(image: Image.Image, palette: Palette | str) -> None:
    """Raise ``ValueError`` naming the palette when ``image`` is clearly painted in another palette's colours
    (it explains at least 98 % of the pixels, ``palette`` under 90 %); silent otherwise."""
    pal = load_palette(palette)
    shares = palette_shares(image)
    if not shares or shares[pal.name] >= 0.9 or not any(shares.values()):
        return
    best = max(shares, key=shares.get)
    if best != pal.name and shares[best] >= 0.98:
        raise ValueError(
            f"this label map is painted in the {best} palette ({shares[best]:.0%} of its pixels are {best} colours, "
            f"{shares[pal.name]:.0%} {pal.name}); choose a model that uses {best} first"
        )


__all__ = [
    "check_palette",
    "default_instances",
    "instance_colours",
    "palette_shares",
    "class_counts",
    "class_table",
    "dropped_classes",
    "fit_canvas",
    "flood_fill",
    "overlay",
    "to_palette",
]
