"""The web demo's model side (synth.studio.Studio), without a server; a fake segmenter stands in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ui_app import fake_segmenter, read_ids, sample_ids

from palettes import load as load_palette
from synth import generators
from synth.generators import availability, palette_of
from synth.labels import write_index_png
from synth.studio import Studio
from synth.zerogpu import gpu

LAND = load_palette("landscape")
SKY, TREE, WATER, MOUNTAIN = (LAND.id_of(n) for n in ("sky", "tree", "water", "mountain"))
HAVE_LANDSCAPE = availability("landscape")[0]
needs_landscape = pytest.mark.skipif(not HAVE_LANDSCAPE, reason="embedded landscape weights are missing")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    return Studio(segmenter=fake_segmenter, out_dir=str(tmp_path_factory.mktemp("studio")))


def test_labels_of_a_picture_and_transparent_is_fill(studio):
    ids = sample_ids()
    back, report = studio.labels(studio.colours(ids, "landscape"), "landscape")
    assert np.array_equal(back, ids)
    assert report["exact"] == ids.size and report["classes"] == {"sky": 24576 - 3600, "tree": 3600, "water": 24576}
    rgba = np.zeros((192, 256, 4), np.uint8)  # fully transparent: everything is the fill class
    rgba[:10, :10] = (*LAND.paint[WATER], 255)
    ids2, rep2 = studio.labels(rgba, "landscape")
    assert (ids2[:10, :10] == WATER).all() and (ids2[10:] == LAND.fill).all()
    assert rep2["transparent"] == 192 * 256 - 100
    blank, rep3 = studio.labels(None, "landscape")
    assert np.array_equal(blank, studio.blank("landscape")) and rep3["classes"] == {"sky": 192 * 256}


def test_labels_reports_snapped_colours(studio):
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:] = LAND.paint[SKY]
    rgb[:, 32:] = np.clip(LAND.paint[WATER].astype(int) + 6, 0, 255)  # a near miss: snapped to water
    ids, rep = studio.labels(rgb, "landscape")
    assert (ids[:, 32:] == WATER).all() and rep["snapped"] == 64 * 32 and rep["beyond_tolerance"] == 0


def test_blank_uses_fill_and_model_canvas(studio):
    assert studio.blank("landscape").shape == (192, 256) and (studio.blank("landscape") == SKY).all()
    fac = studio.blank("facades")
    assert fac.shape == (256, 256) and (fac == load_palette("facades").fill).all()


def test_models_lists_every_backend_with_reasons(studio):
    infos = {m.name: m for m in studio.models()}
    assert set(generators.names()) <= set(infos)
    for m in infos.values():
        assert m.ready or m.reason, f"{m.name} is unavailable without a reason"
        assert m.palette == palette_of(m.name) and m.size == generators.get(m.name).canvas
    assert infos["landscape"].live and not infos["controlnet-seg"].live
    with pytest.raises(ValueError, match="unknown model"):
        studio.model("nope")


def test_unavailable_model_gives_clear_error(studio, fake_missing):
    assert studio.model(fake_missing).reason == "a download"
    with pytest.raises(RuntimeError, match="not available here: a download"):
        studio.generator(fake_missing)


@needs_landscape
def test_render_export_and_reload_round_trip(studio):
    ids = sample_ids()
    result = studio.render(ids, "landscape", seed=7, num_images=2)
    assert len(result.images) == 2 and result.images[0].size == (256, 192) and result.seed == 7
    assert result.spread > 0 and studio.render(ids, "landscape", seed=7, num_images=1).spread == 0
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
    for name in generators.names():
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

    assert gpu(f)(1) == 2


def test_switch_moves_to_the_new_palette_and_canvas_and_says_what_is_dropped(studio):
    ids = sample_ids()
    ids[0, 0] = LAND.id_of("foreground object")
    out, dropped = studio.switch(ids, "landscape", "facades")
    fac = load_palette("facades")
    assert out.shape == (192, 256) and (out == fac.fill).all()  # aspect kept inside the 256x256 canvas
    assert dropped == {"sky": 24576 - 3600 - 1, "tree": 3600, "water": 24576, "foreground object": 1}
    back, dropped = studio.switch(ids, "landscape", "landscape")
    assert np.array_equal(back, ids) and dropped == {}


def test_a_label_map_in_another_palette_is_refused_by_name(studio, tmp_path):
    fac = load_palette("facades")
    ids = np.random.default_rng(0).integers(0, fac.num_classes, (48, 64))
    for path in (tmp_path / "fac-index.png", tmp_path / "fac-colour.png"):
        if "index" in path.name:
            write_index_png(ids, path, fac)
        else:
            Image.fromarray(fac.to_colors(ids)).save(path)
        with pytest.raises(ValueError, match="painted in the facades palette"):
            studio.read_label_map(path, "landscape")
        back, _ = studio.read_label_map(path, "facades", fit=False)
        assert np.array_equal(back, ids)
    grey = tmp_path / "grey.png"  # ids without colours: read as ids of the model's palette
    write_index_png(np.full((8, 8), TREE, np.uint8), grey)
    assert (studio.read_label_map(grey, "landscape", fit=False)[0] == TREE).all()


def test_out_dir_keeps_only_the_newest_folders(tmp_path):
    from synth.studio import RenderResult

    st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path / "out"), keep=3)
    (tmp_path / "out" / "mine").mkdir()  # not ours: never pruned
    ids = np.full((8, 8), SKY, np.uint8)
    made = []
    for k in range(8):
        result = RenderResult([Image.new("RGB", (8, 8))], ids, "landscape", k, 0.0)
        made.append(Path(st.export(result)[0]).parent)
        made.append(Path(st.save_index(ids, "landscape")).parent)
    left = sorted(p for p in (tmp_path / "out").iterdir() if p.name != "mine")
    assert len(left) == 3 and set(left) == set(made[-3:])  # the newest three, files intact
    assert all(any(p.iterdir()) for p in left) and (tmp_path / "out" / "mine").is_dir()
    assert st.prune(1) == 2 and [p for p in made if p.exists()] == [made[-1]]
    with pytest.raises(ValueError, match="keep"):
        Studio(segmenter=fake_segmenter, out_dir=str(tmp_path), keep=0)


def test_own_temp_folder_goes_with_the_studio():
    import gc

    st = Studio(segmenter=fake_segmenter)
    folder = Path(st.save_index(np.zeros((4, 4), np.uint8), "landscape")).parent.parent
    assert folder.is_dir() and folder.name.startswith("daub-")
    del st
    gc.collect()
    assert not folder.exists()


def test_an_unavailable_segmenter_is_asked_once(tmp_path):
    asked = []

    def segmenter(name, **kw):
        asked.append(name)
        raise OSError("not in the cache and HF_HUB_OFFLINE=1")

    st = Studio(segmenter=segmenter, out_dir=str(tmp_path / "out"))
    photo = tmp_path / "p.png"
    Image.new("RGB", (16, 12)).save(photo)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="ade20k photo segmenter is not available: not in the cache"):
            st.segment(photo, "ade20k")
    assert asked == ["ade20k"]


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "one-at-a-time"])
def test_parallel_backends_render_at_once_others_one_at_a_time(parallel):
    """A ``parallel`` record lets two threads render the same backend at once (both cores of a small
    server); any other backend is rendered one call at a time (a diffusers pipeline has state)."""
    import threading
    import time

    from conftest import FakeSlowGenerator

    from synth.generators import Backend, register, unregister

    class Overlap(FakeSlowGenerator):
        name = "fake-overlap"
        active = most = 0
        guard = threading.Lock()

        def _generate(self, ids, seeds, **kwargs):
            with self.guard:
                Overlap.active += 1
                Overlap.most = max(Overlap.most, Overlap.active)
            time.sleep(0.5)
            with self.guard:
                Overlap.active -= 1
            return super()._generate(ids, seeds, steps=1)

    gen = Overlap(0.0)
    register(Backend(gen.name, lambda **_: gen, "landscape", "overlap probe", canvas=(256, 192), parallel=parallel))
    try:
        studio = Studio(segmenter=fake_segmenter)
        ids = sample_ids()
        studio.generator(gen.name)  # loaded before the race: only the renders compete
        threads = [threading.Thread(target=studio.render, args=(ids, gen.name, s)) for s in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        unregister(gen.name)
    assert len(gen.calls) == 3
    assert Overlap.most == (3 if parallel else 1)


def batch_maps(folder: Path, n: int, size: tuple[int, int] = (64, 64)) -> list[Path]:
    """``n`` landscape maps (index PNGs, colour PNGs every other one) of ``size``, a tree block moving right."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        ids = sample_ids(*size).copy()
        ids[8:24, 4 * k : 4 * k + 16] = TREE
        path = folder / f"frame{k:02d}.png"
        if k % 2:
            Image.fromarray(LAND.to_colors(ids)).save(path)
        else:
            write_index_png(ids, path, LAND)
        paths.append(path)
    return paths


