"""The web demo's model side (synth.render.Studio) and its HTTP API through gradio_client.

One app launch for the module (in-process, 127.0.0.1, free port), with a fake slow backend
registered in BACKENDS for the Render-button / progress-per-step path and a fake segmenter.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ui_app import FAKE, launch, read_ids, register_fake, unregister_fake

from palettes import load as load_palette
from synth.generators import BACKENDS, availability, palette_of
from synth.labels import write_index_png
from synth.render import CANVAS_SIZES, Studio, _gpu

LAND = load_palette("landscape")
SKY, TREE, WATER, MOUNTAIN = (LAND.id_of(n) for n in ("sky", "tree", "water", "mountain"))
HAVE_LANDSCAPE = availability("landscape")[0]
needs_landscape = pytest.mark.skipif(not HAVE_LANDSCAPE, reason="embedded landscape weights are missing")


class FakeSegmenter:
    """Photo -> ids: top half sky, bottom half water (whatever the photo)."""

    def __call__(self, photo):
        w, h = photo.size
        ids = np.full((h, w), SKY, np.uint8)
        ids[h // 2 :] = WATER
        return ids


def fake_segmenter(name):
    if name != "landscape":
        raise FileNotFoundError(f"segmenter {name!r} has no weights at /nowhere/seg-{name}.safetensors")
    return FakeSegmenter()


def sample_ids(w=256, h=192) -> np.ndarray:
    ids = np.full((h, w), SKY, np.uint8)
    ids[h // 2 :, :] = WATER
    ids[20:60, 30:120] = TREE
    return ids


# --------------------------------------------------------------------------------------------------
# Studio (no server)


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return Studio(segmenter=fake_segmenter, out_dir=str(tmp_path_factory.mktemp("studio")))


def test_editor_value_roundtrip_and_transparent_is_fill(studio):
    ids = sample_ids()
    value = studio.editor_value(ids, "landscape")
    back, report = studio.editor_labels(value, "landscape")
    assert np.array_equal(back, ids)
    assert report["exact"] == ids.size and report["classes"] == {"sky": 24576 - 3600, "tree": 3600, "water": 24576}
    rgba = np.zeros((192, 256, 4), np.uint8)  # fully transparent: everything is the fill class
    rgba[:10, :10] = (*LAND.paint[WATER], 255)
    ids2, rep2 = studio.editor_labels({"background": None, "layers": [], "composite": rgba}, "landscape")
    assert (ids2[:10, :10] == WATER).all() and (ids2[10:] == LAND.fill).all()
    assert rep2["transparent"] == 192 * 256 - 100


def test_editor_labels_reports_snapped_colours(studio):
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:] = LAND.paint[SKY]
    rgb[:, 32:] = np.clip(LAND.paint[WATER].astype(int) + 6, 0, 255)  # a near miss: snapped to water
    ids, rep = studio.editor_labels({"composite": rgb}, "landscape")
    assert (ids[:, 32:] == WATER).all() and rep["snapped"] == 64 * 32 and rep["beyond_tolerance"] == 0


def test_editor_labels_without_composite_flattens_layers(studio):
    bg = studio.colours(np.full((32, 32), SKY, np.uint8), "landscape")
    layer = np.zeros((32, 32, 4), np.uint8)
    layer[:16] = (*LAND.paint[TREE], 255)
    ids, _ = studio.editor_labels({"background": bg, "layers": [layer], "composite": None}, "landscape")
    assert (ids[:16] == TREE).all() and (ids[16:] == SKY).all()


def test_flood_fill_fills_one_connected_region(studio):
    ids = np.full((10, 10), SKY, np.uint8)
    ids[:, 5] = TREE  # a wall: the right half is another region
    out = studio.flood_fill(ids, 1, 1, WATER, "landscape")
    assert (out[:, :5] == WATER).all() and (out[:, 5] == TREE).all() and (out[:, 6:] == SKY).all()
    assert (ids[:, :5] == SKY).all()  # input untouched
    with pytest.raises(ValueError, match="outside"):
        studio.flood_fill(ids, 10, 0, WATER, "landscape")
    with pytest.raises(ValueError, match="not a class"):
        studio.flood_fill(ids, 0, 0, 99, "landscape")


def test_convert_keeps_shared_class_names_and_clears_the_rest(studio):
    ade = load_palette("ade20k")
    ids = np.array([[SKY, TREE, LAND.id_of("foreground object"), LAND.dontcare]], np.uint8)
    out = studio.convert(ids, "landscape", "ade20k")
    assert out.tolist() == [[ade.id_of("sky"), ade.id_of("tree"), ade.fill, ade.dontcare]]
    fac = load_palette("facades")
    out = studio.convert(ids, "landscape", "facades")  # nothing in common: all fill
    assert (out == fac.fill).all()


def test_fit_keeps_aspect_and_multiples_of_32(studio):
    ids = np.zeros((300, 800), np.uint8)
    out = studio.fit(ids, "landscape")
    assert out.shape[1] == 256 and out.shape[0] % 32 == 0 and out.shape[0] == 96


def test_blank_uses_fill_and_model_canvas(studio):
    assert studio.blank("landscape").shape == (192, 256) and (studio.blank("landscape") == SKY).all()
    fac = studio.blank("facades")
    assert fac.shape == (256, 256) and (fac == load_palette("facades").fill).all()


def test_models_lists_every_backend_with_reasons(studio):
    infos = {m.name: m for m in studio.models()}
    assert set(BACKENDS) <= set(infos)
    for m in infos.values():
        assert m.ready or m.reason, f"{m.name} is unavailable without a reason"
        assert m.palette == palette_of(m.name) and m.size == CANVAS_SIZES.get(m.name, m.size)
    assert infos["landscape"].live and not infos["controlnet-seg"].live
    with pytest.raises(ValueError, match="unknown model"):
        studio.model("nope")


def test_unavailable_model_gives_clear_error(studio):
    ok, reason = availability("controlnet-seg")
    if ok:
        pytest.skip("controlnet-seg happens to be downloaded here")
    with pytest.raises(RuntimeError, match="not available"):
        studio.generator("controlnet-seg")


@needs_landscape
def test_render_export_and_reload_round_trip(studio):
    ids = sample_ids()
    result = studio.render(ids, "landscape", seed=7, num_images=2)
    assert len(result.images) == 2 and result.images[0].size == (256, 192) and result.seed == 7
    again = studio.render(ids, "landscape", seed=7)
    assert np.array_equal(np.asarray(again.images[0]), np.asarray(result.images[0]))  # same seed, same picture
    files = studio.export(result)
    assert [Path(f).name for f in files] == [
        "landscape-seed7-0.png",
        "landscape-seed7-1.png",
        "landscape-seed7-labels-index.png",
        "landscape-seed7-labels-colour.png",
    ]
    for path in files[2:]:  # a saved painting loads back exactly
        back, rep = studio.read_label_map(path, "landscape")
        assert np.array_equal(back, ids), path
        assert rep["beyond_tolerance"] == 0
    overlay = studio.overlay(result.images[0], ids, "landscape")
    assert overlay.size == (256, 192)
    with pytest.raises(ValueError, match="alpha"):
        studio.overlay(result.images[0], ids, "landscape", alpha=2)


def test_segment_uses_palette_segmenter_and_explains_absence(studio, tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (320, 240), (90, 140, 200)).save(photo)
    ids = studio.segment(photo, "landscape")
    assert ids.shape == (192, 256) and (ids[:96] == SKY).all() and (ids[96:] == WATER).all()
    with pytest.raises(RuntimeError, match="segmenter is not available: .*no weights"):
        studio.segment(photo, "facades")
    with pytest.raises(ValueError, match="no photo segmenter"):
        studio.segment(photo, "spade-cityscapes")


def test_examples_exist_for_every_backend_palette_and_are_valid(studio):
    for name in BACKENDS:
        paths = studio.examples(name)
        assert paths, f"no examples for {name}"
        for p in paths:
            ids, rep = studio.read_label_map(p, name, fit=False)
            assert rep["exact"] == ids.size and len(np.unique(ids)) >= 3


def test_examples_script_reproduces_committed_files(tmp_path):
    from synth.examples.make_examples import write_examples

    for path in write_examples(tmp_path):
        committed = Path(__file__).resolve().parent.parent / "synth" / "examples" / path.parent.name / path.name
        assert np.array_equal(read_ids(path), read_ids(committed)), path.name


def test_gpu_shim_is_a_no_op_without_spaces():
    def f(x):
        return x + 1

    assert _gpu(f)(1) == 2


def test_create_demo_rejects_unknown_or_unavailable_default(studio):
    from synth.ui import create_demo

    with pytest.raises(ValueError, match="unknown model"):
        create_demo(studio.process_fns(), default_model="nope")
    if not availability("controlnet-seg")[0]:
        with pytest.raises(ValueError, match="not available"):
            create_demo(studio.process_fns(), default_model="controlnet-seg")


def test_serve_parser_matches_daub_serve():
    from synth.ui import parser

    args = parser().parse_args(["--host", "0.0.0.0", "--port", "7999", "--share", "--model", "facades"])
    assert (args.host, args.port, args.share, args.model) == ("0.0.0.0", 7999, True, "facades")
    assert parser().prog == "daub serve"


# --------------------------------------------------------------------------------------------------
# the running app through gradio_client


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from synth.ui import CSS, build

    fake = register_fake()
    try:
        st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path_factory.mktemp("app")))
        demo = build(model="landscape" if HAVE_LANDSCAPE else FAKE, studio=st)
        url = launch(demo, css=CSS)
        from gradio_client import Client

        client = Client(url, verbose=False)
        yield client, fake
        client.close()
        demo.close()
    finally:
        unregister_fake()


@pytest.fixture
def index_png(tmp_path):
    path = tmp_path / "map-index.png"
    write_index_png(sample_ids(), path, "landscape")
    return path


def test_api_lists_the_named_endpoints(app):
    client, _ = app
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/render", "/labels", "/segment", "/palette"} <= names


def test_api_palette(app):
    client, _ = app
    data = client.predict("landscape", api_name="/palette")
    data = json.loads(data) if isinstance(data, str) else data
    assert data["name"] == "landscape" and data["fill"] == SKY
    assert [c["name"] for c in data["classes"]][:3] == ["sky", "tree", "road"]
    assert data["classes"][WATER]["paint"] == "#{:02x}{:02x}{:02x}".format(*LAND.paint[WATER])


def test_api_labels_colour_png_to_index_png(app, tmp_path):
    from gradio_client import handle_file

    client, _ = app
    colour = tmp_path / "map.png"
    Image.fromarray(LAND.to_colors(sample_ids())).save(colour)
    index_path, report = client.predict(handle_file(str(colour)), "landscape", api_name="/labels")
    assert np.array_equal(read_ids(index_path), sample_ids())
    report = json.loads(report) if isinstance(report, str) else report
    assert report["exact"] == 256 * 192 and report["classes"]["tree"] == 3600


@needs_landscape
def test_api_render_is_deterministic_per_seed(app, index_png):
    from gradio_client import handle_file

    client, _ = app
    a = client.predict(handle_file(str(index_png)), "landscape", 3, api_name="/render")
    b = client.predict(handle_file(str(index_png)), "landscape", 3, api_name="/render")
    c = client.predict(handle_file(str(index_png)), "landscape", 4, api_name="/render")
    ia, ib, ic = (np.asarray(Image.open(p)) for p in (a, b, c))
    assert ia.shape == (192, 256, 3) and np.array_equal(ia, ib) and not np.array_equal(ia, ic)


def test_api_render_slow_backend_reports_progress_per_step(app, index_png):
    from gradio_client import handle_file

    client, fake = app
    job = client.submit(handle_file(str(index_png)), FAKE, 5, api_name="/render")
    seen = set()
    while not job.done():
        st = job.status()
        for unit in st.progress_data or []:
            if unit.index is not None:
                seen.add((unit.index, unit.length))
        time.sleep(0.02)
    img = np.asarray(Image.open(job.result()))
    assert img.shape == (192, 256, 3) and tuple(img[0, 0]) == (5, 40, 200)  # the fake's colour for seed 5
    assert seen and all(length == 8 for _, length in seen), seen  # the fake's default 8 steps, as steps
    assert fake.calls[-1]["steps"] == 8


def test_render_button_passes_diffusion_options(app, index_png):
    """The Render button's handler (undocumented endpoint) sends prompt/steps to a backend that takes them."""
    from gradio_client import handle_file

    client, fake = app
    colour = index_png.with_name("c.png")
    Image.fromarray(LAND.to_colors(sample_ids())).convert("RGBA").save(colour)
    editor = {"background": handle_file(str(colour)), "layers": [], "composite": handle_file(str(colour)), "id": None}
    out = client.predict(editor, FAKE, 11, 2, "a lake at dawn", "", 3, 7.5, 1.0, False, None, api_name="/render_canvas")
    gallery, seen, overlay, report, files = out
    assert len(gallery) == 2
    assert fake.calls[-1] == {"prompt": "a lake at dawn", "steps": 3, "shape": (192, 256)}
    report = json.loads(report) if isinstance(report, str) else report
    assert report["model"] == FAKE and report["seed"] == 11
    names = sorted(Path(f).name for f in files)
    assert names == sorted(
        [
            f"{FAKE}-seed11-0.png",
            f"{FAKE}-seed11-1.png",
            f"{FAKE}-seed11-labels-index.png",
            f"{FAKE}-seed11-labels-colour.png",
        ]
    )
    index = next(f for f in files if f.endswith("labels-index.png"))
    assert np.array_equal(read_ids(index), sample_ids())


