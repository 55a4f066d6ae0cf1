"""A corpus of bad and odd inputs, through the Python API and the HTTP API of one running app.

Files (empty, truncated, bombs, 16-bit, CMYK, TIFF, WebP, GIF, SVG named .png, EXIF-rotated, huge ids, ...),
arrays of wrong dtypes and shapes, wrong palette and model names, bad seeds and huge strings. Every case
gives either a correct result or a one-line error that names what is wrong (no traceback text, no server
temp path, under 300 characters); afterwards the server still serves a render byte-identical to one made
before the corpus.

Python API: ``synth.palette("landscape").to_labels``, ``synth.load("landscape")(ids, seed=...)``,
``synth.segmenter("landscape")``. HTTP: ``/labels``, ``/render``, ``/segment``, ``/palette`` (gradio_client).
The app's segmenters are the shipped small ones (landscape, facades); the ADE20K one (UperNet, a download)
is refused at once so that no test waits on the Hub.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ui_app import launch, read_ids, sample_ids

import synth
from synth import generators
from synth.labels import open_image, write_index_png
from synth.studio import Studio

LAND = synth.palette("landscape")
SKY, TREE, WATER = (LAND.id_of(n) for n in ("sky", "tree", "water"))
HAVE_LANDSCAPE = generators.availability("landscape")[0]
needs_landscape = pytest.mark.skipif(not HAVE_LANDSCAPE, reason="embedded landscape weights are missing")

#: The map most file cases carry: 64x48, sky over water, one tree block.
MAP = sample_ids(64, 48)
OK = "ok"


@dataclass(frozen=True)
class Either:
    """A case where a result and a clear error (matching ``pattern``) are both right answers."""

    pattern: str


# --------------------------------------------------------------------------------------------------
# what an answer must look like


def assert_one_line(message: str, pattern: str) -> None:
    """A clear error: one line, no traceback, no server temp path, short, and it says ``pattern``."""
    assert message and "\n" not in message.strip(), f"not one line: {message[:500]!r}"
    assert "Traceback" not in message and 'File "' not in message, message[:500]
    assert "/tmp/" not in message, message
    assert len(message) < 300, f"{len(message)} characters: {message[:300]!r}"
    assert re.search(pattern, message, re.I), f"{message!r} does not match {pattern!r}"


def expect(fn: Callable, expected, check: Callable | None = None, errors: tuple = ()):
    """Call ``fn``: with ``expected == OK`` it must succeed (and pass ``check``); with a pattern it must raise
    one of ``errors`` with a clear message matching it; with :class:`Either`, either. The result or None."""
    if expected == OK:
        out = fn()
        if check is not None:
            check(out)
        return out
    if isinstance(expected, Either):
        try:
            return fn()
        except errors as e:
            assert_one_line(str(e), expected.pattern)
            return None
    with pytest.raises(errors) as err:
        fn()
    assert_one_line(str(err.value), expected)
    return None


def expect_python(fn: Callable, expected, check: Callable | None = None):
    """:func:`expect` for the Python API: errors are ``ValueError`` (or a missing file, an unavailable model)."""
    return expect(fn, expected, check, (ValueError, FileNotFoundError, RuntimeError))


def expect_http(fn: Callable, expected, check: Callable | None = None):
    """:func:`expect` over HTTP: gradio_client raises the server's message (``gr.Error``) as ``AppError``."""
    from gradio_client.exceptions import AppError

    return expect(fn, expected, check, (AppError,))


# --------------------------------------------------------------------------------------------------
# the file corpus


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def colour_png(ids: np.ndarray = MAP, **kw) -> bytes:
    return encode(Image.fromarray(LAND.to_colors(ids)), **kw)


def index_png(ids: np.ndarray = MAP) -> bytes:
    buf = io.BytesIO()
    write_index_png(ids, buf, "landscape")
    return buf.getvalue()


def png_16bit_rgb(ids: np.ndarray = MAP) -> bytes:
    """A 48-bit RGB PNG (16 bits a channel) of the paint colours (PIL cannot write one: raw chunks)."""
    rgb = LAND.to_colors(ids).astype(">u2") * 257
    h, w = ids.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def animated_gif() -> bytes:
    """Two frames: MAP, then all tree. The first frame counts."""
    first = Image.fromarray(LAND.to_colors(MAP))
    second = Image.fromarray(LAND.to_colors(np.full_like(MAP, TREE)))
    return encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)


