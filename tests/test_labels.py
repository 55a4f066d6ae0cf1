"""Painted pixels -> label ids: input kinds, snapping, cleanup, blended edges, index PNGs, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

import synth
from synth import labels
from synth.labels import LabelReport, open_image, read_index_png, to_colors, to_labels, write_index_png

ADE = synth.palette("ade20k")
LAND = synth.palette("landscape")


def random_ids(palette, shape=(24, 32), seed=0) -> np.ndarray:
    ids = np.random.default_rng(seed).choice(palette.lut_ids, size=shape)
    return ids.astype(palette.dtype)


def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# input kinds


@pytest.mark.parametrize("name", synth.PALETTES)
def test_exact_colours_are_exact(name):
    pal = synth.palette(name)
    ids = random_ids(pal, (40, 50))
    out, report = to_labels(pal.to_colors(ids), pal, return_report=True)
    np.testing.assert_array_equal(out, ids)
    assert out.dtype == np.uint8 and out.shape == (40, 50)
    assert report == LabelReport(2000, 2000, 0, 0, 0, 0, 0.0)


def test_pil_rgb_rgba_and_array_agree():
    ids = random_ids(ADE)
    rgb = ADE.to_colors(ids)
    rgba = np.dstack([rgb, np.full(ids.shape, 255, np.uint8)])
    for image in (rgb, rgba, Image.fromarray(rgb), Image.fromarray(rgba, "RGBA"), rgb.copy(order="F")):
        np.testing.assert_array_equal(to_labels(image, "ade20k"), ids)


def test_palette_method_and_name_argument():
    ids = random_ids(LAND)
    np.testing.assert_array_equal(LAND.to_labels(LAND.to_colors(ids)), ids)
    np.testing.assert_array_equal(to_labels(LAND.to_colors(ids), "landscape"), ids)


def test_path_and_file_input(tmp_path):
    ids = random_ids(ADE)
    path = tmp_path / "paint.png"
    Image.fromarray(ADE.to_colors(ids)).save(path)
    np.testing.assert_array_equal(to_labels(path, ADE), ids)
    np.testing.assert_array_equal(to_labels(str(path), ADE), ids)
    np.testing.assert_array_equal(to_labels(open_image(path.read_bytes()), ADE), ids)
    np.testing.assert_array_equal(to_labels(path.read_bytes(), ADE), ids)


def test_rgba_transparent_is_fill():
    ids = random_ids(LAND, (10, 12))
    rgba = np.dstack([LAND.to_colors(ids), np.full(ids.shape, 255, np.uint8)])
    rgba[2:4, 3:7, 3] = 0  # erased
    rgba[5, 5, 3] = 127  # mostly transparent counts as transparent
    rgba[6, 6, 3] = 128  # mostly opaque keeps its colour
    want = ids.copy()
    want[2:4, 3:7] = LAND.fill
    want[5, 5] = LAND.fill
    out, report = to_labels(rgba, LAND, return_report=True)
    np.testing.assert_array_equal(out, want)
    assert report.transparent == 9 and report.exact == 120 - 9
    want[2:4, 3:7] = want[5, 5] = 5
    np.testing.assert_array_equal(to_labels(rgba, LAND, fill=5), want)
    np.testing.assert_array_equal(to_labels(Image.fromarray(rgba, "RGBA"), LAND, fill=5), want)


def test_transparent_pixels_colour_is_ignored():
    rgba = np.zeros((4, 4, 4), np.uint8)  # transparent black: black is landscape's don't-care colour
    rgba[..., :3] = 7  # and an off-palette colour
    out, report = to_labels(rgba, LAND, return_report=True, off_palette="error")
    assert (out == LAND.fill).all()
    assert report.transparent == 16 and report.snapped == 0


def test_fill_must_be_a_class():
    with pytest.raises(ValueError, match="fill id 99 is not a class of palette 'landscape'"):
        to_labels(np.zeros((2, 2, 3), np.uint8), LAND, fill=99)


def test_index_images_are_ids_and_validated():
    ids = random_ids(ADE)  # includes don't-care 255
    for image in (Image.fromarray(ids, "L"), Image.fromarray(ids, "P"), ids, ids[..., None], ids.astype(np.int64)):
        out = to_labels(image, ADE)
        np.testing.assert_array_equal(out, ids)
        assert out.dtype == np.uint8
    bad = ids.copy()
    bad[0, 0] = 200
    with pytest.raises(ValueError, match=r"index map holds ids not in palette 'ade20k': \[200\]"):
        to_labels(Image.fromarray(bad, "L"), ADE)
    with pytest.raises(ValueError, match=r"not in palette 'landscape': \[-1\]"):
        to_labels(np.array([[0, -1]]), LAND)


def test_float_index_maps_need_whole_numbers():
    np.testing.assert_array_equal(to_labels(np.array([[0.0, 3.0]]), LAND), [[0, 3]])
    with pytest.raises(ValueError, match="whole-number ids"):
        to_labels(np.array([[0.5, 3.0]]), LAND)
    with pytest.raises(ValueError, match="whole-number ids"):
        to_labels(np.array([[np.nan, 3.0]]), LAND)


def test_palette_png_with_transparency_is_a_colour_image():
    ids = np.array([[0, 1], [2, 3]], np.uint8)
    img = Image.fromarray(ids, "P")
    img.putpalette(LAND.colour_table()[:4].reshape(-1).tolist())
    img.info["transparency"] = 3  # index 3 is transparent -> fill
    data = png_bytes(img, transparency=3)
    out = to_labels(Image.open(io.BytesIO(data)), LAND)
    assert out.tolist() == [[0, 1], [2, LAND.fill]]


def test_16bit_index_png(tmp_path):
    ids = random_ids(ADE)
    path = tmp_path / "ids16.png"
    Image.fromarray(ids.astype(np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    np.testing.assert_array_equal(to_labels(path, ADE), ids)


def test_16bit_and_float_colour_arrays():
    ids = random_ids(ADE)
    rgb = ADE.to_colors(ids)
    np.testing.assert_array_equal(to_labels(rgb.astype(np.uint16) * 257, ADE), ids)
    np.testing.assert_array_equal(to_labels(rgb.astype(np.float32) / 255, ADE), ids)
    np.testing.assert_array_equal(to_labels(rgb.astype(np.float64), ADE), ids)  # 0..255 floats
    rgba = np.dstack([rgb, np.full(ids.shape, 65535, np.uint16)]).astype(np.uint16)
    rgba[..., :3] *= 257
    np.testing.assert_array_equal(to_labels(rgba, ADE), ids)


def test_other_pil_modes_convert():
    ids = np.array([[0, 1], [2, 3]], np.uint8)
    rgb = Image.fromarray(LAND.to_colors(ids))
    np.testing.assert_array_equal(to_labels(rgb.convert("RGBa"), LAND), ids)
    la = Image.new("LA", (2, 2), (0, 0))  # fully transparent grey
    assert (to_labels(la, LAND) == LAND.fill).all()


# --------------------------------------------------------------------------------------------------
# off-palette colours


def test_off_palette_snaps_within_tolerance():
    img = LAND.to_colors(np.zeros((3, 3), np.uint8))  # sky (135, 200, 240)
    img[1, 1] = (140, 195, 236)  # 8.1 away from sky
    out, report = to_labels(img, LAND, return_report=True)
    assert (out == 0).all()
    assert (report.exact, report.snapped, report.beyond_tolerance) == (8, 1, 0)
    assert report.max_distance == pytest.approx(np.sqrt(25 + 25 + 16), abs=0.01)
    assert report.to_dict()["snapped"] == 1


def test_off_palette_modes():
    img = LAND.to_colors(np.full((2, 3), 1, np.uint8))  # tree (34, 120, 40)
    img[0, 0] = (250, 0, 250)  # magenta: far from every landscape colour
    far = np.sqrt(((np.array([250, 0, 250]) - LAND.lut_paint.astype(int)) ** 2).sum(1)).min()
    assert far > labels.DEFAULT_TOLERANCE

    out, rep = to_labels(img, LAND, return_report=True)  # nearest (default): snapped anyway, counted
    assert out[0, 0] in LAND.lut_ids and (out.ravel()[1:] == 1).all()
    assert (rep.snapped, rep.beyond_tolerance) == (1, 1)
    assert rep.max_distance == pytest.approx(far, abs=0.01)

    out, rep = to_labels(img, LAND, off_palette="fill", return_report=True)
    assert out[0, 0] == LAND.fill and (rep.snapped, rep.beyond_tolerance) == (0, 1)
    out = to_labels(img, LAND, off_palette="fill", fill=LAND.id_of("water"))
    assert out[0, 0] == 4

    with pytest.raises(
        ValueError, match=r"1 pixels are beyond tolerance 64 .*'landscape' \(e\.g\. RGB \[250, 0, 250\]"
    ):
        to_labels(img, LAND, off_palette="error")
    # A larger tolerance accepts it.
    assert to_labels(img, LAND, off_palette="error", tolerance=far + 1)[0, 0] in LAND.lut_ids
    with pytest.raises(ValueError, match="off_palette must be 'nearest', 'fill' or 'error', not 'snap'"):
        to_labels(img, LAND, off_palette="snap")


def fringe_case(near: bool = False):
    """Two ADE20K classes A | B whose 50/50 blend is nearest to a third class C (a fringe).

    ``near``: C lies within :data:`~synth.labels.CONFIDENT_DISTANCE` of the blend, but more than half
    the way from C to the nearest other class's colour (ADE20K's colours lie close together).
    """
    paint = ADE.paint.astype(int)
    gap = np.sqrt(((paint[:, None] - paint[None]) ** 2).sum(-1))
    np.fill_diagonal(gap, np.inf)
    for a in range(ADE.num_classes):
        for b in range(a + 1, ADE.num_classes):
            mid = (paint[a] + paint[b] + 1) // 2
            d = np.sqrt(((paint - mid) ** 2).sum(1))
            c = int(d.argmin())
            if c in (a, b) or d[c] + 5 >= min(d[a], d[b]):
                continue
            if near and gap[c].min() / 2 < d[c] <= labels.CONFIDENT_DISTANCE:
                return a, b, c, mid
            if not near and d[c] > labels.CONFIDENT_DISTANCE:
                return a, b, c, mid
    raise AssertionError("no fringe case in ADE20K")


@pytest.mark.parametrize("near", [False, True], ids=["far-third", "near-third"])
def test_cleanup_fixes_fringe_and_never_touches_exact_pixels(near):
    a, b, c, mid = fringe_case(near)
    ids = np.full((12, 11), a, np.uint8)
    ids[:, 6:] = b
    img = ADE.to_colors(ids)
    img[:, 5] = mid  # a blended column between A and B (true id: A)
    img[10, 5] = ADE.paint[c]  # one exactly painted C pixel inside the fringe column
    img[1, 1] = ADE.paint[c]  # and one inside A
    exact = np.ones(ids.shape, bool)
    exact[:, 5] = False
    exact[10, 5] = True

    raw, raw_rep = to_labels(img, ADE, cleanup=False, return_report=True)
    assert (raw[:, 5][:10] == c).all(), "without cleanup the fringe keeps its nearest colour"
    assert raw_rep.cleaned == 0

    out, rep = to_labels(img, ADE, return_report=True)
    np.testing.assert_array_equal(out[exact], raw[exact])  # exact pixels untouched, C ones included
    assert out[10, 5] == c and out[1, 1] == c
    # Fringe pixels away from the painted C pixel go to A or B (whichever colour is nearer to the blend).
    nearer = a if np.sum((ADE.paint[a] - mid) ** 2) <= np.sum((ADE.paint[b] - mid) ** 2) else b
    assert (out[:8, 5] == nearer).all()
    assert rep.cleaned == int(np.count_nonzero(out != raw)) >= 8
    assert rep.snapped == 11 and rep.exact == 12 * 11 - 11


def test_cleanup_leaves_isolated_unsure_pixels_alone():
    """A blended pixel with no confident neighbour keeps its nearest colour."""
    a, b, c, mid = fringe_case()
    img = np.broadcast_to(np.asarray(mid, np.uint8), (5, 5, 3)).copy()
    assert (to_labels(img, ADE) == c).all()


# --------------------------------------------------------------------------------------------------
# blended edges: anti-aliased shapes, box-downsampled, and JPEG


def isolated_classes(palette, min_dist: float = 60) -> list[int]:
    """Classes whose paint colour is at least ``min_dist`` from every other paint colour of the palette."""
    c = palette.lut_paint.astype(float)
    d = np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return [int(i) for i, m in zip(palette.lut_ids, d.min(1)) if m >= min_dist and i < palette.num_classes]


def draw_scene(classes, seed: int, size: int = 256, scale: int = 4) -> np.ndarray:
    """An id map at ``scale`` x ``size``: a background, ellipses, convex polygons and thick lines."""
    rng = np.random.default_rng(seed)
    big = size * scale
    img = Image.new("L", (big, big), int(rng.choice(classes)))
    draw = ImageDraw.Draw(img)
    for k in range(6):
        cls = int(rng.choice(classes))
        cx, cy = (float(v) for v in rng.integers(0, big, 2))
        r = float(rng.integers(big // 10, big // 4))
        if k % 3 == 0:
            draw.ellipse([cx - r, cy - 0.7 * r, cx + r, cy + 0.7 * r], fill=cls)
        elif k % 3 == 1:
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
            draw.polygon([(cx + r * np.cos(t), cy + r * np.sin(t)) for t in angles], fill=cls)
        else:
            points = [tuple(float(v) for v in rng.integers(0, big, 2)) for _ in range(3)]
            draw.line(points, fill=cls, width=int(rng.integers(40, 90)), joint="curve")
    return np.asarray(img)


def blended(palette, classes, seed: int, jpeg: bool):
    """Paint colours drawn at 4x, box-downsampled to 256x256 (soft edges), optionally JPEG q75.

    Returns ``(image, true ids, distance of each pixel to the nearest class boundary)``. A pixel is on a
    boundary when a 4-neighbour's true id differs or its 4x4 source block holds more than one class.
    """
    big = draw_scene(classes, seed)
    true = big[2::4, 2::4]
    image = Image.fromarray(palette.to_colors(big)).resize((256, 256), Image.BOX)
    if jpeg:
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=75)
        image = Image.open(io.BytesIO(buf.getvalue()))
    edge = np.zeros(true.shape, bool)
    dx, dy = true[:, 1:] != true[:, :-1], true[1:] != true[:-1]
    edge[:, 1:] |= dx
    edge[:, :-1] |= dx
    edge[1:] |= dy
    edge[:-1] |= dy
    blocks = big.reshape(256, 4, 256, 4)
    edge |= blocks.min((1, 3)) != blocks.max((1, 3))
    return image, true, ndimage.distance_transform_edt(~edge)


# ADE20K has paint colours 7 apart and Cityscapes 20 apart; neither a soft brush nor JPEG can keep
# those apart, so those two palettes are tested with their classes that are >= 60 from every other
# paint colour (snapping still considers every colour). JPEG's 4:2:0 chroma subsampling smears colour
# by about a pixel, so "interior" = at least 2 px from any class boundary.
SCENES = {
    "landscape": None,
    "facades": None,
    "ade20k": 60,
    "cityscapes": 60,
}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blended_edges_dense_palette(seed):
    """ADE20K scenes of any 12 classes (colours as close as 7 apart), soft-edged PNG: >= 98.5 % recovered
    (issue 2's figure). Blends that lie near a third colour are no longer taken as that colour."""
    rng = np.random.default_rng(100 + seed)
    classes = [int(c) for c in rng.choice(ADE.num_classes, 12, replace=False)]
    image, true, dist = blended(ADE, classes, seed, jpeg=False)
    ok = to_labels(image, ADE) == true
    assert ok.mean() >= 0.985, f"{ok.mean():.4f}"
    assert ok[dist >= 2].all()


@pytest.mark.parametrize("jpeg", [False, True], ids=["png", "jpeg75"])
@pytest.mark.parametrize("name", list(SCENES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blended_edges_recover_true_ids(name, seed, jpeg):
    pal = synth.palette(name)
    classes = list(range(pal.num_classes)) if SCENES[name] is None else isolated_classes(pal, SCENES[name])
    assert len(classes) >= 6
    image, true, dist = blended(pal, classes, seed, jpeg)
    ids, report = to_labels(image, pal, return_report=True)
    ok = ids == true
    assert report.snapped > 0 and (report.exact > 0 or jpeg)
    if jpeg and name == "cityscapes":
        # Known limit (measured): JPEG shifts Cityscapes' saturated reds/blues at edges to within 24 of
        # a third class (rider red -> person), which then counts as confidently painted; 98-99 % here.
        assert ok.mean() >= 0.975, f"{ok.mean():.4f}"
        assert ok[dist >= 3].all()
        return
    assert ok.mean() >= 0.99, f"{name} seed {seed}: {ok.mean():.4f} recovered"
    assert ok[dist >= 2].all(), f"{np.count_nonzero(~ok & (dist >= 2))} interior pixels wrong"


def test_blended_edges_report_counts():
    image, true, _ = blended(LAND, list(range(8)), 0, jpeg=False)
    arr = np.asarray(image)
    codes = arr.reshape(-1, 3).astype(np.int64) @ [65536, 256, 1]
    paint = LAND.lut_paint.astype(np.int64) @ [65536, 256, 1]
    exact = int(np.isin(codes, paint).sum())
    _, report = to_labels(image, LAND, return_report=True)
    assert report.exact == exact
    assert report.snapped == 256 * 256 - exact
    assert 0 < report.cleaned <= report.snapped


# --------------------------------------------------------------------------------------------------
# index PNG files and to_colors


def test_index_png_round_trip(tmp_path):
    ids = random_ids(ADE)
    path = tmp_path / "ids.png"
    write_index_png(ids, path, ADE)
    img = Image.open(path)
    assert img.mode == "P"
    table = np.asarray(img.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(table[:150], ADE.paint)
    np.testing.assert_array_equal(table[255], ADE.dontcare_rgb)
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), ADE.to_colors(ids))  # viewers see the paint
    np.testing.assert_array_equal(read_index_png(path), ids)
    np.testing.assert_array_equal(read_index_png(path, ADE), ids)
    np.testing.assert_array_equal(to_labels(path, ADE), ids)
    buf = io.BytesIO()
    write_index_png(ids, buf)  # no palette: grey ramp
    img = Image.open(io.BytesIO(buf.getvalue()))
    assert img.mode == "P" and img.getpalette()[3 * 7 : 3 * 8] == [7, 7, 7]
    np.testing.assert_array_equal(read_index_png(buf.getvalue()), ids)


def test_index_png_16bit_for_large_ids(tmp_path):
    ids = np.arange(12 * 30, dtype=np.int64).reshape(12, 30) * 150  # up to 53850
    path = tmp_path / "big.png"
    write_index_png(ids, path)
    assert Image.open(path).mode.startswith("I")
    back = read_index_png(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, ids)
    with pytest.raises(ValueError, match="not in palette 'ade20k'"):
        read_index_png(path, ADE)


def test_write_index_png_rejects_bad_ids(tmp_path):
    with pytest.raises(ValueError, match="ids must lie in 0..65535"):
        write_index_png(np.array([[0, 70000]]), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"expected an \[H, W\] integer id map"):
        write_index_png(np.zeros((2, 2, 3), np.uint8), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"expected an \[H, W\] integer id map"):
        write_index_png(np.zeros((2, 2), np.float32), tmp_path / "x.png")


def test_read_index_png_rejects_colour_png(tmp_path):
    path = tmp_path / "rgb.png"
    Image.new("RGB", (4, 4)).save(path)
    with pytest.raises(ValueError, match="not an index PNG \\(mode 'RGB'\\); use to_labels"):
        read_index_png(path)


def test_to_colors():
    ids = np.array([[0, 6, 48, 255]])
    paint = to_colors(ids, ADE)
    assert paint.shape == (1, 4, 3) and paint.dtype == np.uint8
    assert paint[0].tolist() == [[120, 120, 120], [140, 140, 140], ADE.paint[48].tolist(), [0, 0, 0]]
    assert to_colors(ids, "ade20k", trained=True)[0, 2].tolist() == [140, 140, 140]
    with pytest.raises(ValueError, match=r"ids not in palette 'ade20k': \[150, 200\]"):
        to_colors(np.array([[150, 200]]), ADE)
    with pytest.raises(ValueError, match=r"expected an \[H, W\] id map, got shape \(4,\)"):
        to_colors(np.zeros(4, int), ADE)
    with pytest.raises(ValueError, match="ids must be integers, got float64"):
        to_colors(np.zeros((2, 2)), ADE)


# --------------------------------------------------------------------------------------------------
# bad input: each raises a ValueError naming the problem


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"not": "an image"}, "cannot read an image from dict"),
        (object(), "cannot read an image from object"),
        (None, "cannot read an image from NoneType"),
        (np.zeros((0, 5, 3), np.uint8), r"image is empty \(5x0\)"),
        (np.zeros((4, 0), np.uint8), r"image is empty \(0x4\)"),
        (
            np.zeros((4, 4, 2), np.uint8),
            r"expected an \[H, W\], \[H, W, 3\] or \[H, W, 4\] array, got shape \(4, 4, 2\)",
        ),
        (np.zeros((2, 4, 4, 3), np.uint8), r"got shape \(2, 4, 4, 3\)"),
        (np.zeros(5, np.uint8), r"got shape \(5,\)"),
        (np.zeros((4, 4, 3), bool), "unsupported array dtype bool"),
        (np.zeros((4, 4, 3), complex), "unsupported array dtype complex128"),
        (np.zeros((4, 4), object), "unsupported array dtype object"),
        (np.broadcast_to(np.zeros(3, np.uint8), (4097, 4096, 3)), "image is 4096x4097 = 16781312 pixels, over the cap"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_bad_input(image, message):
    with pytest.raises(ValueError, match=message):
        to_labels(image, ADE)


def test_unknown_palette():
    with pytest.raises(ValueError, match="unknown palette 'ade21k'; choose one of"):
        to_labels(np.zeros((2, 2, 3), np.uint8), "ade21k")


def test_pixel_cap_on_files(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (20, 10)).save(path)
    monkeypatch.setattr(labels, "MAX_PIXELS", 199)
    with pytest.raises(ValueError, match="image is 20x10 = 200 pixels, over the cap of 199"):
        to_labels(path, ADE)
    with pytest.raises(ValueError, match="over the cap of 199"):
        to_labels(np.zeros((10, 20, 3), np.uint8), ADE)


def test_corrupt_files(tmp_path):
    good = png_bytes(Image.fromarray(ADE.to_colors(random_ids(ADE, (64, 64)))))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=f"cannot read image {truncated}"):
        to_labels(truncated, ADE)
    noise = tmp_path / "noise.png"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=f"cannot read image {noise}: cannot identify image file"):
        to_labels(noise, ADE)
    with pytest.raises(ValueError, match="cannot read image the uploaded bytes"):
        open_image(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match="no such file: .*missing.png"):
        to_labels(tmp_path / "missing.png", ADE)


