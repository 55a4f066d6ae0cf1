"""The ``daub`` command line: help, errors, ``daub labels``, ``daub render`` (with a fake backend), ``daub bench``."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import synth
from synth import bench, commands
from synth.cli import COMMANDS
from synth.cli import main as daub
from synth.generators import Backend, BaseGenerator, SizeRule, register, unregister
from synth.labels import write_index_png

REPO = Path(__file__).resolve().parents[1]
LAND = synth.palette("landscape")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m synth ARGS`` in a fresh interpreter (no downloads)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "synth", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {stderr!r}"
    return lines[0]


def landscape_ids(h: int = 24, w: int = 32) -> np.ndarray:
    ids = np.zeros((h, w), np.uint8)  # sky
    ids[h // 2 :] = 3  # grass
    ids[h // 2 :, : w // 4] = 4  # water
    ids[2:6, 20:26] = 15  # unknown
    return ids


# --------------------------------------------------------------------------------------------------
# help and errors (subprocess, as a user runs it)


def test_top_level_help():
    for args in (["--help"], []):
        r = run(*args)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("usage: daub COMMAND")
        for name in COMMANDS:
            assert f"\n  {name} " in r.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_subcommand_help(name):
    module, func, _ = COMMANDS[name]
    assert callable(getattr(importlib.import_module(module), func)), f"daub {name}: {module}.{func} is missing"
    r = run(name, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: daub {name}"), r.stdout[:200]


def test_unknown_command():
    r = run("paint")
    assert r.returncode == 2
    assert one_line(r.stderr) == (
        "daub: error: unknown command 'paint' (choose from labels, render, render-batch, render-video, bench, train, eval, convert, "
        "serve)"
    )
    assert r.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["labels", "missing.png", "out.png", "--palette", "ade20k"], "daub labels: error: no such file: missing.png"),
        (["labels", "a.png"], "daub labels: error: the following arguments are required: output, --palette"),
        (
            ["labels", "a.png", "b.png", "--palette", "ade20k", "--off-palette", "drop"],
            "argument --off-palette: invalid choice",
        ),
        (
            ["labels", "a.png", "b.png", "--palette", "ade20k", "--tolerance", "x"],
            "argument --tolerance: invalid float value",
        ),
        (
            ["render", "missing.png", "out.png", "--backend", "landscape"],
            "daub render: error: no such file: missing.png",
        ),
        (["render", "a.png", "out.png", "--backend", "nope"], "daub render: error: unknown model 'nope'"),
        (["bench", "nothing"], "daub bench: error: argument WHAT: invalid choice: 'nothing'"),
        (["bench", "generators", "--runs", "0"], "daub bench: error: --runs and --spade-runs must be >= 1"),
    ],
)
def test_bad_input_is_one_line(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in one_line(r.stderr)


def test_labels_bad_files(tmp_path):
    noise = tmp_path / "noise.png"
    noise.write_bytes(os.urandom(300))
    r = run("labels", str(noise), str(tmp_path / "o.png"), "--palette", "landscape")
    assert r.returncode == 2 and "cannot identify image file" in one_line(r.stderr)
    good = tmp_path / "good.png"
    Image.fromarray(LAND.to_colors(landscape_ids())).save(good)
    r = run("labels", str(good), str(tmp_path / "no" / "o.png"), "--palette", "landscape")
    assert r.returncode == 2 and "output folder" in one_line(r.stderr)
    r = run("labels", str(good), str(tmp_path / "o.png"), "--palette", "mars")
    assert r.returncode == 2 and "unknown palette 'mars'" in one_line(r.stderr)


# --------------------------------------------------------------------------------------------------
# daub labels


def test_labels_writes_index_png_and_report(tmp_path):
    ids = landscape_ids()
    rgb = LAND.to_colors(ids)
    rgb[12, 10] = LAND.paint[3].astype(int) + (3, -4, 5)  # slightly off grass: snapped
    src, out = tmp_path / "paint.png", tmp_path / "ids.png"
    Image.fromarray(rgb).save(src)
    r = run("labels", str(src), str(out), "--palette", "landscape", "--report")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["palette"] == "landscape" and report["output"] == str(out)
    assert report["pixels"] == ids.size and report["snapped"] == 1 and report["exact"] == ids.size - 1
    assert set(report) >= {"exact", "snapped", "beyond_tolerance", "cleaned", "transparent", "max_distance"}
    img = Image.open(out)
    assert img.mode == "P"
    np.testing.assert_array_equal(np.asarray(img), LAND.to_labels(rgb))
    table = np.asarray(img.getpalette()[:48], np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(table[:8], LAND.paint)
    # without --report stdout stays empty
    r = run("labels", str(src), str(out), "--palette", "landscape")
    assert r.returncode == 0 and r.stdout == ""


def test_labels_options(tmp_path, capsys):
    ids = landscape_ids()
    rgba = np.dstack([LAND.to_colors(ids), np.full(ids.shape, 255, np.uint8)])
    rgba[0, :4, 3] = 0  # transparent
    rgba[1, 0, :3] = (255, 0, 255)  # far from every colour
    src, out = tmp_path / "paint.png", tmp_path / "ids.png"
    Image.fromarray(rgba, "RGBA").save(src)

    assert (
        daub(["labels", str(src), str(out), "--palette", "landscape", "--fill", "water", "--off-palette", "fill"]) == 0
    )
    got = np.asarray(Image.open(out))
    assert (got[0, :4] == 4).all() and got[1, 0] == 4
    assert daub(["labels", str(src), str(out), "--palette", "landscape", "--fill", "6", "--report"]) == 0
    report = json.loads(capsys.readouterr().out)
    got = np.asarray(Image.open(out))
    assert (got[0, :4] == 6).all()
    # nearest mode: the far pixel snaps (here cleanup hands it to its confident sky neighbours), not fill
    assert got[1, 0] == LAND.to_labels(rgba, fill=6)[1, 0] != 6
    assert report["transparent"] == 4 and report["beyond_tolerance"] == 1

    assert daub(["labels", str(src), str(out), "--palette", "landscape", "--off-palette", "error"]) == 2
    assert "1 pixels are beyond tolerance 64" in one_line(capsys.readouterr().err)
    assert (
        daub(["labels", str(src), str(out), "--palette", "landscape", "--off-palette", "error", "--tolerance", "300"])
        == 0
    )
    assert daub(["labels", str(src), str(out), "--palette", "landscape", "--fill", "lava"]) == 2
    assert "has no class named 'lava'" in one_line(capsys.readouterr().err)
    assert daub(["labels", str(src), str(out), "--palette", "landscape", "--fill", "9"]) == 2
    assert "--fill 9 is not an id of palette 'landscape'" in one_line(capsys.readouterr().err)
    assert daub(["labels", str(src), str(out), "--palette", "landscape", "--tolerance", "-1"]) == 2
    assert "--tolerance must be >= 0" in capsys.readouterr().err


def test_labels_index_png_input_passes_through(tmp_path):
    ids = landscape_ids()
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    write_index_png(ids, src, LAND)
    assert daub(["labels", str(src), str(out), "--palette", "landscape"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out)), ids)


# --------------------------------------------------------------------------------------------------
# daub render with a fake backend

CALLS: list[dict] = []


class FakeGenerator(BaseGenerator):
    """Paints the ids in the palette's colours, brightened by the seed; records every call."""

    name = "fake"
    size_rule = SizeRule(multiple=8, default=(64, 48), max_side=256)
    options = ("prompt", "negative_prompt", "steps", "guidance_scale", "callback", "instance")

    def __init__(self, palette="landscape", **kwargs):
        self.palette = synth.palette(palette)
        self.kwargs = kwargs

    @property
    def device(self):
        return "cpu"

    def _generate(self, ids, seeds, **options):
        CALLS.append(
            {"ids": ids.copy(), "seeds": seeds, "options": options, "load": self.kwargs, "palette": self.palette.name}
        )
        callback = options.get("callback")
        for step in range(1, (options.get("steps") or 1) + 1):
            if callback is not None:
                callback(step, options.get("steps") or 1, None)
        base = self.palette.to_colors(ids).astype(np.int64)
        return [Image.fromarray(np.clip(base + s, 0, 255).astype(np.uint8)) for s in seeds]