def exif_rotated() -> bytes:
    """MAP stored sideways with EXIF orientation 6 (turn 90 degrees clockwise to view), as phones save it."""
    stored = Image.fromarray(LAND.to_colors(np.rot90(MAP, 1)))  # upright = stored turned clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, exif=exif.tobytes())


def off_palette_gradient() -> bytes:
    """Every pixel off-palette: a colour gradient (snaps to the nearest paint colours)."""
    y, x = np.mgrid[0:96, 0:128]
    rgb = np.stack([x * 2, y * 2, (x + y) % 256], -1).astype(np.uint8)
    return encode(Image.fromarray(rgb))


@dataclass(frozen=True)
class FileCase:
    """A file sent as a label map (``labels``: what to_labels, /labels, /render give) and as a photo
    (``photo``: what the segmenter and /segment give). ``OK`` or a regex the one-line error matches;
    ``ids``: the label map a correct answer holds (``None``: any valid ids)."""

    name: str
    make: Callable[[], bytes]
    labels: str
    photo: str = OK
    ids: np.ndarray | None = None
    suffix: str = ".png"
    #: /labels and /render when they differ from ``labels`` (the server also checks which palette a map is in).
    http: str | Either | None = None


NOT_AN_IMAGE = r"^cannot read image [^:]*: "

