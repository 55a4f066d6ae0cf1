"""Paint -> label ids -> model-ready tensors.

* :func:`to_labels` turns a painted image (PIL or ndarray; RGB, RGBA, L/P index, uint8/uint16) into
  an ``[H, W]`` id map. Exact paint colours map through a 2^24-entry lookup table; other colours
  (blended brush edges, JPEG, resampling) snap to the nearest paint colour within ``tolerance``.
* :func:`palette` gives a :class:`LabelPalette`: a palette with ``to_labels``.
* :func:`to_colors`, :func:`read_index_png`, :func:`write_index_png` go back and to disk.
* :func:`one_hot`, :func:`instance_edges`, :func:`resize_labels`, :func:`snap_size` prepare model input.

Nothing here knows about a particular model; backends receive ids and a palette, never colours.
"""

from __future__ import annotations

import io
import struct
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from palettes import Palette
from palettes import load as load_palette

#: Largest painted image accepted (pixels). 4096 x 4096 keeps the label map and its float one-hot
#: tensors within a laptop's memory; larger paintings should be downscaled first.
MAX_PIXELS = 4096 * 4096

#: PIL modes read as ids (index PNGs), not as colours ("P" is read as colours when it holds a painting).
INDEX_MODES = ("L", "P", "I;16", "I;16B", "I;16L", "I")

#: RGBA pixels with alpha below this are transparent: they carry no paint and become the fill class.
TRANSPARENT_BELOW = 128

#: Default RGB distance (Euclidean, 0..441) within which an off-palette colour snaps to its nearest
#: paint colour. Blended edges between two colours sit at most half their distance away.
DEFAULT_TOLERANCE = 64.0

#: Snapped pixels at most this far from their colour count as confidently painted (JPEG noise), and
#: at most half the way to the nearest paint colour of another class (a blend of two colours 7 apart,
#: as ADE20K's are, is not confidently a third colour just because it lies near it).
CONFIDENT_DISTANCE = 24.0

OffPalette = Literal["nearest", "fill", "error"]


@dataclass
class LabelReport:
    """What :func:`to_labels` did: how many pixels were exact, snapped, or beyond tolerance; ``frames``
    is how many frames the image file held (an animation: only the first was read)."""

    pixels: int
    exact: int
    snapped: int
    beyond_tolerance: int
    cleaned: int
    transparent: int
    max_distance: float
    frames: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# image decoding


def _as_array(image, palette: Palette | None = None) -> tuple[np.ndarray, str]:
    """Decode ``image`` into an ndarray and a kind: ``"rgb"``, ``"rgba"`` or ``"index"``."""
    if isinstance(image, (str, Path, bytes)):
        image = open_image(image)
    if isinstance(image, Image.Image):
        mode = image.mode
        if mode == "P":
            if "transparency" in image.info:
                return np.asarray(image.convert("RGBA")), "rgba"
            if palette is not None and _is_colour_painting(image, palette):
                return np.asarray(image.convert("RGB")), "rgb"
            return np.asarray(image), "index"
        if mode in INDEX_MODES:
            return np.asarray(image), "index"
        if mode == "RGB":
            return np.asarray(image), "rgb"
        if mode == "RGBA":
            return np.asarray(image), "rgba"
        if mode in ("LA", "PA", "RGBa", "La", "CMYK", "YCbCr", "HSV", "LAB", "1"):
            conv = image.convert("RGBA" if "A" in mode or "a" in mode else "RGB")
            return np.asarray(conv), "rgba" if conv.mode == "RGBA" else "rgb"
        raise ValueError(f"unsupported image mode {mode!r}: use an RGB(A) colour image or an 8/16-bit index PNG")
    if isinstance(image, np.ndarray):
        arr = image
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"unsupported array dtype {arr.dtype}")
        if arr.ndim == 2:
            return arr, "index"
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise ValueError("image array holds NaN or infinite values")
        if arr.ndim == 3 and arr.shape[2] in (3, 4):
            if arr.dtype == np.uint16:
                arr = (arr >> 8).astype(np.uint8)  # 16-bit colour: the high byte is the colour
            elif arr.dtype != np.uint8:
                if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
                    arr = arr * 255.0
                arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
            return arr, "rgb" if arr.shape[2] == 3 else "rgba"
        if arr.ndim == 3 and arr.shape[2] == 1:
            return arr[..., 0], "index"
        raise ValueError(f"expected an [H, W], [H, W, 3] or [H, W, 4] array, got shape {arr.shape}")
    try:  # torch tensors and anything array-like
        return _as_array(np.asarray(image))
    except Exception:
        raise ValueError(f"cannot read an image from {type(image).__name__}") from None


