"""daub render-batch: a folder of maps rendered here and on Ray (the same bytes), resumable, traced, bad
files reported and skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ui_app import sample_ids

import synth
from synth import generators
from synth.batch import MANIFEST, Manifest, Settings, parse_seeds, plan, render_local, render_ray
from synth.labels import write_index_png

LAND = synth.palette("landscape")
TREE = LAND.id_of("tree")
pytestmark = pytest.mark.skipif(
    not generators.availability("landscape")[0], reason="embedded landscape weights missing"
)
ROOT = Path(__file__).resolve().parent.parent


def make_maps(folder: Path, n: int, bad: bool = True) -> list[Path]:
    """``n`` small maps (index and colour PNGs, some in a subfolder) and, with ``bad``, two broken files."""
    rng = np.random.default_rng(0)
    paths = []
    for k in range(n):
        ids = sample_ids(64, 64).copy()
        y, x = (int(v) for v in rng.integers(0, 48, 2))
        ids[y : y + 16, x : x + 16] = TREE
        path = folder / ("sub" if k % 3 == 0 else "") / f"map{k:02d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if k % 2:
            write_index_png(ids, path, "landscape")
        else:
            Image.fromarray(LAND.to_colors(ids)).save(path)
        paths.append(path)
    if bad:
        (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not a map")  # not a .png: not looked at
    return paths


def photos(out: Path) -> dict[str, bytes]:
    """The finished photos under ``out`` (not the ``.NAME….daub-partial.png`` a kill mid-write leaves)."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png")) if p.name[0] != "."}


SETTINGS = Settings("landscape", threads=1)


def test_plan_keeps_relative_paths_and_names_seeds(tmp_path):
    make_maps(tmp_path / "in", 4, bad=False)
    one = plan(tmp_path / "in", tmp_path / "out", [7])
    assert [Path(t.output).relative_to(tmp_path / "out").as_posix() for t in one] == [
        "map01.png",
        "map02.png",
        "sub/map00.png",
        "sub/map03.png",
    ]
    many = plan(tmp_path / "in", tmp_path / "out", [0, 1])
    assert Path(many[0].output).name == "map01-seed0.png" and Path(many[1].output).name == "map01-seed1.png"
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("3-5") == [3, 4, 5]
    for bad in ("a", "1,1", "-1", str(2**32), ""):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_local_and_ray_render_the_same_bytes_and_report_bad_files(tmp_path):
    pytest.importorskip("ray")
    make_maps(tmp_path / "in", 22)
    tasks = plan(tmp_path / "in", tmp_path / "local", [0])
    local = render_local(tasks, tmp_path / "local", SETTINGS, quiet=True)
    assert (local.total, local.rendered, local.failed) == (24, 22, 2)
    assert sorted(e.split(" ")[0] for e in local.errors) == ["broken.png", "empty.png"]
    tasks = plan(tmp_path / "in", tmp_path / "ray", [0])
    on_ray = render_ray(tasks, tmp_path / "ray", SETTINGS, workers=2, num_cpus=2, quiet=True)
    assert (on_ray.rendered, on_ray.failed) == (22, 2)
    here, there = photos(tmp_path / "local"), photos(tmp_path / "ray")
    assert len(here) == 22 and here == there  # byte-identical
    rows = Manifest(tmp_path / "ray").rows()
    assert len(rows) == 24 and {r["backend"] for r in rows} == {"landscape"}
    done = [r for r in rows if "output" in r]
    assert all(r["seconds"] > 0 and r["seed"] == 0 and r["options"] == {} for r in done)
    assert sorted(r["input"] for r in rows if "error" in r) == ["broken.png", "empty.png"]


def run_cli(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "synth", "render-batch", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def test_a_killed_run_restarts_without_rendering_twice_or_leaving_partial_files(tmp_path):
    make_maps(tmp_path / "in", 20, bad=False)
    out = tmp_path / "out"
    proc = run_cli(str(tmp_path / "in"), str(out), "--threads", "1", "--quiet")
    deadline = time.time() + 120
    while len(list(out.rglob("map*.png"))) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = photos(out)
    assert 6 <= len(first) < 20, "the kill came too late to test a restart"
    (out / "sub").mkdir(exist_ok=True)
    (out / "sub" / ".map09.png.123-4.daub-partial").write_bytes(b"half")  # what a kill mid-write leaves
    proc = run_cli(str(tmp_path / "in"), str(out), "--threads", "1", "--quiet")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["skipped"] == len(first) and summary["rendered"] == 20 - len(first) and summary["failed"] == 0
    after = photos(out)
    assert len(after) == 20 and all(after[name] == data for name, data in first.items())  # untouched
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no partial files
    for data in after.values():
        assert data.startswith(b"\x89PNG")
    rows = Manifest(out).rows()
    rendered = [r["output"] for r in rows if r.get("seconds")]
    assert len(rendered) == len(set(rendered))  # nothing rendered twice
    assert {r["output"] for r in rows} == {str(p) for p in out.rglob("map*.png")}  # every photo traced


def test_cli_reports_failures_in_its_exit_status_and_errors_in_one_line(tmp_path):
    make_maps(tmp_path / "in", 2)
    proc = run_cli(str(tmp_path / "in"), str(tmp_path / "out"), "--seeds", "0,5", "--quiet")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "4 of 8 maps failed" in stderr  # 2 bad files x 2 seeds
    assert sorted(photos(tmp_path / "out")) == [
        "map01-seed0.png",
        "map01-seed5.png",
        "sub/map00-seed0.png",
        "sub/map00-seed5.png",
    ]
    assert (tmp_path / "out" / MANIFEST).exists()
    for args, message in (
        ([str(tmp_path / "nowhere"), str(tmp_path / "o2")], "IN: no such folder"),
        ([str(tmp_path / "in"), str(tmp_path / "o3"), "--seeds", "x"], "--seeds must be numbers"),
        ([str(tmp_path / "in"), str(tmp_path / "o4"), "--steps", "3"], "does not take steps"),
    ):
        proc = run_cli(*args, "--quiet")
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
