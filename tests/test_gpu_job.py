"""scripts/gpu_train.sh end to end on the CPU (DEVICE=cpu): tiny data, tiny models, seconds of training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

ROOT = Path(__file__).resolve().parents[1]
TINY = "--size 128x128 --batch 2 --batch-full 2 --d-channels 8,8,8,8,8 --z-dim 4 --head 8 --profile 0 --threads 1"


def make_dataset(root: Path, layout: tuple[str, str], classes: int, dontcare: int | None) -> None:
    rng = np.random.default_rng(0)
    (root / "classes.json").parent.mkdir(parents=True)
    (root / "classes.json").write_text(json.dumps({"classes": [{"index": i} for i in range(classes)]}))
    for split in ("train", "val"):
        for sub in layout:
            (root / split / sub).mkdir(parents=True)
        for k in range(4):
            lab = np.zeros((64, 64), np.uint8)
            lab[32:] = 1
            if dontcare is not None:
                lab[:4] = dontcare
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
                root / split / layout[0] / f"{k}.jpg"
            )
            Image.fromarray(lab).save(root / split / layout[1] / f"{k}.png")


def run_job(data: Path, dest: Path, resume: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
    env = {
        **extra,
        **os.environ,
        "DEVICE": "cpu",
        "WORK": str(dest / "work"),
        "GEN_ARGS": TINY,
        "SEG_ARGS": "--seg-channels 4,8,8,8 --seg-size 32x32 --threads 1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    args = ["bash", "scripts/gpu_train.sh", "0.08", str(data), str(dest / "out")] + ([str(resume)] if resume else [])
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_gpu_job_writes_small_resumable_files(tmp_path):
    data = tmp_path / "data"
    make_dataset(data / "stanford_background", ("images", "labels"), 8, 15)
    make_dataset(data / "facades", ("photo", "label_index"), 12, None)
    r = run_job(data, tmp_path / "a")
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "a" / "out"
    expected = [
        "landscape/landscape.safetensors",
        "landscape/resume-D.safetensors",
        "facades/facades.safetensors",
        "facades/resume-D.safetensors",
        "seg/seg-landscape.safetensors",
        "seg/seg-facades.safetensors",
        "logs.tar.gz",
    ]
    for rel in expected:
        assert (out / rel).is_file(), f"{rel} missing\n{r.stdout}"
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(p.stat().st_size < 16 * 2**20 for p in files)
    with tarfile.open(out / "logs.tar.gz") as tar:
        names = tar.getnames()
    assert any(n.endswith("landscape/log.jsonl") for n in names) and any(n.endswith(".png") for n in names)
    steps = json.loads(safe_open(str(out / "landscape/landscape.safetensors"), "pt").metadata()["info"])["steps"]
    # a second job continues from the first one's files (generators), adding its own minutes
    r = run_job(data, tmp_path / "b", resume=out)
    assert r.returncode == 0, r.stdout + r.stderr
    meta = safe_open(str(tmp_path / "b/out/landscape/landscape.safetensors"), "pt").metadata()
    info = json.loads(meta["info"])
    assert info["steps"] > steps and info["minutes"] >= 0.1
    assert "resumed at step" in (tmp_path / "b/work/landscape/stdout.log").read_text()

    # only resume-D travels (the generator is the shipped one): continued when the shipped file is from D's
    # step, started afresh when it is not
    lone = tmp_path / "lone" / "landscape"
    lone.mkdir(parents=True)
    (lone / "resume-D.safetensors").write_bytes((out / "landscape/resume-D.safetensors").read_bytes())
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "landscape.safetensors").write_bytes((out / "landscape/landscape.safetensors").read_bytes())
    r = run_job(data, tmp_path / "c", resume=lone.parent, SEGMENTERS="0", SHIPPED=str(shipped))
    assert r.returncode == 0 and "resuming the shipped generator" in r.stdout, r.stdout + r.stderr
    assert "resumed at step" in (tmp_path / "c/work/landscape/stdout.log").read_text()
    other = tmp_path / "b/out/landscape/landscape.safetensors"  # a later step of the run
    (shipped / "landscape.safetensors").write_bytes(other.read_bytes())
    r = run_job(data, tmp_path / "d", resume=lone.parent, SEGMENTERS="0", SHIPPED=str(shipped), INIT="")
    assert r.returncode == 0 and "not resuming" in r.stdout and "training from scratch" in r.stdout, r.stdout
    assert "resumed at step" not in (tmp_path / "d/work/landscape/stdout.log").read_text()

    # nothing to resume, but a v2 generator in INIT (default: SHIPPED): it starts from that, D afresh
    patch = "--patch-d 0.5 --patch-d-channels 4,8"  # and a second, patch discriminator: it travels back too
    r = run_job(data, tmp_path / "e", SEGMENTERS="0", SHIPPED=str(shipped), D_WARMUP="1", LANDSCAPE_ARGS=patch)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "e/out/landscape/resume-P.safetensors").is_file()
    assert not (tmp_path / "e/out/facades/resume-P.safetensors").exists()
    assert f"starting from the generator {shipped}/landscape.safetensors" in r.stdout
    assert "facades: nothing to resume; training from scratch" in r.stdout  # no facades file in SHIPPED
    info = json.loads(safe_open(str(tmp_path / "e/out/landscape/landscape.safetensors"), "pt").metadata()["info"])
    assert info["recipe"]["init_weights"] == f"{shipped}/landscape.safetensors" and info["recipe"]["d_warmup"] == 1
    assert info["recipe"]["lowres_fraction"] == 0  # the generator is trained at full size: no half-size phase


def _travelling_bytes(repo: Path) -> int:
    """What the device tool copies: tracked and untracked-not-ignored files that exist."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo, capture_output=True
    ).stdout
    return sum((repo / p).stat().st_size for p in out.decode().split("\0") if p and (repo / p).is_file())