def _is_colour_painting(image: Image.Image, palette: Palette) -> bool:
    """Tell a colour painting saved as an 8-bit palette PNG from an index map (pixel value = id).

    An index map is either our own export (its PNG palette gives each used id that id's colour) or a
    foreign label file (any palette, e.g. a dataset's). A painting's used PNG-palette entries are all
    paint colours, but not at their own ids.
    """
    idx = np.asarray(image)
    used = np.unique(idx)
    pal = np.asarray(image.getpalette() or [], np.uint8).reshape(-1, 3)
    if len(pal) <= used.max():
        return False
    colours = pal[used]
    table = palette.colour_table()
    if used.max() < len(table) and (
        np.array_equal(colours, table[used]) or np.array_equal(colours, palette.colour_table(trained=True)[used])
    ):
        return False  # our own index PNG
    codes = (colours[:, 0].astype(np.uint32) << 16) | (colours[:, 1].astype(np.uint32) << 8) | colours[:, 2]
    return bool(np.all(_lut(palette)[codes] != _MISS))


_ORIENTATION = 0x0112  # EXIF tag


def open_image(path: str | Path | bytes) -> Image.Image:
    """Open an image file fully (so corrupt files fail here) and upright (EXIF orientation applied),
    with a clear error; of an animation, the first frame."""
    name = "the uploaded bytes" if isinstance(path, bytes) else str(path)
    try:
        src = io.BytesIO(path) if isinstance(path, bytes) else path
        img = Image.open(src)
        frames = getattr(img, "n_frames", 1)
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ValueError(f"image is {w}x{h} = {w * h} pixels, over the cap of {MAX_PIXELS}")
        img.load()
        if img.getexif().get(_ORIENTATION, 1) != 1:  # a phone photo taken sideways: turn it upright
            img = ImageOps.exif_transpose(img)
            img.info["frames"] = frames  # the turned copy is one frame; say how many the file had
        return img
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a folder, not an image file") from None
    except Image.DecompressionBombError:
        raise ValueError(f"cannot read image {name}: it is over the cap of {MAX_PIXELS} pixels") from None
    except UnidentifiedImageError:
        raise ValueError(f"cannot read image {name}: {_not_an_image(path)}") from None
    except (OSError, SyntaxError, struct.error, EOFError) as e:  # PIL's errors for corrupt or truncated files
        raise ValueError(
            f"cannot read image {name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
        ) from None


def frame_count(image) -> int:
    """Frames of the file ``image`` came from (1 for arrays and stills; an animation is read as its first)."""
    if not isinstance(image, Image.Image):
        return 1
    return int(image.info.get("frames", getattr(image, "n_frames", 1)))


def _not_an_image(path: str | Path | bytes) -> str:
    """Why PIL found no image format in ``path`` (the file's first bytes tell an empty file and an SVG)."""
    try:
        if isinstance(path, bytes):
            head = path[:512]
        else:
            with Path(path).open("rb") as f:
                head = f.read(512)
    except OSError:
        head = b"?"
    if not head:
        return "the file is empty"
    if b"<svg" in head.lower():
        return "SVG is a vector format; export the map as PNG"
    return "cannot identify image file (not a format that can be read: use PNG, JPEG, WebP, TIFF, BMP or GIF)"


def _check_size(shape: tuple[int, ...]) -> None:
    h, w = shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"image is empty ({w}x{h})")
    if h * w > MAX_PIXELS:
        raise ValueError(f"image is {w}x{h} = {h * w} pixels, over the cap of {MAX_PIXELS}")


# --------------------------------------------------------------------------------------------------
# colour -> id


_LUTS: dict[str, np.ndarray] = {}
_MISS = np.uint16(0xFFFF)


def _lut(palette: Palette) -> np.ndarray:
    """2^24 uint16 table: packed RGB -> id, ``0xFFFF`` where the colour is not a paint colour.

    Also maps each *trained* colour to its class when that colour is not itself some paint colour
    (e.g. ADE20K's shared road/skyscraper grey reads as road), so maps painted with the official
    colours convert too.
    """
    lut = _LUTS.get(palette.name)
    if lut is None:
        lut = np.full(1 << 24, _MISS, np.uint16)
        trained = palette.rgb.astype(np.uint32)
        codes = (trained[:, 0] << 16) | (trained[:, 1] << 8) | trained[:, 2]
        lut[codes[::-1]] = np.arange(palette.num_classes, dtype=np.uint16)[::-1]  # first class wins ties
        paint = palette.lut_paint.astype(np.uint32)
        lut[(paint[:, 0] << 16) | (paint[:, 1] << 8) | paint[:, 2]] = palette.lut_ids.astype(np.uint16)
        _LUTS[palette.name] = lut
    return lut


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """``[..., 3|4]`` uint8 -> ``[...]`` uint32 codes ``R<<16 | G<<8 | B``."""
    if rgb.shape[-1] == 4 and rgb.flags.c_contiguous:
        # One reinterpreting view instead of three shifts: little-endian RGBA is A<<24|B<<16|G<<8|R.
        v = rgb.view(np.uint32)[..., 0]
        if np.little_endian:
            return ((v & 0xFF) << 16) | (v & 0xFF00) | ((v >> 16) & 0xFF)
    r = rgb[..., 0].astype(np.uint32)
    r <<= 16
    r |= rgb[..., 1].astype(np.uint32) << 8
    r |= rgb[..., 2]
    return r