def test_api_segment_photo_to_index_png(app, tmp_path):
    from gradio_client import handle_file

    client, _ = app
    photo = tmp_path / "p.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(photo)
    path = client.predict(handle_file(str(photo)), "landscape", api_name="/segment")
    ids = read_ids(path)
    assert ids.shape == (48, 64) and (ids[:24] == SKY).all() and (ids[24:] == WATER).all()


def test_bad_uploads_raise_and_the_app_keeps_serving(app, tmp_path):
    from gradio_client import handle_file

    client, _ = app
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    huge = tmp_path / "huge.png"
    Image.new("L", (5000, 4000), 0).save(huge)  # small file, 20 Mpx: over the pixel cap
    bad_ids = tmp_path / "bad-ids.png"
    Image.fromarray(np.full((32, 32), 200, np.uint8), mode="L").save(bad_ids)  # id 200 is not a landscape class
    for bad, why in ((corrupt, "cannot read"), (huge, "over the cap"), (bad_ids, "not in palette")):
        with pytest.raises(Exception, match=why):
            client.predict(handle_file(str(bad)), "landscape", api_name="/labels")
    with pytest.raises(Exception, match="unknown palette|unknown model"):
        client.predict("nope", api_name="/palette")
    good = tmp_path / "good.png"
    write_index_png(sample_ids(), good, "landscape")
    if not availability("controlnet-seg")[0]:  # an unavailable backend is a clear error, not a crash
        with pytest.raises(Exception, match="not available"):
            client.predict(handle_file(str(good)), "controlnet-seg", 0, api_name="/render")
    # and a good call still works
    index_path, _ = client.predict(handle_file(str(good)), "landscape", api_name="/labels")
    assert np.array_equal(read_ids(index_path), sample_ids())