def test_device_tree_sets_the_weights_aside_so_tree_and_data_fit_and_puts_them_back(tmp_path):
    repo = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    (repo / "scripts/device_tree.sh").write_bytes((ROOT / "scripts/device_tree.sh").read_bytes())
    weights = sorted(p.name for p in (repo / "synth/weights").glob("*.safetensors"))
    before = {n: (repo / "synth/weights" / n).read_bytes() for n in weights}
    tool = ["bash", "scripts/device_tree.sh"]
    r = subprocess.run(tool + ["aside"], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not subprocess.run(["git", "ls-files", "synth/weights"], cwd=repo, capture_output=True).stdout
    # the tree that travels + both packed datasets (22.6 MB, README) fit the device's 64 MiB
    assert _travelling_bytes(repo) + 23_000_000 < 64 * 2**20
    r = subprocess.run(tool + ["aside"], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 2 and "already aside" in r.stderr  # twice: a clear refusal, nothing lost
    r = subprocess.run(tool + ["back"], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert {n: (repo / "synth/weights" / n).read_bytes() for n in weights} == before
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert [line for line in status.splitlines() if not line.endswith("scripts/device_tree.sh")] == []

    # KEEP: a generator a GPU job continues stays in the tree (facades: the partner of its lone resume-D), and with
    # that model's packed data (facades 9.0 MB; landscape 13.7 MB) it still fits (train_state/README.md)
    keep = ["synth/weights/facades.safetensors"]
    r = subprocess.run(tool + ["aside", "synth/weights/nothing.safetensors"], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 2 and "not a tracked file" in r.stderr
    assert {n: (repo / "synth/weights" / n).read_bytes() for n in weights} == before  # refused before moving
    r = subprocess.run(tool + ["aside", *keep], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tracked = subprocess.run(["git", "ls-files", "synth/weights"], cwd=repo, capture_output=True, text=True).stdout
    assert tracked.split() == keep
    assert _travelling_bytes(repo) + 9_000_000 < 64 * 2**20
    r = subprocess.run(tool + ["aside"], cwd=repo, capture_output=True, text=True)
    assert r.returncode == 2 and "already aside" in r.stderr
    assert subprocess.run(tool + ["back"], cwd=repo, capture_output=True).returncode == 0
    assert {n: (repo / "synth/weights" / n).read_bytes() for n in weights} == before
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout
    assert [line for line in status.splitlines() if not line.endswith("scripts/device_tree.sh")] == []


LANDED = sorted(p.parent for p in (ROOT / "train_state").glob("*/resume-D.safetensors"))
LAYOUTS = {
    "landscape": ("stanford_background", ("images", "labels"), 8, 15),
    "facades": ("facades", ("photo", "label_index"), 12, None),
}


@pytest.mark.skipif(not LANDED, reason="no training in progress: train_state/ holds no resume files")
@pytest.mark.parametrize("folder", LANDED, ids=lambda p: p.name)
def test_landed_training_state_is_one_step_and_resumes(folder, tmp_path):
    """train_state/<model>/ (what carries a run from one session to the next) continues with `daub train --resume`;
    a folder with resume-D alone continues the shipped generator, which must come from the same step."""
    ema, d = folder / f"{folder.name}.safetensors", folder / "resume-D.safetensors"
    if not ema.is_file():  # a discriminator alone: its generator is the shipped one (as in gpu_train.sh)
        ema = ROOT / "synth" / "weights" / ema.name
    patch = folder / "resume-P.safetensors"  # the patch discriminator of a run with --patch-d
    files = (ema, d, patch) if patch.is_file() else (ema, d)
    assert ema.is_file() and all(p.stat().st_size < 16 * 2**20 for p in files)
    info = json.loads(safe_open(str(ema), "pt").metadata()["info"])
    step = int(safe_open(str(d), "pt").metadata()["step"])
    assert info["steps"] == step, "the EMA generator and the discriminator come from different steps"
    if patch.is_file():
        assert int(safe_open(str(patch), "pt").metadata()["step"]) == step, "resume-P comes from another step"
    dataset, layout, classes, dontcare = LAYOUTS[folder.name]
    make_dataset(tmp_path / dataset, layout, classes, dontcare)
    run = tmp_path / "run"
    run.mkdir()
    for p in files:
        (run / p.name).write_bytes(p.read_bytes())
    args = ["--dataset", str(tmp_path / dataset), "--palette", folder.name, "--out", str(run), "--resume"]
    if patch.is_file():  # its weights must load into the patch discriminator the run's flags build
        args += ["--patch-d", str(info["recipe"]["patch_d"]), "--patch-d-channels", info["recipe"]["patch_d_channels"]]
    args += [
        "--steps",
        str(step + 1),
        "--size",
        "128x128",
        "--lowres-steps",
        "0",
        "--batch-full",
        "1",
        "--threads",
        "1",
    ]
    r = subprocess.run([sys.executable, "-m", "synth", "train", *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and f"resumed at step {step}" in r.stdout, r.stdout + r.stderr
    assert json.loads(safe_open(str(run / ema.name), "pt").metadata()["info"])["steps"] == step + 1