#: Colour-grid resolution of the nearest-colour search: 2^5 = 32 levels per channel (cells of 8).
_GRID_BITS = 5
#: Candidate lists up to this long are searched in a narrow pass (most cells have 1..4 candidates).
_NARROW = 4
_CANDIDATES: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _with_far_row(table: np.ndarray) -> np.ndarray:
    """``[K, 3]`` colours plus a row ``K`` farther from every colour than any colour is: a padding target."""
    return np.concatenate([table.astype(np.int32), np.full((1, 3), 4096, np.int32)])


def _candidates(palette: Palette) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per colour-grid cell, the rows of :attr:`~palettes.Palette.lut_paint` that can be nearest to its colours.

    A colour can only be nearest to some colour of a cell if its smallest distance to the cell is at
    most the smallest *largest* distance of any colour to the cell. Returns ``(cand, count, table)``:
    ``cand`` ``[2^15, M]`` int16 lists those rows in ascending order, padded with row ``K`` of
    ``table`` (``[K + 1, 3]`` int32 paint colours plus one colour farther than any), so a first-minimum
    search over a list gives exactly the answer of one over the whole table, ties included.
    """
    found = _CANDIDATES.get(palette.name)
    if found is None:
        n, step = 1 << _GRID_BITS, 256 >> _GRID_BITS
        lo = (np.arange(n) * step)[:, None]
        hi = lo + step - 1
        paint = palette.lut_paint.astype(np.int32)
        near, far = [], []
        for c in range(3):
            t = paint[None, :, c]
            near.append(np.maximum(np.maximum(lo - t, t - hi), 0) ** 2)
            far.append(np.maximum((t - lo) ** 2, (t - hi) ** 2))
        k = len(paint)
        mind = (near[0][:, None, None] + near[1][None, :, None] + near[2][None, None, :]).reshape(-1, k)
        maxd = (far[0][:, None, None] + far[1][None, :, None] + far[2][None, None, :]).reshape(-1, k)
        possible = mind <= maxd.min(1, keepdims=True)
        count = possible.sum(1)
        order = np.argsort(~possible, axis=1, kind="stable")[:, : max(count.max(), _NARROW)]  # candidates first
        cand = np.where(np.arange(order.shape[1])[None] < count[:, None], order, k).astype(np.int16)
        found = _CANDIDATES[palette.name] = (cand, count, _with_far_row(paint))
    return found


def _sq_distances(colours: np.ndarray, table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``[N, M]`` squared distances from ``[N, 3]`` colours to ``table[rows]`` (``rows`` ``[N, M]``).

    float32 holds these integer sums exactly (< 2^24), so ties stay ties; one channel at a time
    keeps the working set small (this is the hot loop of blended-edge conversion).
    """
    out = None
    for c in range(3):
        d = np.take(table[:, c].astype(np.float32), rows)
        d -= colours[:, c, None].astype(np.float32)
        d *= d
        out = d if out is None else np.add(out, d, out=out)
    return out


#: Pixels (or colours) handled per block in the nearest-colour search and the fringe clean-up: bounds
#: the temporary arrays (about 200 bytes a pixel) whatever the image size.
_BLOCK = 1 << 18