def zip_of(path: Path, members: dict[str, bytes | Path]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data if isinstance(data, bytes) else data.read_bytes())
    return path


@needs_landscape
def test_render_batch_zips_the_good_photos_and_reports_the_bad_file(studio, tmp_path):
    import json
    import zipfile

    maps = batch_maps(tmp_path / "maps", 6)
    archive = zip_of(tmp_path / "seq.zip", {f"seq/{p.name}": p for p in maps[:5]} | {"seq/notes.txt": b"skipped"})
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    calls = []
    result = studio.render_batch(
        [str(archive), str(maps[5]), str(broken)], "landscape", seed=5, callback=lambda d, n: calls.append((d, n))
    )
    assert result.video is None and calls == [(k, 7) for k in range(1, 8)]
    s = result.summary
    assert (s["total"], s["rendered"], s["failed"], s["model"], s["seed"]) == (7, 6, 1, "landscape", 5)
    assert len(s["errors"]) == 1 and s["errors"][0].startswith("broken.png (seed 5): cannot read image broken.png")
    assert "/tmp/" not in json.dumps(s)
    with zipfile.ZipFile(result.zip) as zf:
        names = sorted(zf.namelist())
        assert names == sorted([f"seq/{p.name}" for p in maps[:5]] + [maps[5].name, "manifest.jsonl"])
        rows = [json.loads(line) for line in zf.read("manifest.jsonl").decode().splitlines()]
        photo = Image.open(zf.open("seq/frame00.png"))
        photo.load()
    assert sorted(r["input"] for r in rows) == sorted([n for n in names if n != "manifest.jsonl"] + ["broken.png"])
    assert all(r["output"] == r["input"] for r in rows if "error" not in r) and "/tmp/" not in json.dumps(rows)
    direct = studio.render(studio.read_label_map(maps[0], "landscape", fit=False)[0], "landscape", 5).images[0]
    assert np.array_equal(np.asarray(photo), np.asarray(direct))  # the batch renders as the page does
    folder = Path(result.zip).parent
    assert folder.name.startswith("batch-") and sorted(p.name for p in folder.iterdir()) == [Path(result.zip).name]


