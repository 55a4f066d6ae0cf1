"""The Hugging Face Space folder: spaces/build.py assembles it, and its app starts offline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "spaces"))
import build as space_build  # noqa: E402
from ui_app import free_port  # noqa: E402


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    return space_build.build(tmp_path_factory.mktemp("space") / "daub")


def _front_matter(readme: Path) -> dict[str, str]:
    text = readme.read_text()
    assert text.startswith("---\n")
    block = text.split("---\n")[1]
    out, key = {}, None
    for line in block.splitlines():
        if line.startswith("  - ") and key:
            out[key] = (out[key] + " " + line[4:]).strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            out[key.strip()] = value.strip().strip('"')
    return out


def test_space_folder_has_app_packages_weights_and_metadata(space):
    import gradio

    for rel in (
        "app.py",
        "requirements.txt",
        "README.md",
        "synth/app.py",
        "synth/ui/layout.py",
        "synth/studio.py",
        "palettes/landscape.json",
        "synth/examples/landscape/lake.png",
    ):
        assert (space / rel).is_file(), rel
    assert list((space / "synth" / "weights").glob("*.safetensors")), "no shipped weights in the Space"
    assert not list(space.rglob("__pycache__"))
    meta = _front_matter(space / "README.md")
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == gradio.__version__
    assert meta["app_file"] == "app.py" and meta["python_version"] == "3.10"  # ZeroGPU documents Python 3.10.13
    assert "lllyasviel/control_v11p_sd15_seg" in meta["models"]
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in meta["models"]
    reqs = (space / "requirements.txt").read_text()
    lines = [ln.strip() for ln in reqs.splitlines() if ln.strip() and not ln.startswith("#")]
    assert any(ln.startswith("diffusers") for ln in lines) and any(ln.startswith("torch") for ln in lines)
    assert not any(ln.startswith("gradio") for ln in lines)  # the Space's sdk_version provides gradio


def test_space_requirements_agree_with_pyproject(space):
    """The Space installs the project's dependencies and its diffusion and video extras (controlnet-aux for
    the style photo included) with the same lower bounds; gradio comes from the Space's sdk_version. The
    scale extra (Ray) is not for a Space: it renders batches here, never on a cluster."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def floors(specs):
        out = {}
        for spec in specs:
            name, _, floor = spec.partition(">=")
            out[name.strip().lower().replace("_", "-")] = floor.split(",")[0].strip()
        return out

    extras = project["optional-dependencies"]
    wanted = floors(project["dependencies"] + extras["diffusion"] + extras["video"])
    wanted.pop("gradio")
    lines = (space / "requirements.txt").read_text().splitlines()
    have = floors(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
    assert have == wanted
    assert "controlnet-aux" in have and have["torch"] == "2.6"


def test_build_refuses_to_overwrite(space, tmp_path):
    with pytest.raises(FileExistsError, match="not empty"):
        space_build.build(space)
    with pytest.raises(ValueError, match="refusing"):
        space_build.build(ROOT / "synth" / "x", force=True)
    assert space_build.main([str(tmp_path / "new")]) == 0 and (tmp_path / "new" / "app.py").is_file()


def test_space_app_starts_offline_and_serves_the_page(space):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONDONTWRITEBYTECODE="1",
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import synth, synth.ui; print(synth.__file__)"],
        cwd=space,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve().is_relative_to(space.resolve())  # the Space's copy, not the repo's
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=space, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.time() + 240
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the Space app exited with {proc.returncode}:\n{proc.stdout.read()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    page = r.read().decode("utf-8", "replace")
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        assert r.status == 200 and "gradio" in page.lower()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=30) as r:
            info = r.read().decode()
        for name in ("/render", "/labels", "/segment", "/palette"):
            assert f'"{name}"' in info, name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _preload(readme: Path) -> dict[str, list[str]]:
    """The built README's ``preload_from_hub`` entries: repo -> files."""
    block = readme.read_text().split("---\n")[1]
    lines = block.split("preload_from_hub:\n")[1].splitlines()
    entries = [ln[4:] for ln in lines if ln.startswith("  - ")]
    return {repo: files.split(",") for repo, files in (e.split(" ", 1) for e in entries)}


def _hub_cache(cache: Path, repo: str, src: Path, keep) -> None:
    """Copy the files of folder ``src`` that ``keep(relative path)`` into ``cache`` as Hub repo ``repo``."""
    import shutil

    snap = cache / ("models--" + repo.replace("/", "--")) / "snapshots" / ("0" * 40)
    for f in src.rglob("*"):
        rel = f.relative_to(src).as_posix()
        if f.is_file() and keep(rel):
            (snap / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, snap / rel)
    (snap.parent.parent / "refs").mkdir(exist_ok=True)
    (snap.parent.parent / "refs" / "main").write_text("0" * 40)


def test_preload_from_hub_lists_exactly_what_a_gpu_load_reads(space, tmp_path, monkeypatch):
    """Tiny stand-ins saved in the real repos' layout (fp16 variant files, as a GPU load reads them), cut down to
    the files the Space preloads, load offline through synth.load; without one of them they do not."""
    pytest.importorskip("diffusers")
    import tiny_diffusion as tiny
    import torch
    from huggingface_hub import constants

    import synth
    from synth.generators import controlnet

    listed = _preload(space / "README.md")
    assert set(listed) == {*controlnet.HUB_FILES, "openmmlab/upernet-convnext-small"}
    from diffusers import ControlNetModel, StableDiffusionPipeline

    tiny.save_tiny_base(tmp_path / "sd")  # saved again below with the fp16 variant's file names
    StableDiffusionPipeline.from_pretrained(tmp_path / "sd").save_pretrained(tmp_path / "sd16", variant="fp16")
    ControlNetModel.from_pretrained(tiny.save_tiny_controlnet(tmp_path / "seg")).save_pretrained(
        tmp_path / "seg16", variant="fp16"
    )
    sources = {
        controlnet.DEFAULT_BASE: tmp_path / "sd16",
        controlnet.CONTROLNETS["v1.1"]: tmp_path / "seg16",
        controlnet.LCM_LORA: tiny.save_tiny_lcm_lora(tmp_path / "lcm"),
    }
    # every listed file is one diffusers writes, except where the tiny base differs from the real repo: it has
    # no safety checker, and its tokenizer is saved in the fast format (the real repo has vocab.json, merges.txt)
    real_only = ("safety_checker", "feature_extractor", "tokenizer")
    for repo, src in sources.items():
        written = {f.relative_to(src).as_posix() for f in src.rglob("*") if f.is_file()}
        extra = {f for f in listed[repo] if f.split("/")[0] not in real_only}
        assert extra <= written, (repo, sorted(extra - written))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def load_from(cache: Path):
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
        return synth.load("controlnet-seg", device="cpu", dtype=torch.float16, fast=True)

    full = tmp_path / "hub"
    for repo, src in sources.items():
        _hub_cache(full, repo, src, lambda rel, repo=repo: rel in listed[repo] or rel.startswith("tokenizer/"))
    gen = load_from(full)
    assert gen.pipe.unet.dtype == torch.float16 and gen._lora_loaded
    short = tmp_path / "hub-short"
    for repo, src in sources.items():
        _hub_cache(
            short,
            repo,
            src,
            lambda rel, repo=repo: (
                (rel in listed[repo] or rel.startswith("tokenizer/")) and not rel.startswith("unet/diffusion")
            ),
        )
    with pytest.raises((RuntimeError, OSError, ValueError, EnvironmentError)):
        load_from(short)


def test_space_requirements_cover_every_module_the_app_imports(space):
    """Every third-party module imported anywhere in the Space's packages comes from a requirements.txt line,
    but Ray: imported only by ``render-batch --ray`` (the scale extra), which a Space never runs."""
    import ast
    import importlib.metadata as md
    import re

    reqs = {
        re.split(r"[<>=!~\[; ]", ln.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for ln in (space / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    dists = {mod: {d.lower().replace("_", "-") for d in ds} for mod, ds in md.packages_distributions().items()}
    missing = {}
    for path in [*(space / "synth").rglob("*.py"), *(space / "palettes").rglob("*.py"), space / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for top in {n.split(".")[0] for n in names}:
                ours = ("synth", "palettes", "spaces", "__future__")
                sdk = ("gradio", "gradio_client")  # the Space's sdk_version installs gradio (and its client)
                not_on_a_space = ("ray",)
                if top in sys.stdlib_module_names or top in ours or top in sdk or top in not_on_a_space:
                    continue
                if not dists.get(top, set()) & reqs:
                    missing.setdefault(top, sorted(dists.get(top, {"?"})))
    assert not missing, f"imported but not required by the Space: {missing}"