# --------------------------------------------------------------------------------------------------
# the fast paths agree with a plain, slow reading of the documented rules


def reference_to_labels(arr: np.ndarray, palette, tolerance=labels.DEFAULT_TOLERANCE, off_palette="nearest"):
    """``to_labels`` for an ``[H, W, 3]`` uint8 image, pixel by pixel, as its docstring describes it."""
    h, w, _ = arr.shape
    exact = {tuple(c): i for i, c in reversed(list(enumerate(palette.rgb.tolist())))}  # first class wins ties
    exact.update({tuple(c): int(i) for i, c in zip(palette.lut_ids, palette.lut_paint.tolist())})
    paint = palette.lut_paint.astype(np.int64)
    gap = np.sqrt(((paint[:, None] - paint[None]) ** 2).sum(-1))
    gap[palette.lut_ids[:, None] == palette.lut_ids[None]] = np.inf
    ids = np.zeros((h, w), np.int64)
    dist = np.zeros((h, w))  # 0 for exact pixels
    radius = np.full((h, w), np.inf)  # how far the pixel may be from its paint and be confidently it
    for y in range(h):
        for x in range(w):
            c = tuple(int(v) for v in arr[y, x])
            if c in exact:
                ids[y, x] = exact[c]
                continue
            d2 = ((paint - c) ** 2).sum(1)
            k = int(d2.argmin())  # first on ties
            dist[y, x] = np.sqrt(d2[k])
            radius[y, x] = min(labels.CONFIDENT_DISTANCE, gap[k].min() / 2)
            far = dist[y, x] > tolerance
            ids[y, x] = palette.fill if (far and off_palette == "fill") else palette.lut_ids[k]
            if far and off_palette == "fill":
                dist[y, x] = np.inf  # not a candidate, not cleaned
    confident = dist <= radius
    table = palette.colour_table().astype(np.int64)
    out = ids.copy()
    for y, x in zip(*np.nonzero((dist > radius) & np.isfinite(dist))):
        best = None
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                if dy == dx == 0:
                    continue
                ny, nx = min(max(y + dy, 0), h - 1), min(max(x + dx, 0), w - 1)
                if confident[ny, nx]:
                    d2 = int(((table[ids[ny, nx]] - arr[y, x]) ** 2).sum())
                    if best is None or d2 < best[0]:
                        best = (d2, ids[ny, nx])
        if best is not None:
            out[y, x] = best[1]
    return out