@needs_landscape
def test_render_batch_video_has_a_frame_per_map_in_name_order(studio, tmp_path):
    av = pytest.importorskip("av")
    maps = batch_maps(tmp_path / "maps", 5, (96, 64))
    archive = zip_of(tmp_path / "frames.zip", {p.name: p for p in reversed(maps[1:])})  # zip order != name order
    result = studio.render_batch([str(maps[0]), str(archive)], "landscape", seed=2, video=True, fps=8)
    assert result.summary["failed"] == 0 and result.summary["video"] == "5 frames at 8 fps"
    assert result.video.endswith(".mp4")
    with av.open(result.video) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5 and all(f.shape == (64, 96, 3) for f in frames)
    photos = [np.asarray(studio.render(studio.read_label_map(p, "landscape", fit=False)[0], "landscape", 2).images[0])
              for p in maps]  # fmt: skip
    errors = [[np.abs(f.astype(int) - p.astype(int)).mean() for p in photos] for f in frames]
    assert [int(np.argmin(e)) for e in errors] == list(range(5))  # frame k is map k's photo (lossy, nearest)


def test_render_batch_refuses_unsafe_or_oversized_uploads_in_one_line(studio, tmp_path, monkeypatch):
    from synth import uploads

    good = batch_maps(tmp_path / "maps", 2)
    cases = [
        (zip_of(tmp_path / "evil.zip", {"ok.png": good[0], "../evil.png": good[1]}), "has an absolute path or '..'"),
        (zip_of(tmp_path / "abs.zip", {"/etc/evil.png": good[1]}), "has an absolute path or '..'"),
        (zip_of(tmp_path / "many.zip", {f"m{k}.png": b"x" for k in range(501)}), "at most 500 in one batch"),
    ]
    not_zip = tmp_path / "fake.zip"
    not_zip.write_bytes(b"not a zip")
    cases.append((not_zip, "fake.zip: cannot read the zip file"))
    cases.append((good[0].with_suffix(".txt"), "upload PNG label maps or .zip files"))
    for upload, why in cases:
        with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(".", r"\.")) as err:
            studio.render_batch([str(upload)], "landscape")
        assert "\n" not in str(err.value) and len(str(err.value)) < 200
    assert not (tmp_path / "evil.png").exists() and not list(studio.out_dir.rglob("evil.png"))
    assert not list(studio.out_dir.glob("batch-*/maps"))  # a refused batch leaves nothing behind
    monkeypatch.setattr(uploads, "MAX_BYTES", 2**20)
    big = zip_of(tmp_path / "big.zip", {"big.png": bytes(2**20 + 1)})
    with pytest.raises(ValueError, match="unpack to more than 1 MB"):
        studio.render_batch([str(big)], "landscape")
    monkeypatch.undo()
    wide = batch_maps(tmp_path / "other", 2, (96, 64))[1].rename(tmp_path / "wide.png")
    with pytest.raises(ValueError, match="a video needs label maps of one size; these differ: 64x64, 96x64"):
        studio.render_batch([str(good[0]), str(wide)], "landscape", video=True)
    twice = zip_of(tmp_path / "twice.zip", {good[0].name: good[0]})
    with pytest.raises(ValueError, match="two uploads are named 'frame00.png'"):
        studio.render_batch([str(good[0]), str(twice)], "landscape")


