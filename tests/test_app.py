"""The app (synth.app: Studio wired into synth.ui) and its HTTP API, through gradio_client.

One app launch for the module (in-process, 127.0.0.1, free port), with a fake slow backend added
through the registry (the ``fake_slow`` fixture) for the Render-button / progress-per-step path,
and a fake segmenter.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ui_app import fake_segmenter, launch, read_ids, sample_ids

from palettes import load as load_palette
from synth import generators
from synth.labels import write_index_png
from synth.studio import Studio
from synth.ui.painter import png_data_url

FAKE = "fake-slow"
LAND = load_palette("landscape")
SKY, TREE, WATER, MOUNTAIN = (LAND.id_of(n) for n in ("sky", "tree", "water", "mountain"))
HAVE_LANDSCAPE = generators.availability("landscape")[0]
needs_landscape = pytest.mark.skipif(not HAVE_LANDSCAPE, reason="embedded landscape weights are missing")


@pytest.fixture(scope="module")
def app(tmp_path_factory, fake_slow, fake_missing):
    from gradio_client import Client

    from synth.app import build
    from synth.ui import CSS

    st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path_factory.mktemp("app")))
    demo = build(model="landscape" if HAVE_LANDSCAPE else FAKE, studio=st)
    url = launch(demo, css=CSS)
    client = Client(url, verbose=False)
    yield client, fake_slow, url
    client.close()
    demo.close()


def test_create_demo_rejects_unknown_or_unavailable_default(tmp_path, fake_missing):
    from synth.ui import create_demo

    studio = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown model"):
        create_demo(studio, default_model="nope")
    with pytest.raises(ValueError, match="not available: a download"):
        create_demo(studio, default_model=fake_missing)


def test_serve_parser_matches_daub_serve():
    from synth.app import parser

    args = parser().parse_args(["--host", "0.0.0.0", "--port", "7999", "--share", "--model", "facades"])
    assert (args.host, args.port, args.share, args.model) == ("0.0.0.0", 7999, True, "facades")
    assert parser().prog == "daub serve"


@pytest.fixture
def index_png(tmp_path):
    path = tmp_path / "map-index.png"
    write_index_png(sample_ids(), path, "landscape")
    return path


def test_api_lists_the_named_endpoints(app):
    client = app[0]
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/render", "/labels", "/segment", "/palette", "/render_batch"} <= names


def test_api_palette(app):
    client = app[0]
    data = client.predict("landscape", api_name="/palette")
    data = json.loads(data) if isinstance(data, str) else data
    assert data["name"] == "landscape" and data["fill"] == SKY
    assert [c["name"] for c in data["classes"]][:3] == ["sky", "tree", "road"]
    assert data["classes"][WATER]["paint"] == "#{:02x}{:02x}{:02x}".format(*LAND.paint[WATER])


def test_api_labels_colour_png_to_index_png(app, tmp_path):
    from gradio_client import handle_file

    client = app[0]
    colour = tmp_path / "map.png"
    Image.fromarray(LAND.to_colors(sample_ids())).save(colour)
    index_path, report = client.predict(handle_file(str(colour)), "landscape", api_name="/labels")
    assert np.array_equal(read_ids(index_path), sample_ids())
    report = json.loads(report) if isinstance(report, str) else report
    assert report["exact"] == 256 * 192 and report["classes"]["tree"] == 3600


@needs_landscape
def test_api_render_is_deterministic_per_seed(app, index_png):
    from gradio_client import handle_file

    client = app[0]
    a = client.predict(handle_file(str(index_png)), "landscape", 3, api_name="/render")
    b = client.predict(handle_file(str(index_png)), "landscape", 3, api_name="/render")
    c = client.predict(handle_file(str(index_png)), "landscape", 4, api_name="/render")
    ia, ib, ic = (np.asarray(Image.open(p)) for p in (a, b, c))
    assert ia.shape == (192, 256, 3) and np.array_equal(ia, ib) and not np.array_equal(ia, ic)
    direct = Studio(segmenter=fake_segmenter).render(sample_ids(), "landscape", 3).images[0]
    assert np.array_equal(ia, np.asarray(direct))  # the fast PNG is lossless


def test_png_in_cache_writes_a_lossless_png_where_gradio_cleans_up(tmp_path, monkeypatch):
    from synth.ui.widgets import png_in_cache

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    paths = [Path(png_in_cache(img)) for _ in range(2)]
    assert paths[0] != paths[1] and all(p.parent == tmp_path / "cache" for p in paths)
    with Image.open(paths[0]) as back:
        assert back.format == "PNG" and np.array_equal(np.asarray(back), np.asarray(img))


def test_api_render_slow_backend_reports_progress_per_step(app, index_png):
    from gradio_client import handle_file

    client, fake, _ = app
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

    client, fake, _ = app
    painted = {"image": png_data_url(LAND.to_colors(sample_ids())), "stroke": 1}
    out = client.predict(
        painted, FAKE, 11, 2, "a lake at dawn", "", 3, 7.5, 1.0, False, None, True, api_name="/render_canvas"
    )
    gallery, note, seen, overlay, instances, report, files, words, heat = out
    assert len(gallery) == 2 and instances is None  # the fake takes no instance map
    assert (heat.get("value") if isinstance(heat, dict) else heat) is None  # nor heat maps (option dropped)
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

    client = app[0]
    photo = tmp_path / "p.png"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(photo)
    path = client.predict(handle_file(str(photo)), "landscape", api_name="/segment")
    ids = read_ids(path)
    assert ids.shape == (48, 64) and (ids[:24] == SKY).all() and (ids[24:] == WATER).all()


def test_bad_uploads_raise_and_the_app_keeps_serving(app, tmp_path):
    from gradio_client import handle_file

    client = app[0]
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
    with pytest.raises(Exception, match="not available here: a download"):  # a clear error, not a crash
        client.predict(handle_file(str(good)), "fake-missing", 0, api_name="/render")
    # and a good call still works
    index_path, _ = client.predict(handle_file(str(good)), "landscape", api_name="/labels")
    assert np.array_equal(read_ids(index_path), sample_ids())


def test_a_registered_backend_is_on_the_page_and_over_http(app, index_png):
    """Adding a backend is one register() call (the fake_slow fixture): the model menu lists it, unavailable
    ones are marked, and /render renders with it."""
    from gradio_client import handle_file

    client, _, url = app
    with urllib.request.urlopen(url + "config", timeout=30) as r:
        config = json.load(r)
    menu = next(c["props"] for c in config["components"] if c["props"].get("elem_id") == "model")
    choices = {value: label for label, value in menu["choices"]}
    assert choices[FAKE] == FAKE and choices["fake-missing"] == "fake-missing (unavailable)"
    assert set(generators.names()) <= set(choices)
    img = np.asarray(Image.open(client.predict(handle_file(str(index_png)), FAKE, 9, api_name="/render")))
    assert tuple(img[0, 0]) == (9, 40, 200)


def test_errors_name_files_not_server_paths_and_model_names_ignore_case(app, tmp_path, index_png):
    from gradio_client import handle_file

    client = app[0]
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(corrupt)), "landscape", api_name="/labels")
    assert "cannot read image corrupt.png" in str(err.value) and "/tmp/" not in str(err.value)
    with pytest.raises(Exception) as err:
        client.predict("x" * 100_000, api_name="/palette")
    assert "unknown palette" in str(err.value) and len(str(err.value)) < 1000
    if HAVE_LANDSCAPE:
        img = np.asarray(Image.open(client.predict(handle_file(str(index_png)), " LANDSCAPE ", 3, api_name="/render")))
        assert img.shape == (192, 256, 3)


def test_expected_errors_log_one_line_and_no_traceback(app, tmp_path, capfd, caplog):
    """A bad /labels call (our gr.Error) logs one line on daub.serve; gradio prints no traceback for it."""
    import logging

    from gradio_client import handle_file

    client = app[0]
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger="daub.serve"):
        with pytest.raises(Exception, match="cannot read image corrupt.png"):
            client.predict(handle_file(str(corrupt)), "landscape", api_name="/labels")
    err = capfd.readouterr().err
    assert "Traceback" not in err, err
    lines = [r.getMessage() for r in caplog.records if r.name == "daub.serve"]
    assert len(lines) == 1 and lines[0].startswith("/labels: cannot read image corrupt.png"), lines
    assert "\n" not in lines[0] and "/tmp/" not in lines[0]


def test_serve_quietly_sets_threads_and_keeps_tracebacks_for_bugs():
    import threading

    import gradio as gr
    import torch

    from synth.app import parser
    from synth.serving import serve_quietly

    def refused():
        raise gr.Error("bad input")

    def bug():
        return 1 / 0

    def threads():
        return torch.get_num_threads()

    with gr.Blocks() as demo:
        out = gr.Number()
        for fn in (refused, bug, threads):
            gr.Button().click(fn, None, out, api_name=fn.__name__)
    serve_quietly(demo, threads=1)
    serve_quietly(demo, threads=1)  # wrapping twice is a no-op
    fns = {f.api_name: f.fn for f in demo.fns.values()}
    with pytest.raises(gr.Error) as err:
        fns["refused"]()
    assert err.value.print_exception is False
    with pytest.raises(ZeroDivisionError):
        fns["bug"]()
    assert fns["threads"].__wrapped__ is threads and fns["threads"].__name__ == "threads"
    seen = []
    worker = threading.Thread(target=lambda: seen.append(fns["threads"]()))
    worker.start()
    worker.join()
    assert seen == [1]
    args = parser().parse_args(["--threads", "2", "--cache-age", "30"])
    assert (args.threads, args.cache_age) == (2, 30)
    assert parser().parse_args([]).threads == 1


def test_clean_up_deletes_old_files_and_what_gradio_leaves(tmp_path):
    import gradio as gr

    from synth.serving import clean_up, sweep_cache

    with gr.Blocks() as demo:
        gr.Textbox()
    demo.GRADIO_CACHE = str(tmp_path)
    made, kept = tmp_path / "h1" / "image.png", tmp_path / "h2" / "example.png"
    for path in (made, kept):
        path.parent.mkdir()
        path.write_bytes(b"png")
    files = {str(made), str(kept), str(tmp_path / "gone-already.png")}
    demo.temp_file_sets.append(files)
    next(iter(demo.blocks.values())).keep_in_cache.add(str(kept))  # a page's initial value stays
    (tmp_path / "tmpabc123").touch()  # gr.File's empty leftover
    (tmp_path / "tmp-not-empty").write_bytes(b"x")
    assert clean_up(demo, age=3600) == 1 and made.exists()  # nothing old enough (only the vanished path goes)
    assert clean_up(demo, age=0) == 3  # image.png, its emptied folder, the empty tmp file; nothing else
    assert not made.exists() and not made.parent.exists() and not (tmp_path / "tmpabc123").exists()
    assert kept.exists() and (tmp_path / "tmp-not-empty").exists() and files == {str(kept)}
    assert sweep_cache(str(tmp_path / "nope"), 0) == 0


@needs_landscape
def test_api_render_batch_zip_video_and_refusals(app, tmp_path):
    """/render_batch (the Batch section's button): loose maps and a zip -> a zip of photos, an MP4 and a
    summary, with the page's progress per map; an unsafe zip is refused in one line."""
    import zipfile

    from gradio_client import handle_file

    av = pytest.importorskip("av")
    client = app[0]
    paths = []
    for k in range(4):
        ids = sample_ids(128, 96).copy()
        ids[10:40, 8 * k : 8 * k + 30] = TREE
        paths.append(tmp_path / f"f{k}.png")
        write_index_png(ids, paths[-1], "landscape")
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in paths[2:]:
            zf.write(p, p.name)
    files = [handle_file(str(p)) for p in paths[:2]] + [handle_file(str(archive))]
    out_zip, video, summary = client.predict(files, "landscape", 4, True, api_name="/render_batch")
    summary = json.loads(summary) if isinstance(summary, str) else summary
    assert (summary["rendered"], summary["failed"], summary["seed"]) == (4, 0, 4)
    with zipfile.ZipFile(out_zip) as zf:
        assert sorted(zf.namelist()) == ["f0.png", "f1.png", "f2.png", "f3.png", "manifest.jsonl"]
        photo = np.asarray(Image.open(zf.open("f2.png")).convert("RGB"))
    direct = Studio(segmenter=fake_segmenter).render(read_ids(paths[2]), "landscape", 4).images[0]
    assert np.array_equal(photo, np.asarray(direct))
    video = video["video"] if isinstance(video, dict) else video  # a path (gradio_client) or {"video": path}
    with av.open(video) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 4 and frames[0].shape == (96, 128, 3)
    job = client.submit(files, FAKE, 7, False, api_name="/render_batch")  # 0.4 s a map: progress is seen
    seen = set()
    while not job.done():
        for unit in job.status().progress_data or []:
            if unit.index is not None:
                seen.add((unit.index, unit.length))
        time.sleep(0.02)
    _, no_video, summary = job.result()
    assert no_video is None and summary["model"] == FAKE and summary["rendered"] == 4
    assert seen and seen <= {(k, 4) for k in range(1, 5)}, seen  # one step per map
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.write(paths[0], "../evil.png")
    with pytest.raises(Exception, match=r"evil\.zip: refused: member '\.\./evil\.png' has an absolute path") as err:
        client.predict([handle_file(str(evil))], "landscape", 0, False, api_name="/render_batch")
    assert "\n" not in str(err.value) and "/tmp/" not in str(err.value)