@pytest.mark.parametrize("name", synth.PALETTES)
@pytest.mark.parametrize("kind", ["soft", "jpeg", "noise"])
def test_fast_path_matches_reference(name, kind):
    pal = synth.palette(name)
    rng = np.random.default_rng(7)
    if kind == "noise":
        arr = rng.integers(0, 256, (20, 24, 3)).astype(np.uint8)
        arr[::3] = pal.to_colors(random_ids(pal, (1, 24)))  # some exact rows
    else:
        big = np.kron(random_ids(pal, (6, 8), seed=3), np.ones((12, 12), pal.dtype))
        image = Image.fromarray(pal.to_colors(big)).resize((32, 24), Image.BOX)  # 2.5x: soft edges
        if kind == "jpeg":
            buf = io.BytesIO()
            image.save(buf, format="JPEG", quality=60)
            image = Image.open(io.BytesIO(buf.getvalue()))
        arr = np.asarray(image.convert("RGB"))
    for mode, tol in (("nearest", labels.DEFAULT_TOLERANCE), ("fill", 30.0)):
        want = reference_to_labels(arr, pal, tol, mode)
        got = to_labels(arr, pal, tolerance=tol, off_palette=mode)
        np.testing.assert_array_equal(got, want, err_msg=f"{name} {kind} {mode}")