def tiny_v1_facades():
    """A random v1 (one style code per image) facades generator: it cannot re-draw one class."""
    import torch

    from synth.generators.embedded import DaubConfig, DaubGenerator, EmbeddedGenerator

    torch.manual_seed(0)
    cfg = DaubConfig(palette="facades", label_nc=12, z_dim=4, channels=(16, 8), hidden=(8, 8), head=8)
    return EmbeddedGenerator("facades", DaubGenerator(cfg).eval())


def test_redraw_one_class_only_on_3d_noise_models(tmp_path, fake_missing, fake_slow):
    from test_recipe_v2 import tiny_v2

    from synth.generators.embedded import EmbeddedGenerator
    from synth.ui.events import with_regions

    gens = {"landscape": EmbeddedGenerator("landscape", tiny_v2()), "facades": tiny_v1_facades()}
    studio = Studio(loader=lambda name, **_: gens[name], segmenter=fake_segmenter, out_dir=str(tmp_path))
    assert studio.redraws("landscape") and not studio.redraws("facades") and not studio.redraws(fake_missing)
    assert not studio.redraws(fake_slow.name)  # a button-rendered backend is not loaded to ask (KeyError if it were)
    report = {}
    from synth.ui.layout import region_menu

    menu = region_menu(studio, "landscape")  # don't-care has no look of its own to re-draw
    assert [cid for _, cid in menu["choices"]] == list(range(8)) and menu["value"] == SKY
    opts = with_regions(studio, {TREE: 7, 99: 1, LAND.dontcare: 2}, "landscape", report)  # 99: no such class
    assert opts == {"region_seeds": {TREE: 7}} and report["region_seeds"] == {"tree": 7}
    assert with_regions(studio, {}, "landscape", {}) == {}
    facades_report = {}
    assert with_regions(studio, {1: 7}, "facades", facades_report) == {} and facades_report == {}
    ids = np.full((48, 64), SKY, np.uint8)
    ids[:, 32:] = TREE
    base = np.asarray(studio.render(ids, "landscape", seed=3).images[0], np.float64)
    redrawn = np.asarray(studio.render(ids, "landscape", seed=3, options=opts).images[0], np.float64)
    diff = np.abs(redrawn - base).mean(-1)
    assert diff[:, 40:].mean() > 3 * diff[:, :24].mean()  # the tree changed, the sky stayed