class PlainGenerator(FakeGenerator):
    """A backend with no options at all."""

    name = "plain"
    options = ()


def load_fake(**kwargs):
    return FakeGenerator(**kwargs)


def load_plain(**kwargs):
    return PlainGenerator(**kwargs)


@pytest.fixture
def fake_backends():
    CALLS.clear()
    records = [
        Backend("fake", load_fake, "landscape", "test backend"),
        Backend("plain", load_plain, "landscape", "test backend without options"),
        Backend("spade-fake", load_fake, "landscape", "test spade-like backend"),
    ]
    for record in records:
        register(record)
    yield CALLS
    for record in records:
        unregister(record.name)


def test_render_colour_map(tmp_path, fake_backends, capsys):
    ids = landscape_ids()
    src, out = tmp_path / "map.png", tmp_path / "photo.png"
    Image.fromarray(LAND.to_colors(ids)).save(src)
    assert daub(["render", str(src), str(out), "--backend", "fake", "--seed", "7"]) == 0
    (call,) = fake_backends
    np.testing.assert_array_equal(call["ids"], ids)
    assert call["seeds"] == [7] and set(call["options"]) == {"callback"}
    assert capsys.readouterr().out.strip() == str(out)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.clip(LAND.to_colors(ids).astype(int) + 7, 0, 255))