@pytest.mark.parametrize("name", synth.PALETTES)
def test_nearest_matches_full_search(name):
    """The colour-grid search returns exactly what a search of every paint colour returns, ties included."""
    pal = synth.palette(name)
    rng = np.random.default_rng(11)
    paint = pal.lut_paint.astype(np.int64)
    pairs = rng.integers(0, len(paint), (3000, 2))
    colours = np.concatenate(
        [
            rng.integers(0, 256, (5000, 3)),
            (paint[pairs[:, 0]] + paint[pairs[:, 1]]) // 2,  # midpoints: many exact ties
            paint,
            [[0, 0, 0], [255, 255, 255], [255, 0, 255]],
        ]
    ).astype(np.uint8)
    rows, dist = labels._nearest(colours, pal)
    d2 = ((colours[:, None, :].astype(np.int64) - paint[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(rows, d2.argmin(1))
    np.testing.assert_allclose(dist, np.sqrt(d2.min(1)))


def test_palette_png_painting_is_read_as_colours_not_ids(tmp_path):
    """A colour painting an editor saved as an 8-bit palette PNG (pixel values index *its* colours)."""
    pal = synth.palette("landscape")
    ids = np.zeros((40, 60), np.uint8)
    ids[20:] = 3
    ids[:, 30:] = 5
    painting = Image.fromarray(pal.to_colors(ids)).quantize(colors=8, method=Image.Quantize.MAXCOVERAGE)
    assert painting.mode == "P" and not np.array_equal(np.asarray(painting), ids)
    painting.save(tmp_path / "p.png")
    assert np.array_equal(to_labels(tmp_path / "p.png", pal), ids)
    # our own index export and a foreign-palette label file stay id maps
    write_index_png(ids, tmp_path / "own.png", pal)
    assert np.array_equal(to_labels(tmp_path / "own.png", pal), ids)
    foreign = Image.fromarray(ids, mode="P")
    foreign.putpalette([7, 7, 7] * 256)
    assert np.array_equal(to_labels(foreign, pal), ids)


@pytest.mark.parametrize("bad", [-1, float("nan"), "x", True])
def test_tolerance_must_be_a_distance(bad):
    with pytest.raises(ValueError, match="tolerance must be an RGB distance >= 0"):
        LAND.to_labels(np.zeros((4, 4, 3), np.uint8), tolerance=bad)


def test_open_image_turns_exif_rotated_photos_upright(tmp_path):
    from synth.labels import open_image

    img = Image.new("RGB", (40, 20), (200, 0, 0))
    img.paste((0, 0, 200), (0, 0, 10, 20))  # blue on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    upright = open_image(path)
    assert upright.size == (20, 40)
    assert np.asarray(upright)[2, 10, 2] > 150  # the blue left edge is now the top


def test_animated_image_reads_its_first_frame_and_the_report_says_so():
    first, second, third = (np.full((8, 10), k, np.uint8) for k in range(3))
    frames = [Image.fromarray(LAND.to_colors(m)) for m in (first, second, third)]  # GIF merges equal frames
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    ids, report = to_labels(buf.getvalue(), LAND, return_report=True)
    assert np.array_equal(ids, first) and report.frames == 3
    _, still = to_labels(LAND.to_colors(first), LAND, return_report=True)
    assert still.frames == 1


@pytest.mark.parametrize("mode", ["nearest", "fill", "error"])
def test_bands_give_the_same_answer_as_one_pass(monkeypatch, mode):
    """Large images are snapped and cleaned in bands of rows (bounded memory); a band of a few rows
    must give exactly what one pass over the image gives, report and error message included."""
    image, _, _ = blended(LAND, list(range(8)), 3, jpeg=True)
    arr = np.asarray(image)

    def run():
        try:
            return to_labels(arr, LAND, tolerance=12.0, off_palette=mode, return_report=True)
        except ValueError as e:
            return str(e)

    whole = run()
    monkeypatch.setattr(labels, "_BAND_PIXELS", 3 * 256 + 7)  # bands of 3 rows
    monkeypatch.setattr(labels, "_BLOCK", 1000)
    banded = run()
    if mode == "error":
        assert isinstance(whole, str) and whole == banded
    else:
        np.testing.assert_array_equal(banded[0], whole[0])
        assert banded[1] == whole[1] and whole[1].snapped > 0
        assert whole[1].cleaned > 0 if mode == "nearest" else whole[1].beyond_tolerance > 0