def _nearest(colours: np.ndarray, palette: Palette) -> tuple[np.ndarray, np.ndarray]:
    """For ``[N, 3]`` uint8 colours, the row of ``palette.lut_paint`` nearest to each (the first on ties,
    as a search of the whole table finds), and the distance. Works in blocks of :data:`_BLOCK`."""
    if len(colours) > _BLOCK:
        parts = [_nearest(colours[i : i + _BLOCK], palette) for i in range(0, len(colours), _BLOCK)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    cand_table, count, table = _candidates(palette)
    cells = colours.astype(np.int32) >> (8 - _GRID_BITS)
    cell = (cells[:, 0] << (2 * _GRID_BITS)) | (cells[:, 1] << _GRID_BITS) | cells[:, 2]
    narrow = count[cell] <= _NARROW
    row = np.empty(len(colours), np.int64)
    d2min = np.empty(len(colours), np.float32)
    for sel, width in ((np.flatnonzero(narrow), _NARROW), (np.flatnonzero(~narrow), cand_table.shape[1])):
        if len(sel):
            cand = cand_table[cell[sel], :width]  # [n, width]
            d2 = _sq_distances(colours[sel], table, cand)
            j = d2.argmin(1)
            ar = np.arange(len(j))
            row[sel], d2min[sel] = cand[ar, j], d2[ar, j]
    return row, np.sqrt(d2min.astype(np.float64))


def _index_ids(arr: np.ndarray, palette: Palette) -> np.ndarray:
    """Validate an index map (whole-number ids of ``palette``) and return it in ``palette.dtype``."""
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("an index map must hold whole-number ids")
    bad = ~palette.is_valid_id(arr)
    if bad.any():
        vals = np.unique(arr[bad])[:8].tolist()
        raise ValueError(f"index map holds ids not in palette {palette.name!r}: {vals}")
    return arr.astype(palette.dtype)


def _exact_ids(arr: np.ndarray, palette: Palette) -> np.ndarray:
    """``[H, W]`` uint16 ids of the exactly painted pixels of an RGB(A) array, ``_MISS`` elsewhere (in bands
    of rows, so the packed colour codes never exist for the whole of a large image at once)."""
    h, w = arr.shape[:2]
    lut = _lut(palette)
    rows = max(1, 4 * _BAND_PIXELS // w)
    if rows >= h:
        return np.take(lut, pack_rgb(arr))  # take: faster than fancy indexing on a large table
    ids16 = np.empty((h, w), np.uint16)
    for y in range(0, h, rows):
        np.take(lut, pack_rgb(arr[y : y + rows]), out=ids16[y : y + rows])
    return ids16


def _fill_transparent(arr: np.ndarray, ids16: np.ndarray, fill: int) -> np.ndarray | None:
    """Set the ids of RGBA pixels with alpha < 128 to ``fill``; their mask, or None when there are none."""
    transparent = arr[..., 3] < TRANSPARENT_BELOW
    if not transparent.any():
        return None
    ids16[transparent] = fill
    return transparent


_RADII: dict[str, np.ndarray] = {}


def _confident_radius(palette: Palette) -> np.ndarray:
    """Per row of ``palette.lut_paint``: how far a colour may lie from it and still count as confidently
    that paint (:data:`CONFIDENT_DISTANCE`, or half the distance to another class's nearest colour)."""
    radius = _RADII.get(palette.name)
    if radius is None:
        paint = palette.lut_paint.astype(np.float64)
        d = np.sqrt(((paint[:, None] - paint[None]) ** 2).sum(-1))
        d[palette.lut_ids[:, None] == palette.lut_ids[None]] = np.inf  # a class's own colours do not count
        radius = _RADII[palette.name] = np.minimum(CONFIDENT_DISTANCE, d.min(1) / 2)
    return radius


#: Rows of pixels per band when snapping off-palette colours: about 2^20 pixels, so the temporary
#: arrays of one band (about 200 bytes a missed pixel) stay near 200 MB whatever the image size.
_BAND_PIXELS = 1 << 20


@dataclass
class _Snapped:
    """Running totals of the bands of :func:`_snap_misses`."""

    snapped: int = 0
    beyond: int = 0
    max_distance: float = 0.0
    worst: tuple = ()


def _snap(codes: np.ndarray, palette: Palette, tolerance: float, fill: int | None):
    """Nearest paint colour of each off-palette colour code, searched once per distinct colour.

    Returns ``(ucol, inverse, uid, dist, sure, far)``: the distinct colours ``[U, 3]``, each code's row
    among them, their ids (``fill`` beyond ``tolerance`` when ``fill`` is not None), distances, whether
    confidently that paint (:func:`_confident_radius`) and whether beyond ``tolerance``.
    """
    uniq, inverse = np.unique(codes, return_inverse=True)
    ucol = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1).astype(np.uint8)
    idx, dist = _nearest(ucol, palette)
    uid = palette.lut_ids[idx].astype(np.uint16)
    sure = dist <= _confident_radius(palette)[idx]
    far = dist > tolerance
    if fill is not None and far.any():
        uid = np.where(far, np.uint16(fill), uid)
    return ucol, inverse, uid, dist, sure, far


def _snap_misses(
    ids16: np.ndarray,
    arr: np.ndarray,
    miss: np.ndarray,
    palette: Palette,
    *,
    tolerance: float,
    off_palette: OffPalette,
    fill: int,
    cleanup: bool,
) -> tuple[int, int, int, float]:
    """Give the ``miss`` pixels (no exact paint colour) of ``ids16`` their nearest colour's id, in place,
    one band of rows at a time (:data:`_BAND_PIXELS`), so memory stays bounded on large images.

    With ``cleanup``, unsure fringe pixels then go to a confident neighbour's class (:func:`_cleanup`).
    Returns ``(snapped, beyond, cleaned, max_distance)`` for the :class:`LabelReport`; raises with
    ``off_palette="error"`` once every band is counted.
    """
    h, w = ids16.shape
    rows = max(1, _BAND_PIXELS // w)
    flat_ids = ids16.reshape(-1)
    confident = ~miss if cleanup else None  # exact and confidently snapped pixels: the clean-up's candidates
    unsure = np.zeros(h * w, bool) if cleanup else None
    total = _Snapped()
    for y in range(0, h, rows):
        flat = np.flatnonzero(miss[y : y + rows])
        if not len(flat):
            continue
        codes = np.take(pack_rgb(arr[y : y + rows]).reshape(-1), flat)
        ucol, inverse, uid, dist, sure, far = _snap(codes, palette, tolerance, fill if off_palette == "fill" else None)
        flat += y * w
        np.put(flat_ids, flat, uid[inverse])
        beyond = int(np.count_nonzero(far[inverse])) if far.any() else 0
        total.beyond += beyond
        total.snapped += len(flat) - (beyond if off_palette == "fill" else 0)
        if dist.max() > total.max_distance:
            total.max_distance, total.worst = float(dist.max()), tuple(ucol[dist.argmax()].tolist())
        if cleanup:
            pix_sure = sure[inverse]
            np.put(confident, flat, pix_sure)
            shaky = ~pix_sure
            if off_palette == "fill":
                shaky &= ~far[inverse]
            unsure[flat[shaky]] = True
    if total.beyond and off_palette == "error":
        raise ValueError(
            f"{total.beyond} pixels are beyond tolerance {tolerance:g} of every colour of palette "
            f"{palette.name!r} (e.g. RGB {list(total.worst)}, distance {total.max_distance:.0f})"
        )
    cleaned = _cleanup(ids16, confident, unsure, arr, palette) if cleanup and unsure.any() else 0
    return total.snapped, total.beyond, cleaned, total.max_distance


def to_labels(
    image,
    palette: Palette | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    off_palette: OffPalette = "nearest",
    fill: int | None = None,
    cleanup: bool = True,
    return_report: bool = False,
):
    """Convert a painted image to label ids.

    Args:
        image: PIL image, ndarray (``[H,W]`` ids, ``[H,W,3]`` RGB, ``[H,W,4]`` RGBA; uint8, uint16 or
            float in 0..1), a path, or the bytes of an image file. L/P/16-bit index images are taken
            as ids and validated.
        palette: a :class:`~palettes.Palette` or its name.
        tolerance: RGB distance within which an off-palette colour snaps to its nearest paint colour.
        off_palette: what to do with pixels beyond ``tolerance``: ``"nearest"`` (snap anyway),
            ``"fill"`` (use the fill class) or ``"error"`` (raise ``ValueError``).
        fill: id for transparent pixels (alpha < 128) and ``off_palette="fill"``; default palette fill.
        cleanup: reassign snapped fringe pixels (not confidently one colour) to the nearest-coloured
            class among confident pixels within 2 px. Exactly painted pixels are never changed.
        return_report: also return a :class:`LabelReport`.

    Returns:
        ``[H, W]`` ids in ``palette.dtype`` (uint8 for every built-in palette but none over 256 ids),
        and the report when asked.
    """
    palette = load_palette(palette)
    if off_palette not in ("nearest", "fill", "error"):
        raise ValueError(f"off_palette must be 'nearest', 'fill' or 'error', not {str(off_palette)[:40]!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.number)) or not tolerance >= 0:
        raise ValueError(f"tolerance must be an RGB distance >= 0, got {str(tolerance)[:40]!r}")
    if fill is not None and (isinstance(fill, bool) or not isinstance(fill, (int, np.integer))):
        raise ValueError(f"fill must be a class id (an integer), got {str(fill)[:40]!r}")
    fill = palette.fill if fill is None else int(fill)
    if not palette.is_valid_id(np.asarray(fill)):
        raise ValueError(f"fill id {fill} is not a class of palette {palette.name!r}")
    if isinstance(image, (str, Path, bytes)):
        image = open_image(image)
    frames = frame_count(image)
    arr, kind = _as_array(image, palette)
    _check_size(arr.shape)
    h, w = arr.shape[:2]
    if kind == "index":
        ids = _index_ids(arr, palette)
        return (ids, LabelReport(h * w, h * w, 0, 0, 0, 0, 0.0, frames)) if return_report else ids

    ids16 = _exact_ids(arr, palette)
    transparent = _fill_transparent(arr, ids16, fill) if kind == "rgba" else None
    miss = ids16 == _MISS
    n_miss = int(np.count_nonzero(miss))
    snapped = beyond = cleaned = 0
    max_d = 0.0
    if n_miss:
        snapped, beyond, cleaned, max_d = _snap_misses(
            ids16, arr, miss, palette, tolerance=tolerance, off_palette=off_palette, fill=fill, cleanup=cleanup
        )
    ids = ids16.astype(palette.dtype)
    if not return_report:
        return ids
    n_tr = 0 if transparent is None else int(np.count_nonzero(transparent))
    exact = h * w - n_miss - n_tr
    return ids, LabelReport(h * w, exact, snapped, beyond, cleaned, n_tr, round(max_d, 2), frames)


class LabelPalette(Palette):
    """A :class:`~palettes.Palette` that also reads paint: ``pal.to_labels(image)`` (what :func:`palette` returns)."""

    def to_labels(self, image, **kwargs) -> np.ndarray:
        """Painted image -> ``[H, W]`` label ids. See :func:`to_labels` for the keyword arguments."""
        return to_labels(image, self, **kwargs)


_PALETTES: dict[str, LabelPalette] = {}


def palette(name: str | Palette) -> LabelPalette:
    """The palette ``name`` (one of :data:`palettes.NAMES`) as a :class:`LabelPalette` (cached)."""
    base = load_palette(name)
    if isinstance(base, LabelPalette):
        return base
    cached = _PALETTES.get(base.name)
    if cached is None or cached.names != base.names:  # a custom palette under a built-in name is not cached
        cached = LabelPalette(**{f.name: getattr(base, f.name) for f in fields(base)})
        _PALETTES.setdefault(base.name, cached)
    return cached


def _cleanup(ids16, confident, unsure, arr, palette, radius: int = 2) -> int:
    """Reassign the ``unsure`` pixels (flat bool mask) to the nearest-coloured confident class within
    ``radius``; ``arr`` holds their colours.

    A pixel blended from two colours can be nearest to a third class (a fringe); its confident
    neighbours name the classes actually painted there. Pixels with no confident neighbour keep
    their nearest colour; ties go to the first neighbour in row-major window order (coordinates
    clipped at the image border). Only confident pixels are read and only unsure ones written, so the
    blocks may go in any order. Returns how many pixels changed.
    """
    w = ids16.shape[1]
    flat_ids = ids16.reshape(-1)
    pixels = arr.reshape(-1, arr.shape[-1])
    table = palette.colour_table().astype(np.int32)
    # Edge padding reproduces clipped neighbour coordinates; one flat gather fetches every window.
    padded = np.pad(np.where(confident, ids16, _MISS), radius, mode="edge")  # _MISS: not confident
    pw = w + 2 * radius
    offs = np.array(
        [dy * pw + dx for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dy or dx]
    )
    changed = 0
    rows = max(1, _BLOCK // w)
    for y in range(0, ids16.shape[0], rows):  # blocks bound the [K, n] windows
        part = np.flatnonzero(unsure[y * w : (y + rows) * w]) + y * w
        if not len(part):
            continue
        base = part + (part // w) * (2 * radius) + radius * pw + radius  # each pixel's index in ``padded``
        cand = np.take(padded, offs[:, None] + base[None, :])  # [K, n]: window order along axis 0
        own = np.take(flat_ids, part)
        new = _fringe_ids(cand, pixels[part, :3], own.copy(), table)
        np.put(flat_ids, part, new)
        changed += int(np.count_nonzero(new != own))
    return changed


def _fringe_ids(cand: np.ndarray, colours: np.ndarray, new: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The clean-up's choice for one block: ``cand`` ``[K, n]`` neighbour ids (``_MISS``: not confident),
    ``colours`` ``[n, 3]``, ``new`` the current ids (returned, updated)."""
    nobody = _MISS
    # Most windows hold at most two confident classes (an edge between two paints): the smallest and
    # largest id are then all the candidates, and two distances decide.
    lo = cand.min(0)
    hi = (cand + np.uint16(1)).max(0) - np.uint16(1)  # ``nobody`` wraps to 0: the largest confident id
    has = lo != nobody
    three = ((cand > lo) & (cand < hi)).any(0)  # some confident class lies strictly between
    sel = np.flatnonzero(has & ~three)
    if len(sel):
        lo_s, hi_s = lo[sel], hi[sel]
        d = _sq_distances(colours[sel], table, np.stack([lo_s, hi_s], 1))
        pick_hi = d[:, 1] < d[:, 0]
        tied = np.flatnonzero((d[:, 1] == d[:, 0]) & (lo_s != hi_s))
        if len(tied):  # equal distance: the class met first in window order wins
            c = cand[:, sel[tied]]
            pick_hi[tied] = (c == hi_s[tied]).argmax(0) < (c == lo_s[tied]).argmax(0)
        new[sel] = np.where(pick_hi, hi_s, lo_s)
    sel = np.flatnonzero(has & three)
    if len(sel):
        table = _with_far_row(table)
        c = cand[:, sel].T
        c = np.where(c == nobody, len(table) - 1, c)
        new[sel] = c[np.arange(len(sel)), _sq_distances(colours[sel], table, c).argmin(1)]
    return new


def to_colors(ids, palette: Palette | str, *, trained: bool = False) -> np.ndarray:
    """``[H, W]`` ids -> ``[H, W, 3]`` uint8 colours (paint colours, or ``trained=True`` colours)."""
    return load_palette(palette).to_colors(ids, trained=trained)


# --------------------------------------------------------------------------------------------------
# index PNG files


def _sixteen_bit(values, what: str, plural: str) -> np.ndarray:
    """``values`` as an ``[H, W]`` integer array a PNG can hold (0..65535); one-line errors naming ``what``."""
    arr = np.asarray(values)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"expected an [H, W] integer {what}, got {arr.dtype} {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > 65535):
        raise ValueError(f"{plural} must lie in 0..65535")
    return arr


def write_index_png(ids: np.ndarray, path_or_file, palette: Palette | str | None = None) -> None:
    """Write ids as a PNG: 8-bit palette PNG (with the paint colours) when every id < 256, else 16-bit."""
    ids = _sixteen_bit(ids, "id map", "ids")
    if ids.size and ids.max() < 256:
        img = Image.fromarray(ids.astype(np.uint8), mode="P")
        if palette is not None:
            pal = load_palette(palette)
            table = np.zeros((256, 3), np.uint8)
            t = pal.colour_table()
            table[: len(t)] = t
            img.putpalette(table.reshape(-1).tolist())
        else:
            img.putpalette([v for i in range(256) for v in (i, i, i)])
    else:
        img = Image.fromarray(ids.astype(np.uint16))
    img.save(path_or_file, format="PNG")


def read_index_png(path_or_file, palette: Palette | str | None = None) -> np.ndarray:
    """Read an index PNG (8-bit L/P or 16-bit) as ids; validated against ``palette`` when given."""
    img = open_image(path_or_file) if isinstance(path_or_file, (str, Path, bytes)) else Image.open(path_or_file)
    if img.mode not in INDEX_MODES:
        raise ValueError(f"not an index PNG (mode {img.mode!r}); use to_labels for colour maps")
    arr = np.asarray(img)
    if palette is not None:
        return to_labels(arr, palette)
    return arr.astype(np.uint16 if arr.max(initial=0) > 255 else np.uint8)


# --------------------------------------------------------------------------------------------------
# ids -> tensors


#: Instance maps as Daub writes them (16-bit PNG): a stuff pixel holds its class id (< 256), each thing
#: object ``THING_BASE + k`` (k = 0, 1, ...), so edges fall between objects and between classes, as in SPADE.
THING_BASE = 256


def write_instance_png(instance: np.ndarray, path_or_file) -> None:
    """Write an instance map (integers in 0..65535) as a 16-bit greyscale PNG (:func:`read_instance_map` reads it)."""
    inst = _sixteen_bit(instance, "instance map", "instance ids")
    Image.fromarray(inst.astype(np.uint16)).save(path_or_file, format="PNG")


def read_instance_map(path: str | Path) -> np.ndarray:
    """An instance map file -> ``[H, W]`` int64 instance ids (index PNG values, or one id per colour)."""
    img = open_image(path)
    if img.mode in INDEX_MODES:
        return np.asarray(img).astype(np.int64)
    return pack_rgb(np.asarray(img.convert("RGB"))).astype(np.int64)


def one_hot(
    ids,
    palette: Palette | str,
    *,
    dontcare: bool | None = None,
    instance=None,
    dtype=None,
):
    """Label ids -> one-hot float tensor ``[C', H, W]`` (or ``[B, C', H, W]`` for batched ids).

    Channels: the ``C`` classes; then, when ``dontcare`` (default: the palette has a don't-care id),
    one don't-care channel at index ``C`` that is 1 where ``ids == palette.dontcare`` (for SPADE
    ade20k this is channel 150: ADE's "other" = annotation 0); then, when ``instance`` (an id map of
    instances, same shape) is given, one instance-edge channel (see :func:`instance_edges`).
    Without a don't-care channel, don't-care pixels are all-zero.
    """
    import torch

    palette = load_palette(palette)
    arr = ids if isinstance(ids, torch.Tensor) else np.asarray(ids)
    if isinstance(arr, np.ndarray) and not arr.flags.writeable:  # e.g. a cached map: torch warns on sharing it
        arr = arr.copy()
    t = torch.as_tensor(arr)
    if t.ndim not in (2, 3):
        raise ValueError(f"expected [H, W] or [B, H, W] ids, got shape {tuple(t.shape)}")
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"ids must be integers, got {t.dtype}")
    t = t.long()
    c = palette.num_classes
    valid = t < c
    if palette.dontcare is not None:
        valid |= t == palette.dontcare
    if not bool(valid.all()) or bool((t < 0).any()):
        bad = torch.unique(t[~valid | (t < 0)])[:8].tolist()
        raise ValueError(f"ids not in palette {palette.name!r}: {bad}")
    use_dc = palette.dontcare is not None if dontcare is None else bool(dontcare)
    if use_dc and palette.dontcare is None:
        raise ValueError(f"palette {palette.name!r} has no don't-care id")
    batched = t.ndim == 3
    if not batched:
        t = t[None]
    n_ch = c + (1 if use_dc else 0)
    idx = t.clone()
    if palette.dontcare is not None:
        idx[t == palette.dontcare] = c if use_dc else n_ch  # n_ch = a scratch channel, dropped below
    out = torch.zeros((t.shape[0], n_ch + 1, *t.shape[1:]), dtype=dtype or torch.float32, device=t.device)
    out.scatter_(1, idx[:, None], 1.0)
    out = out[:, :n_ch]
    if instance is not None:
        edges = instance_edges(instance)
        if edges.ndim == 2:
            edges = edges[None]
        if tuple(edges.shape) != tuple(t.shape):
            raise ValueError(
                f"instance map shape {tuple(edges.shape)[-2:]} differs from label shape {tuple(t.shape)[-2:]}"
            )
        out = torch.cat([out, edges[:, None].to(out.dtype)], 1)
    return out if batched else out[0]


def instance_edges(instance):
    """Instance-boundary map as in SPADE: 1 where a pixel differs from any 4-neighbour, else 0.

    ``instance``: ``[H, W]`` or ``[B, H, W]`` integer instance ids. Returns a float tensor of that shape.
    """
    import torch

    t = torch.as_tensor(np.asarray(instance) if not isinstance(instance, torch.Tensor) else instance)
    if t.ndim not in (2, 3):
        raise ValueError(f"expected an [H, W] instance map, got shape {tuple(t.shape)}")
    if t.is_floating_point():
        raise ValueError("instance ids must be integers")
    t = t.long()
    e = torch.zeros(t.shape, dtype=torch.bool)
    dx = t[..., :, 1:] != t[..., :, :-1]
    dy = t[..., 1:, :] != t[..., :-1, :]
    e[..., :, 1:] |= dx
    e[..., :, :-1] |= dx
    e[..., 1:, :] |= dy
    e[..., :-1, :] |= dy
    return e.float()


def resize_labels(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an id map to ``size = (width, height)``; never blends ids.

    Uses the pixel-centre rule (source pixel ``floor((x + 0.5) * W_in / W_out)``), so upscaling by
    an integer factor repeats pixels exactly and downscaling picks evenly spaced samples.
    """
    ids = np.asarray(ids)
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"target size must be positive, got {w}x{h}")
    H, W = ids.shape[:2]
    if (H, W) == (h, w):
        return ids
    ys = np.minimum(((np.arange(h) + 0.5) * H / h).astype(np.int64), H - 1)
    xs = np.minimum(((np.arange(w) + 0.5) * W / w).astype(np.int64), W - 1)
    return ids[ys[:, None], xs[None, :]]


def snap_size(width: int, height: int, multiple: int, *, max_side: int | None = None) -> tuple[int, int]:
    """Round ``(width, height)`` to the nearest multiple of ``multiple`` (at least one multiple).

    With ``max_side``, both sides are first scaled down together so the longer one fits.
    Rule: ``round(x / multiple) * multiple``, ties away from zero, minimum ``multiple``.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {width}x{height}")
    if multiple < 1:
        raise ValueError("multiple must be >= 1")
    if max_side and max(width, height) > max_side:
        s = max_side / max(width, height)
        width, height = width * s, height * s

    def r(x: float) -> int:
        return max(multiple, int(np.floor(x / multiple + 0.5)) * multiple)

    w, h = r(width), r(height)
    if max_side:
        while w > max_side:
            w -= multiple
        while h > max_side:
            h -= multiple
    return w, h