FILE_CASES = [
    FileCase("zero-byte", lambda: b"", NOT_AN_IMAGE + "the file is empty$", NOT_AN_IMAGE + "the file is empty$"),
    FileCase("truncated", lambda: colour_png()[:80], NOT_AN_IMAGE + ".*truncated", NOT_AN_IMAGE + ".*truncated"),
    FileCase("truncated-half", lambda: colour_png()[: len(colour_png()) // 2], NOT_AN_IMAGE, NOT_AN_IMAGE),
    FileCase("png-signature-then-junk", lambda: b"\x89PNG\r\n\x1a\n" + b"junk" * 50, NOT_AN_IMAGE, NOT_AN_IMAGE),
    FileCase("random-bytes", lambda: np.random.default_rng(0).bytes(4000), NOT_AN_IMAGE, NOT_AN_IMAGE),
    FileCase("text-named-png", lambda: b"this is not a picture\n" * 40, NOT_AN_IMAGE, NOT_AN_IMAGE),
    FileCase(
        "svg-named-png",
        lambda: (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="48">'
            b'<rect width="64" height="48" fill="#87ceeb"/></svg>'
        ),
        "SVG is a vector format",
        "SVG is a vector format",
    ),
    FileCase(  # 20000 x 20000 1-bit PNG of a few kB: PIL's own bomb limit
        "decompression-bomb", lambda: encode(Image.new("1", (20000, 20000))), "over the cap", "over the cap"
    ),
    FileCase(  # 5000 x 4000: under PIL's limit, over ours
        "over-pixel-cap", lambda: encode(Image.new("L", (5000, 4000))), "over the cap", "over the cap"
    ),
    FileCase("16-bit-index-png", lambda: encode(Image.fromarray(MAP.astype(np.uint16))), OK, ids=MAP),
    FileCase(
        "16-bit-huge-ids",
        lambda: encode(Image.fromarray(np.full((48, 64), 60000, np.uint16))),
        r"ids not in palette 'landscape': \[60000\]",
    ),
    FileCase("48-bit-rgb-png", png_16bit_rgb, OK, ids=MAP),
    FileCase(
        "8-bit-index-id-out-of-palette",
        lambda: encode(Image.fromarray(np.full((48, 64), 200, np.uint8), mode="L")),
        r"not in palette 'landscape': \[200\]",
    ),
    FileCase("own-index-png", index_png, OK, ids=MAP),
    FileCase(
        "32-bit-int-tiff-negative-ids",
        lambda: encode(Image.fromarray(np.full((48, 64), -5, np.int32)), "TIFF"),
        r"not in palette 'landscape': \[-5\]",
        suffix=".tif",
    ),
    FileCase(
        "float-tiff",
        lambda: encode(Image.fromarray(np.full((48, 64), 0.5, np.float32)), "TIFF"),
        "unsupported image mode 'F'",
        suffix=".tif",
    ),
    FileCase(
        "cmyk-jpeg",
        lambda: encode(Image.fromarray(LAND.to_colors(MAP)).convert("CMYK"), "JPEG", quality=95),
        OK,
        ids=MAP,
        suffix=".jpg",
    ),
    FileCase("tiff", lambda: colour_png(fmt="TIFF"), OK, ids=MAP, suffix=".tif"),
    FileCase("webp-lossless", lambda: colour_png(fmt="WEBP", lossless=True), OK, ids=MAP, suffix=".webp"),
    FileCase("bmp", lambda: colour_png(fmt="BMP"), OK, ids=MAP, suffix=".bmp"),
    FileCase("animated-gif-first-frame", animated_gif, OK, ids=MAP, suffix=".gif"),
    FileCase("exif-rotated", exif_rotated, OK, ids=MAP),
    FileCase(
        "rgba-all-transparent",
        lambda: encode(Image.new("RGBA", (64, 48), (255, 0, 0, 0))),
        OK,
        ids=np.full((48, 64), LAND.fill, np.uint8),  # transparent paint carries no colour: all fill, also over HTTP
    ),
    FileCase("off-palette-gradient", off_palette_gradient, OK),
    FileCase(  # grey 120 is ADE20K's "wall": the server names that palette
        "grey-with-alpha",
        lambda: encode(Image.new("LA", (64, 48), (120, 255))),
        OK,
        http="painted in the ade20k palette",
    ),
    FileCase("one-pixel", lambda: colour_png(np.full((1, 1), WATER, np.uint8)), OK, ids=np.full((1, 1), WATER)),
]


def check_ids(case: FileCase, ids: np.ndarray) -> None:
    """A correct answer: ``case.ids`` exactly (lossy JPEG: nearly), else valid ids of some size."""
    want = case.ids
    assert ids.ndim == 2 and ids.size and LAND.is_valid_id(ids).all()
    if want is not None:
        assert ids.shape == want.shape
        assert (ids == want).mean() > 0.97 if case.suffix == ".jpg" else np.array_equal(ids, want)


# --------------------------------------------------------------------------------------------------
# Python API


@pytest.fixture(scope="module")
def landscape():
    if not HAVE_LANDSCAPE:
        pytest.skip("embedded landscape weights are missing")
    return synth.load("landscape")


@pytest.fixture(scope="module")
def segmenter():
    return synth.segmenter("landscape")


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.name)
def test_file_through_python_api(case, landscape, segmenter):
    data = case.make()
    ids = expect_python(lambda: LAND.to_labels(data), case.labels, lambda ids: check_ids(case, ids))
    if ids is not None:
        assert LAND.to_labels(data, return_report=True)[1].frames == (2 if case.make is animated_gif else 1)
    if ids is not None:
        img = landscape(ids, seed=0)
        assert isinstance(img, Image.Image) and img.mode == "RGB"
    photo = expect_python(lambda: open_image(data), case.photo)
    if photo is not None:
        pred = segmenter(photo.convert("RGB"))
        assert pred.shape == (photo.height, photo.width)
        if case.ids is not None:  # upright (EXIF), first frame
            assert pred.shape == case.ids.shape


class Unconvertible:
    def __array__(self, *a, **k):
        raise TypeError("no")


#: ``(name, array, to_labels expectation, generator expectation)``.
ARRAY_CASES = [
    ("bool", np.ones((8, 8), bool), "unsupported array dtype bool", "ids must be integers"),
    ("complex", np.zeros((8, 8), complex), "unsupported array dtype complex", "ids must be integers"),
    ("object", np.array([[object()]]), "unsupported array dtype object", "ids must be integers"),
    ("nan-rgb", np.full((8, 8, 3), np.nan), "NaN or infinite", r"ids must be an \[H, W\] array"),
    ("inf-rgb", np.full((8, 8, 3), np.inf, np.float32), "NaN or infinite", r"ids must be an \[H, W\] array"),
    ("float-ids", np.full((8, 8), 1.5), "whole-number ids", "ids must be integers"),
    ("4-d", np.zeros((1, 8, 8, 3), np.uint8), r"got shape \(1, 8, 8, 3\)", r"got shape \(1, 8, 8, 3\)"),
    ("5-channels", np.zeros((8, 8, 5), np.uint8), r"got shape \(8, 8, 5\)", r"got shape \(8, 8, 5\)"),
    ("empty", np.zeros((0, 8), np.uint8), "image is empty", "ids are empty"),
    ("negative-ids", np.full((8, 8), -1), r"not in palette 'landscape': \[-1\]", r"ids \[-1\] are not in palette"),
    ("huge-ids", np.full((8, 8), 2**62, np.int64), "not in palette 'landscape'", "not in palette 'landscape'"),
    ("uint64-ids", np.full((8, 8), 2**63, np.uint64), "not in palette 'landscape'", "not in palette 'landscape'"),
    ("ragged-list", [[1, 2], [3]], "cannot read an image from list", "ids must be an"),
    ("none", None, "cannot read an image from NoneType", r"ids must be an \[H, W\]"),
    ("missing-path", "no/such/map.png", "no such file: no/such/map.png", r"ids must be an \[H, W\]"),
    ("unconvertible", Unconvertible(), "cannot read an image from Unconvertible", "ids must be an"),
    ("pil-image-to-generator", Image.new("RGB", (8, 8)), OK, "pass label ids"),
    ("good-uint8", np.full((8, 8), SKY, np.uint8), OK, OK),
    ("good-int64", np.full((8, 8), SKY, np.int64), OK, OK),
]


@pytest.mark.parametrize(("name", "value", "labels", "render"), ARRAY_CASES, ids=[c[0] for c in ARRAY_CASES])
def test_array_through_python_api(name, value, labels, render, landscape):
    expect_python(lambda: LAND.to_labels(value), labels)
    expect_python(lambda: landscape(value, seed=0), render)


SEEDS = [
    (0, OK),
    (None, OK),  # a random seed
    (np.int64(7), OK),
    (2**32 - 1, OK),
    (-1, "seed must be"),
    (2**32, "seed must be"),
    (2**63, "seed must be"),
    (2**64, "seed must be"),
    (10**400, "seed must be"),
    (1.5, "seed must be"),
    (3.0, "seed must be"),  # the Python API takes ints only
    (float("nan"), "seed must be"),
    (True, "seed must be"),
    ("abc", "seed must be"),
    ("7", "seed must be"),
    ("9" * 1_000_000, "seed must be"),
    (np.uint64(2**63), "seed must be"),
]


@pytest.mark.parametrize(("seed", "expect"), SEEDS, ids=[str(s)[:12] for s, _ in SEEDS])
def test_seed_through_python_api(seed, expect, landscape):
    expect_python(lambda: landscape(np.full((32, 32), SKY, np.uint8), seed=seed), expect)


HUGE = "x" * 1_000_000

#: ``(name, synth.palette, synth.load)`` expectations.
NAMES = [
    ("nope", "unknown palette 'nope'", "unknown model 'nope'"),
    ("", "unknown palette ''", "unknown model ''"),
    (None, "palette name must be a string", "unknown model"),
    (5, "palette name must be a string", "unknown model"),
    (HUGE, "unknown palette 'x{40}'", "unknown model 'x{40}'"),
    ("LANDSCAPE", OK, OK),
    (" facades ", OK, OK),
    ("spade-cocostuff", "unknown palette", "unknown model"),
]


@pytest.mark.parametrize(("name", "palette", "load"), NAMES, ids=[str(n)[:12] for n, *_ in NAMES])
def test_name_through_python_api(name, palette, load, landscape):
    expect_python(lambda: synth.palette(name), palette)
    expect_python(lambda: synth.load(name), load)


SEGMENTER_NAMES = [
    ("nope", "no segmenter for 'nope'"),
    ("", "no segmenter for ''"),
    (None, "no segmenter for None"),
    ("cityscapes", "no segmenter for 'cityscapes'"),
    ("facades", OK),
    ("LANDSCAPE", OK),
    (HUGE, "no segmenter"),
]


@pytest.mark.parametrize(("name", "expected"), SEGMENTER_NAMES, ids=[str(c[0])[:12] for c in SEGMENTER_NAMES])
def test_segmenter_name_through_python_api(name, expected):
    expect_python(lambda: synth.segmenter(name), expected)


#: Other arguments of the Python API: ``(name, call, expectation)``.
def _other_cases():
    ids = np.full((16, 16), SKY, np.uint8)
    rgb = LAND.to_colors(ids)
    return [
        ("tolerance-negative", lambda g: LAND.to_labels(rgb, tolerance=-1), "tolerance must be"),
        ("tolerance-nan", lambda g: LAND.to_labels(rgb, tolerance=float("nan")), "tolerance must be"),
        ("tolerance-huge-string", lambda g: LAND.to_labels(rgb, tolerance=HUGE), "tolerance must be"),
        ("off-palette-huge-string", lambda g: LAND.to_labels(rgb, off_palette=HUGE), "off_palette must be"),
        ("fill-string", lambda g: LAND.to_labels(rgb, fill="abc"), "fill must be a class id"),
        ("fill-float", lambda g: LAND.to_labels(rgb, fill=1.5), "fill must be a class id"),
        ("fill-huge", lambda g: LAND.to_labels(rgb, fill=10**30), "fill id .* is not a class"),
        ("size-huge-string", lambda g: g(ids, size=HUGE), r"size must be \(width, height\)"),
        ("size-negative", lambda g: g(ids, size=(-1, 5)), "size must be positive"),
        ("size-huge", lambda g: g(ids, size=(10**9, 10**9)), OK),  # capped at the longest side allowed
        ("num-images-zero", lambda g: g.generate(ids, num_images=0), "num_images must be"),
        ("num-images-huge", lambda g: g.generate(ids, num_images=10**9), "num_images must be"),
        ("num-images-string", lambda g: g.generate(ids, num_images="2"), "num_images must be"),
        ("unknown-option", lambda g: g(ids, prompt="a lake"), "does not take option"),
        ("huge-option-name", lambda g: g(ids, **{HUGE: 1}), "does not take option"),
        ("unknown-load-option", lambda g: synth.load("landscape", bogus=1), "does not take the option 'bogus'"),
        ("bad-device", lambda g: synth.load("landscape", device="nope"), "device must be"),
        ("huge-device", lambda g: synth.load("landscape", device=HUGE), "device must be"),
        ("bad-dtype", lambda g: synth.load("landscape", dtype="int3"), "dtype must be"),
        ("text-file-as-weights", lambda g: synth.load("landscape", weights=__file__), "not a readable safetensors"),
        (
            "text-file-as-segmenter-weights",
            lambda g: synth.segmenter("landscape", weights=__file__),
            "not a readable safetensors",
        ),
        ("segmenter-gets-none", lambda g: synth.segmenter("landscape")(None), "expected an RGB photo"),
    ]


@pytest.mark.parametrize("index", range(len(_other_cases())), ids=[c[0] for c in _other_cases()])
def test_other_arguments_through_python_api(index, landscape):
    name, call, expect = _other_cases()[index]
    expect_python(lambda: call(landscape), expect)


# --------------------------------------------------------------------------------------------------
# HTTP API: one app for the module


def _segmenter(name: str):
    """The shipped small segmenters; the ADE20K one (UperNet) would be a download: refused at once."""
    if name == "ade20k":
        raise FileNotFoundError("UperNet is not cached here (tests never download)")
    return synth.segmenter(name)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``(client, before)``: the app, and the bytes of a render made before any bad input."""
    from gradio_client import Client, handle_file

    from synth.app import build
    from synth.ui import CSS

    if not HAVE_LANDSCAPE:
        pytest.skip("embedded landscape weights are missing")
    root = tmp_path_factory.mktemp("bad-inputs")
    st = Studio(segmenter=_segmenter, out_dir=str(root / "out"))
    demo = build(model="landscape", studio=st)
    url = launch(demo, css=CSS)
    client = Client(url, verbose=False)
    reference = root / "reference-index.png"
    reference.write_bytes(index_png(sample_ids()))
    before = Path(client.predict(handle_file(str(reference)), "landscape", 3, api_name="/render")).read_bytes()
    yield client, reference, before
    client.close()
    demo.close()


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus")


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.name)
def test_file_through_http(case, server, corpus_dir):
    from gradio_client import handle_file

    client = server[0]
    path = corpus_dir / f"{case.name}{case.suffix}"
    path.write_bytes(case.make())
    f = handle_file(str(path))

    def check_labels(out):
        index_path, report = out
        check_ids(case, read_ids(index_path))
        assert report["palette"] == "landscape"
        if case.make is animated_gif:  # the report says which frame was read
            assert report["frames"] == 2 and report["note"].startswith("animated image: the first of its 2")
        else:
            assert report["frames"] == 1 and "note" not in report

    labels = case.labels if case.http is None else case.http
    expect_http(lambda: client.predict(f, "landscape", api_name="/labels"), labels, check_labels)

    def check_render(out):
        img = Image.open(out)
        assert img.mode == "RGB" and img.width >= 1 and img.height >= 1

    expect_http(lambda: client.predict(f, "landscape", 0, api_name="/render"), labels, check_render)

    def check_segment(out):
        seg = read_ids(out)
        assert seg.ndim == 2 and (case.ids is None or seg.shape == case.ids.shape)

    expect_http(lambda: client.predict(f, "landscape", api_name="/segment"), case.photo, check_segment)


HTTP_SEEDS = [
    (0, OK),
    (None, OK),  # missing: 0
    (3.0, OK),  # JSON clients may send whole numbers as floats or strings
    ("7", OK),
    (2**32 - 1, OK),
    (-1, "^seed must be"),
    (2**32, "^seed must be"),
    (2**63, "^seed must be"),
    (2**64, "^seed must be"),
    (1.5, "^seed must be"),
    (True, "^seed must be"),
    ("abc", "^seed must be"),
    ("", "^seed must be"),
    ("1e400", "^seed must be"),
    ([1], "^seed must be"),
    ({"seed": 1}, "^seed must be"),
    ("9" * 1_000_000, "^seed must be"),
]


@pytest.mark.parametrize(("seed", "expect"), HTTP_SEEDS, ids=[str(s)[:12] for s, _ in HTTP_SEEDS])
def test_seed_through_http(seed, expect, server):
    from gradio_client import handle_file

    client, reference, _ = server

    def check(out):
        assert Image.open(out).size == (256, 192)

    expect_http(
        lambda: client.predict(handle_file(str(reference)), "landscape", seed, api_name="/render"), expect, check
    )


#: ``(name, /palette, /labels and /render, /segment)`` expectations for a landscape map.
HTTP_NAMES = [
    ("nope", "unknown palette 'nope'", "unknown (palette|model) 'nope'", "unknown palette 'nope'"),
    ("", "unknown palette ''", "unknown (palette|model) ''", "unknown palette ''"),
    (None, "palette name must be a string", "must be a string|unknown model ''", "palette name must be a string"),
    (HUGE, "unknown palette 'x{40}'", "unknown (palette|model) 'x{40}'", "unknown palette 'x{40}'"),
    (" LANDSCAPE ", OK, OK, OK),
    ("facades", OK, "painted in the landscape palette", OK),
    ("ade20k", OK, "painted in the landscape palette|unknown model", "segmenter is not available"),
    ("cityscapes", OK, "painted in the landscape palette|unknown model", "no photo segmenter for palette"),
]


@pytest.mark.parametrize(
    ("name", "palette", "labels", "segment"), HTTP_NAMES, ids=[str(n)[:12] for n, *_ in HTTP_NAMES]
)
def test_name_through_http(name, palette, labels, segment, server):
    from gradio_client import handle_file

    client, reference, _ = server
    f = handle_file(str(reference))
    expect_http(lambda: client.predict(name, api_name="/palette"), palette)
    expect_http(lambda: client.predict(f, name, api_name="/labels"), labels)
    expect_http(lambda: client.predict(f, name, 0, api_name="/render"), labels)
    expect_http(lambda: client.predict(f, name, api_name="/segment"), segment)


def test_no_file_and_oversized_upload_through_http(server):
    import httpx

    client = server[0]
    for api, args in (("/labels", ("landscape",)), ("/render", ("landscape", 0)), ("/segment", ("landscape",))):
        expect_http(lambda api=api, args=args: client.predict(None, *args, api_name=api), "no file was uploaded")
    # gradio_client refuses files over the limit itself: post one to the server's upload route directly
    big = colour_png() + b"\0" * (21 << 20)  # over the server's 20 MB upload limit
    r = httpx.post(client.src.rstrip("/") + "/gradio_api/upload", files={"files": ("big.png", big)}, timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:200])


def test_server_still_renders_byte_identical_after_the_corpus(server):
    """Runs last in this module: after every bad input, the same render gives the same bytes."""
    from gradio_client import handle_file

    client, reference, before = server
    after = Path(client.predict(handle_file(str(reference)), "landscape", 3, api_name="/render")).read_bytes()
    assert after == before


# --------------------------------------------------------------------------------------------------
# training inputs: a bad dataset, a poisoned or foreign ckpt.pt


@pytest.fixture(scope="module")
def tiny_facades(tmp_path_factory):
    """A facades-layout dataset: 2 train / 1 val pairs, 32x32."""
    import json

    root = tmp_path_factory.mktemp("tinyfacades")
    (root / "classes.json").write_text(json.dumps({"classes": [{"index": i, "name": str(i)} for i in range(12)]}))
    for split, n in (("train", 2), ("val", 1)):
        (root / split / "photo").mkdir(parents=True)
        (root / split / "label_index").mkdir(parents=True)
        for k in range(n):
            lab = np.zeros((32, 32), np.uint8)
            lab[16:] = 1 + k
            Image.fromarray((lab * 40).astype(np.uint8)).convert("RGB").save(root / split / "photo" / f"{k}.jpg")
            Image.fromarray(lab).save(root / split / "label_index" / f"{k}.png")
    return root


def daub_error(argv: list[str], capsys) -> str:
    """Run ``daub ARGV`` in-process: it must exit 2 with one line on stderr; returns that line."""
    from synth.cli import main as daub

    capsys.readouterr()
    assert daub(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_train_on_a_bad_dataset_makes_no_output_folder(tmp_path, capsys):
    empty = tmp_path / "empty-dataset"
    empty.mkdir()
    for dataset, why in ((tmp_path / "missing", "not a dataset folder"), (empty, "not a dataset folder")):
        out = tmp_path / "run" / "deeper"
        line = daub_error(["train", "--dataset", str(dataset), "--palette", "facades", "--out", str(out)], capsys)
        assert why in line
        assert not out.exists() and not out.parent.exists()


@pytest.mark.parametrize("content", ["payload", "text", "foreign"])
def test_train_resume_refuses_a_poisoned_or_foreign_checkpoint(content, tiny_facades, tmp_path, capsys):
    """``daub train --resume`` reads ckpt.pt as tensors only: a payload never runs, junk is one line."""
    import os
    import pickle
    import shutil

    import torch

    from synth.generators.embedded import weights_path

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(weights_path("facades"), out / "facades.safetensors")  # the run's EMA weights: a real file
    ckpt = out / "ckpt.pt"
    if content == "payload":
        ckpt.write_bytes(pickle.dumps({"G": Payload(), "step": 3}))
    elif content == "text":
        ckpt.write_text("this is not a checkpoint\n")
    else:
        torch.save({"weights": torch.zeros(3)}, ckpt)
    argv = ["train", "--dataset", str(tiny_facades), "--palette", "facades", "--out", str(out)]
    line = daub_error([*argv, "--resume", "--device", "cpu", "--steps", "1"], capsys)
    want = {
        "payload": "refused: it holds Python objects or code",
        "text": "is not a readable training checkpoint",
        "foreign": r"is not a daub training checkpoint \(missing G, D, G_ema, opt_g\)",
    }[content]
    assert re.search(want, line), line
    assert "weights_only=False" not in line and "`False`" not in line
    assert not marker.exists()
    assert sorted(p.name for p in out.iterdir()) == ["ckpt.pt", "facades.safetensors"]  # nothing written