def test_render_index_png_many_images_size_and_options(tmp_path, fake_backends, capsys):
    ids = landscape_ids()
    src = tmp_path / "ids.png"
    write_index_png(ids, src, LAND)
    out = tmp_path / "photo.png"
    args = ["render", str(src), str(out), "--backend", "fake", "--num-images", "3", "--seed", "2", "--size", "61x45"]
    args += ["--prompt", "a lake", "--negative-prompt", "fog", "--steps", "4", "--guidance", "2.5", "--device", "cpu"]
    assert daub(args) == 0
    (call,) = fake_backends
    assert call["seeds"] == [2, 3, 4]
    assert call["ids"].shape == (48, 64)  # 61x45 snapped to multiples of 8
    assert set(np.unique(call["ids"])) == set(np.unique(ids))
    opts = call["options"]
    assert (opts["prompt"], opts["negative_prompt"], opts["steps"], opts["guidance_scale"]) == ("a lake", "fog", 4, 2.5)
    assert callable(opts["callback"])  # progress: the fake lists "callback"
    assert call["load"] == {"device": "cpu"}
    captured = capsys.readouterr()
    paths = [tmp_path / f"photo-{k}.png" for k in range(3)]
    assert captured.out.split() == [str(p) for p in paths]
    assert "fake" in captured.err and "4/4" in captured.err  # tqdm progress bar on stderr
    assert not out.exists()
    for k, p in enumerate(paths):
        assert Image.open(p).size == (64, 48)
        assert np.asarray(Image.open(p))[0, 0].tolist() == (LAND.paint[0].astype(int) + 2 + k).tolist()


def test_render_no_callback_for_backends_without_it(tmp_path, fake_backends, capsys):
    src = tmp_path / "ids.png"
    write_index_png(landscape_ids(), src, LAND)
    assert daub(["render", str(src), str(tmp_path / "o.png"), "--backend", "plain"]) == 0
    assert fake_backends[0]["options"] == {}
    assert capsys.readouterr().err == ""
    assert daub(["render", str(src), str(tmp_path / "o.png"), "--backend", "plain", "--prompt", "x"]) == 2
    assert one_line(capsys.readouterr().err) == "daub render: error: backend 'plain' does not take --prompt"
    assert daub(["render", str(src), str(tmp_path / "o.png"), "--backend", "plain", "--steps", "3"]) == 2
    assert "does not take --steps" in capsys.readouterr().err


def test_render_instance_map(tmp_path, fake_backends, capsys):
    ids = landscape_ids()
    src, inst_path = tmp_path / "ids.png", tmp_path / "inst.png"
    write_index_png(ids, src, LAND)
    inst = np.zeros(ids.shape, np.uint8)
    inst[:, 16:] = 3
    Image.fromarray(inst, "L").save(inst_path)
    assert daub(["render", str(src), str(tmp_path / "o.png"), "--backend", "fake", "--instance", str(inst_path)]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(fake_backends[0]["options"]["instance"], inst)
    # colour instance maps: one instance per colour
    rgb = np.zeros(ids.shape + (3,), np.uint8)
    rgb[:, 16:] = (10, 20, 30)
    Image.fromarray(rgb).save(inst_path)
    assert daub(["render", str(src), str(tmp_path / "o.png"), "--backend", "fake", "--instance", str(inst_path)]) == 0
    capsys.readouterr()
    got = fake_backends[1]["options"]["instance"]
    assert got[0, 0] != got[0, 20] and len(np.unique(got)) == 2
    Image.fromarray(inst[:10]).save(inst_path)
    assert daub(["render", str(src), str(tmp_path / "o.png"), "--backend", "fake", "--instance", str(inst_path)]) == 2
    assert "instance map is (32, 10), label map is (32, 24)" in one_line(capsys.readouterr().err)
    assert daub(["render", str(src), str(tmp_path / "o.png"), "--backend", "plain", "--instance", str(inst_path)]) == 2
    assert "does not use instance maps" in capsys.readouterr().err


def test_render_checkpoint_and_palette_flags(tmp_path, fake_backends, capsys):
    src = tmp_path / "ids.png"
    write_index_png(landscape_ids(), src, LAND)
    ckpt = tmp_path / "latest_net_G.pth"
    ckpt.write_bytes(b"weights")
    out = str(tmp_path / "o.png")
    assert daub(["render", str(src), out, "--backend", "spade-fake", "--checkpoint", str(ckpt)]) == 0
    capsys.readouterr()
    assert fake_backends[0]["load"] == {"checkpoint": str(ckpt)}
    assert daub(["render", str(src), out, "--backend", "fake", "--checkpoint", str(ckpt)]) == 2
    assert "--checkpoint applies to spade-* backends, not 'fake'" in one_line(capsys.readouterr().err)
    assert daub(["render", str(src), out, "--backend", "spade-fake", "--checkpoint", str(tmp_path / "nope.pth")]) == 2
    assert "--checkpoint: no such file" in capsys.readouterr().err
    assert daub(["render", str(src), out, "--backend", "fake", "--base-model", "x"]) == 2
    assert "--base-model applies to controlnet-seg, not 'fake'" in capsys.readouterr().err
    # --palette other than the backend's is handed to the backend; here it must then take that palette
    facades = tmp_path / "facades.png"
    write_index_png(np.ones((16, 16), np.uint8), facades, "facades")
    assert daub(["render", str(facades), out, "--backend", "fake", "--palette", "facades"]) == 0
    capsys.readouterr()
    assert fake_backends[-1]["palette"] == "facades"
    assert daub(["render", str(facades), out, "--backend", "plain", "--palette", "landscape"]) == 0
    capsys.readouterr()
    # a map whose ids do not fit the palette is refused before loading anything
    write_index_png(np.full((16, 16), 11, np.uint8), facades, "facades")
    n = len(fake_backends)
    assert daub(["render", str(facades), out, "--backend", "fake"]) == 2
    assert "index map holds ids not in palette 'landscape': [11]" in one_line(capsys.readouterr().err)
    assert len(fake_backends) == n


def test_render_load_kwargs_for_controlnet():
    args = commands.render_parser().parse_args(
        [
            "in.png",
            "out.png",
            "--backend",
            "controlnet-seg",
            "--base-model",
            "sd15",
            "--controlnet",
            "cn",
            "--palette",
            "coco133",
        ]
    )
    assert commands.load_kwargs(args) == {"base_model": "sd15", "controlnet": "cn", "palette": "coco133"}
    args = commands.render_parser().parse_args(
        ["in.png", "out.png", "--backend", "controlnet-seg", "--palette", "ade20k"]
    )
    assert commands.load_kwargs(args) == {}


def test_render_bad_arguments(tmp_path, fake_backends, capsys):
    src = tmp_path / "ids.png"
    write_index_png(landscape_ids(), src, LAND)
    out = str(tmp_path / "o.png")
    for extra, message in [
        (["--size", "big"], "--size must look like 512x384, got 'big'"),
        (["--size", "0x10"], "--size must be positive"),
        (["--num-images", "0"], "--num-images must be >= 1, got 0"),
        (["--num-images", "17"], "num_images must be 1..16, got 17"),
    ]:
        assert daub(["render", str(src), out, "--backend", "fake", *extra]) == 2
        assert message in one_line(capsys.readouterr().err)
    assert daub(["render", str(src), str(tmp_path / "missing" / "o.png"), "--backend", "fake"]) == 2
    assert "output folder" in capsys.readouterr().err


def test_output_paths():
    assert commands.output_paths("a/b.png", 1) == [Path("a/b.png")]
    assert commands.output_paths("a/b.png", 2) == [Path("a/b-0.png"), Path("a/b-1.png")]
    assert commands.output_paths("photo", 2) == [Path("photo-0.png"), Path("photo-1.png")]


# --------------------------------------------------------------------------------------------------
# daub bench labels


def test_bench_labels_small(capsys):
    assert daub(["bench", "labels", "--size", "128", "--runs", "2", "--naive-runs", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["palette"] == "ade20k" and result["size"] == [128, 128] and result["runs"] == 2
    for key in ("exact_ms", "blended_ms", "naive_ms"):
        assert isinstance(result[key], float) and result[key] > 0
    assert 0.9 * 0.05 * 128 * 128 <= result["blended_pixels"] <= 0.05 * 128 * 128
    assert 0 < result["blended_as_either"] <= 1 and result["unblended_exact"] is True


def test_bench_maps():
    pal = synth.palette("ade20k")
    ids, rgb = bench.painted_map(pal, 256, block=16, seed=1)
    np.testing.assert_array_equal(bench.naive_labels(rgb, pal), ids)
    np.testing.assert_array_equal(pal.to_labels(rgb), ids)
    soft, partner = bench.blend_edges(rgb, ids, 0.05, seed=1)
    changed = np.any(soft != rgb, -1)
    assert ((partner != ids) >= changed).all()
    assert 0.95 * 0.05 * 256 * 256 <= changed.sum() <= round(0.05 * 256 * 256)
    boundary = np.zeros(ids.shape, bool)
    boundary[:, :-1] |= ids[:, :-1] != ids[:, 1:]
    boundary[:-1] |= ids[:-1] != ids[1:]
    assert not (changed & ~boundary).any(), "only boundary pixels are blended"


def test_median_ms_is_the_median_of_the_timed_runs(monkeypatch):
    clock = iter([0.0, 0.005, 1.0, 1.001, 2.0, 2.009])  # runs of 5, 1 and 9 ms after one untimed warmup
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    assert bench.median_ms(lambda: None, runs=3, warmup=1) == pytest.approx(5.0)


def test_bench_generators_reports_each_model_beside_spade(monkeypatch):
    from synth.generators import spade

    real = spade.random_spade
    monkeypatch.setattr(spade, "random_spade", lambda name, ngf=64, **kw: real(name, ngf=8, **kw))  # keep it quick
    result = bench.bench_generators(argparse.Namespace(runs=1, spade_runs=1, compare=[]))
    models = result["models"]
    assert set(models["landscape"]) == {
        f"{s}_{k}" for s in ("256x256", "256x192") for k in ("bf16_channels_last", "fp32")
    }
    assert set(models["facades"]) == {"256x256_bf16_channels_last", "256x256_fp32"}
    figures = [f for m in models.values() for f in m.values()]
    assert len(figures) == 7 and all(f["ms"] > 0 and f["cpu_ms"] >= 0 for f in figures)


def test_bench_generators_times_compared_weights_in_the_same_run(monkeypatch, tmp_path):
    from synth.generators import spade
    from synth.generators.embedded import DaubConfig, DaubGenerator, save_weights

    real = spade.random_spade
    monkeypatch.setattr(spade, "random_spade", lambda name, ngf=64, **kw: real(name, ngf=8, **kw))
    cfg = DaubConfig(palette="facades", label_nc=12, z_dim=4, channels=(16, 8), hidden=(8, 8), head=8)
    cfg.noise_3d, cfg.pixel_noise, cfg.padding, cfg.default_size = True, True, "reflect", (64, 64)
    save_weights(DaubGenerator(cfg), tmp_path / "v2.safetensors")
    args = argparse.Namespace(runs=1, spade_runs=1, compare=[f"v2={tmp_path / 'v2.safetensors'}"])
    models = bench.bench_generators(args)["models"]
    assert set(models["v2"]) == {"256x256_bf16_channels_last", "256x256_fp32"}  # a facades model
    assert all(f["ms"] > 0 for f in models["v2"].values())
    with pytest.raises(ValueError, match="NAME=PATH"):
        bench.bench_generators(argparse.Namespace(runs=1, spade_runs=1, compare=["v2"]))
    with pytest.raises(FileNotFoundError, match="no weights"):
        bench.bench_generators(argparse.Namespace(runs=1, spade_runs=1, compare=["v2=/nope.safetensors"]))


def test_bench_segmenters_times_shipped_and_compared_weights(tmp_path):
    from synth.nets.segnet import SegNet
    from synth.segmenters.small import save_segmenter

    save_segmenter(SegNet(8, (8, 16), context=True), tmp_path / "judge.safetensors", "landscape", (64, 48))
    args = argparse.Namespace(runs=1, compare=[f"judge={tmp_path / 'judge.safetensors'}"])
    models = bench.bench_segmenters(args)["models"]
    assert set(models) == {"landscape", "facades", "judge"}
    assert models["judge"]["photo"] == "320x240" and models["judge"]["input"] == "64x48"  # its palette's photo
    assert models["facades"]["photo"] == "256x256"
    assert models["judge"]["parameters"] < models["landscape"]["parameters"]
    assert all(m["ms"] > 0 for m in models.values())
    with pytest.raises(ValueError, match="NAME=PATH"):
        bench.bench_segmenters(argparse.Namespace(runs=1, compare=["judge"]))
    with pytest.raises(FileNotFoundError, match="no weights"):
        bench.bench_segmenters(argparse.Namespace(runs=1, compare=["judge=/nope.safetensors"]))
    with pytest.raises(ValueError, match="--runs"):
        bench.bench_segmenters(argparse.Namespace(runs=0, compare=[]))
    (tmp_path / "notes.txt").write_text("not weights")
    for path in (tmp_path / "notes.txt", synth.generators.embedded.weights_path("facades")):
        with pytest.raises(ValueError, match="segmenter"):
            bench.bench_segmenters(argparse.Namespace(runs=1, compare=[f"x={path}"]))


@pytest.mark.skipif(not synth.generators.availability("landscape")[0], reason="embedded landscape weights are missing")
def test_bench_serve_small(tmp_path, capsys):
    """A real server, 1 and 2 clients x 3 renders: no errors, same render after, files cleaned up, no tracebacks."""
    out = tmp_path / "serve.json"
    args = ["bench", "serve", "--clients", "1,2", "--renders", "3", "--warmup", "0", "--baseline-runs", "1"]
    assert daub([*args, "--cache-age", "1", "--settle", "4", "--interval", "0.1", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == result
    (run,) = result["runs"]
    assert run["threads"] == 1 and run["baseline_direct_ms"] > 0 and run["byte_identical_after"] is True
    assert [(p["clients"], p["renders"], p["errors"]) for p in run["phases"]] == [(1, 3, 0), (2, 3, 0)]
    for p in run["phases"]:
        assert 0 < p["p50_ms"] <= p["p95_ms"] <= p["max_ms"] and p["renders_per_s"] > 0
        assert p["peak_rss_mb"] >= p["rss_drift_mb"]["last_10pct"] > 0
    # gradio's clean-up ran: only the page's few initial pictures are left; nothing outside the known folders
    assert run["temp_files_after_settle"]["gradio"] <= 5 and run["temp_files_after_settle"]["other"] == 0
    assert run["server_log"]["tracebacks"] == 0


def test_bench_serve_bad_arguments():
    with pytest.raises(ValueError, match="--clients must be numbers >= 1"):
        daub_raise(["serve", "--clients", "0"])
    with pytest.raises(ValueError, match="--threads must be numbers separated by commas"):
        daub_raise(["serve", "--threads", "one"])


def daub_raise(argv: list[str]) -> None:
    """``daub bench ARGV`` without the CLI's error printing (raises what the bench raises)."""
    bench.main(argv)


def test_render_defaults_to_the_landscape_model(tmp_path, capsys):
    src, out = tmp_path / "map.png", tmp_path / "photo.png"
    write_index_png(landscape_ids(96, 128), src, LAND)
    assert daub(["render", str(src), str(out), "--seed", "1"]) == 0
    img = Image.open(out)
    assert img.size == (128, 96) and np.asarray(img).std() > 5  # the embedded landscape model drew it
