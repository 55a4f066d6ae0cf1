"""ControlNet-seg backend and the UperNet photo -> ADE20K segmenter, on tiny random models (no downloads).

The tiny models (tests/tiny_diffusion.py) are saved like Hub repos and loaded through ``synth.load`` with
HF_HUB_OFFLINE=1, exactly as a user would load downloaded ones.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere in this process

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import tiny_diffusion as tiny  # noqa: E402

import synth  # noqa: E402
from synth import hub  # noqa: E402
from synth.generators import availability, controlnet  # noqa: E402
from synth.segmenters import upernet  # noqa: E402

STEPS = 2


pytestmark = pytest.mark.usefixtures(
    "one_torch_thread"
)  # tiny models: one thread (avoids OpenMP stalls when the CPU is shared)


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Folders of the tiny base pipeline, seg ControlNet, shuffle ControlNet, LCM-LoRA and UperNet."""
    root = tmp_path_factory.mktemp("tiny_diffusion")
    return {
        "base": str(tiny.save_tiny_base(root / "sd15")),
        "seg": str(tiny.save_tiny_controlnet(root / "seg", seed=1)),
        "shuffle": str(tiny.save_tiny_controlnet(root / "shuffle", seed=7, global_pool=True)),
        "lora": str(tiny.save_tiny_lcm_lora(root / "lcm")),
        "upernet": str(tiny.save_tiny_upernet(root / "upernet")),
    }


@pytest.fixture(scope="session")
def gen(models):
    return synth.load("controlnet-seg", base_model=models["base"], controlnet=models["seg"], lcm_lora=models["lora"])


@pytest.fixture(scope="session")
def style_gen(models):
    return synth.load(
        "controlnet-seg",
        base_model=models["base"],
        controlnet=models["seg"],
        style=True,
        style_controlnet=models["shuffle"],
    )


@pytest.fixture(scope="session")
def ids():
    """64x64 ADE20K ids: sky over building over road, a tree, and a don't-care patch."""
    pal = synth.palette("ade20k")
    a = np.full((64, 64), pal.id_of("sky"), np.uint8)
    a[24:44] = pal.id_of("building")
    a[44:] = pal.id_of("road")
    a[30:60, 5:20] = pal.id_of("tree")
    a[50:58, 40:56] = 255
    return a


@pytest.fixture(scope="session")
def photo():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8))


def arr(img) -> np.ndarray:
    return np.asarray(img).astype(np.int16)


def capture_cond(net):
    """Record every ``controlnet_cond`` ``net`` receives; returns (list, hook handle)."""
    seen = []
    handle = net.register_forward_pre_hook(
        lambda m, a, kw: seen.append(kw["controlnet_cond"].clone()), with_kwargs=True
    )
    return seen, handle


# -- loading ---------------------------------------------------------------------------------------


def test_loads_through_registry_from_folders(gen, models):
    assert isinstance(gen, controlnet.ControlNetSegGenerator)
    assert gen.name == "controlnet-seg" and gen.palette.name == "ade20k"
    assert gen.size_rule.multiple == 8 and gen.size_rule.default == (512, 512)
    assert gen.device.type == "cpu" and gen.dtype == torch.float32
    assert gen.pipe.safety_checker is None  # the tiny base has none; nothing was dropped
    assert availability("controlnet-seg", base_model=models["base"], controlnet=models["seg"]) == (True, "")


def test_offline_and_not_cached_is_a_clear_error(tmp_path, models):
    with pytest.raises(
        RuntimeError, match=r"nobody/not-cached-sd15.*HF_HUB_OFFLINE=1.*hf download nobody/not-cached-sd15"
    ):
        synth.load("controlnet-seg", base_model="nobody/not-cached-sd15", controlnet=models["seg"], cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match=r"lllyasviel/control_v11p_sd15_seg.*hf download"):
        synth.load("controlnet-seg", base_model=models["base"], cache_dir=tmp_path)
    ok, reason = controlnet.available("controlnet-seg", cache_dir=tmp_path)
    assert not ok and "stable-diffusion-v1-5/stable-diffusion-v1-5" in reason and "hf download" in reason
    with pytest.raises(FileNotFoundError, match="does not exist"):
        synth.load("controlnet-seg", base_model=str(tmp_path / "missing" / "folder"), controlnet=models["seg"])


def test_cached_hub_repo_counts_as_available(tmp_path):
    """A repo in the HF cache layout (models--owner--name/snapshots/<rev>/...) is found without downloading."""
    snap = tmp_path / "models--someone--tiny-seg" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    for f in ("config.json", "diffusion_pytorch_model.safetensors"):
        (snap / f).write_text("{}")
    (tmp_path / "models--someone--tiny-seg" / "refs").mkdir()
    (tmp_path / "models--someone--tiny-seg" / "refs" / "main").write_text("0" * 40)
    assert controlnet._present("someone/tiny-seg", "controlnet", cache_dir=tmp_path)
    assert not controlnet._present("someone/other", "controlnet", cache_dir=tmp_path)


def test_load_argument_errors(models):
    with pytest.raises(ValueError, match="version"):
        synth.load("controlnet-seg", base_model=models["base"], controlnet=models["seg"], version="v3")
    with pytest.raises(ValueError, match="coco133"):
        synth.load(
            "controlnet-seg", base_model=models["base"], controlnet=models["seg"], version="v1.0", palette="coco133"
        )


# -- the control image -----------------------------------------------------------------------------


def test_controlnet_receives_exact_trained_colours(gen, ids):
    """Odd-sized ids are snapped to 64x48; the ControlNet gets exactly the palette's trained colours there."""
    odd = ids[:50, :61]
    seen, handle = capture_cond(gen.pipe.controlnet)
    try:
        img = gen(odd, seed=0, steps=STEPS)
    finally:
        handle.remove()
    assert img.size == (64, 48)
    assert len(seen) == STEPS
    expected = gen.palette.to_colors(synth.labels.resize_labels(odd, (64, 48)), trained=True)
    for cond in seen:
        assert cond.shape == (2, 3, 48, 64)  # classifier-free guidance: [uncond, cond]
        for c in cond:
            got = c.permute(1, 2, 0).numpy()
            assert np.array_equal(got, expected.astype(np.float32) / 255)  # no resampling, no blending
    # distinct classes keep distinct colours, e.g. skyscraper's paint colour never reaches the ControlNet
    assert {tuple(c) for c in (seen[0][0].permute(1, 2, 0).reshape(-1, 3) * 255).round().int().tolist()} == {
        tuple(c) for c in expected.reshape(-1, 3).tolist()
    }


def test_coco133_palette_uses_coco_colours(models):
    g = synth.load("controlnet-seg", base_model=models["base"], controlnet=models["seg"], palette="coco133")
    pal = synth.palette("coco133")
    ids = np.array([[pal.id_of("person"), 255]], np.uint8)
    cond = g.control_image(ids)[0].permute(1, 2, 0).numpy()
    assert np.array_equal((cond * 255).round().astype(np.uint8), pal.to_colors(ids, trained=True))


# -- seeds, batches, sizes -------------------------------------------------------------------------


def test_same_seed_same_image_other_seed_other_image(gen, ids):
    a, b, c = (gen(ids, seed=s, steps=STEPS) for s in (0, 0, 1))
    assert a.size == (64, 64) and a.mode == "RGB"
    assert np.array_equal(arr(a), arr(b))
    assert np.abs(arr(a) - arr(c)).mean() > 5


def test_batch_image_k_equals_single_render_with_seed_plus_k(gen, ids):
    imgs = gen.generate(ids, seed=3, num_images=2, steps=STEPS)
    assert len(imgs) == 2
    alone = [gen(ids, seed=s, steps=STEPS) for s in (3, 4)]
    for batched, single in zip(imgs, alone):
        assert np.abs(arr(batched) - arr(single)).max() <= 2  # equal up to float rounding of batched convs
    assert np.abs(arr(imgs[0]) - arr(imgs[1])).mean() > 5


def test_sizes_snap_to_multiples_of_8(gen, ids):
    assert gen(ids[:50, :61], seed=0, steps=1).size == (64, 48)
    assert gen(ids, seed=0, steps=1, size=(100, 70)).size == (104, 72)
    assert gen(ids, seed=0, steps=1, size=(3, 3)).size == (8, 8)


# -- options ---------------------------------------------------------------------------------------


def test_callback_once_per_step_with_optional_preview(gen, ids):
    calls = []
    gen(ids, seed=0, steps=3, callback=lambda *a: calls.append(a))
    assert [(s, t, p) for s, t, p in calls] == [(1, 3, None), (2, 3, None), (3, 3, None)]
    calls.clear()
    gen(ids[:48], seed=0, steps=2, preview=True, callback=lambda *a: calls.append(a))
    assert [c[:2] for c in calls] == [(1, 2), (2, 2)]
    assert all(isinstance(p, Image.Image) and p.size == (64, 48) for _, _, p in calls)


@pytest.mark.parametrize("name", ["ddim", "euler_a", "dpm++"])
def test_schedulers_run_and_matter(gen, ids, name):
    img = gen(ids, seed=0, steps=STEPS, scheduler=name)
    assert img.size == (64, 64)
    assert type(gen.pipe.scheduler).__name__ == controlnet.SCHEDULERS[name][0]
    assert not np.array_equal(arr(img), arr(gen(ids, seed=0, steps=STEPS)))  # default: unipc


def test_prompt_guidance_and_conditioning_change_the_image(gen, ids):
    base = arr(gen(ids, seed=0, steps=STEPS, prompt="a house"))
    for opts in (
        {"prompt": "snow mountain"},
        {"guidance_scale": 1.0},
        {"conditioning_scale": 0.0},
        {"control_guidance_end": 0.5},
    ):
        assert not np.array_equal(base, arr(gen(ids, seed=0, steps=STEPS, **{"prompt": "a house", **opts})))


def test_conditioning_scale_zero_ignores_the_label_map(gen, ids):
    other = np.full_like(ids, synth.palette("ade20k").id_of("water"))
    a = gen(ids, seed=0, steps=STEPS, conditioning_scale=0.0)
    b = gen(other, seed=0, steps=STEPS, conditioning_scale=0.0)
    assert np.array_equal(arr(a), arr(b))
    assert not np.array_equal(arr(gen(ids, seed=0, steps=STEPS)), arr(gen(other, seed=0, steps=STEPS)))


@pytest.mark.parametrize(
    "opts, match",
    [
        ({"strength": 0.5}, "does not take option"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"guidance_scale": -1}, "guidance_scale"),
        ({"conditioning_scale": float("nan")}, "conditioning_scale"),
        ({"scheduler": "heun"}, "scheduler must be one of"),
        ({"scheduler": "lcm"}, "needs fast=True"),
        ({"fast": True, "scheduler": "ddim"}, "needs scheduler='lcm'"),
        ({"control_guidance_start": 0.6, "control_guidance_end": 0.4}, "control_guidance_start"),
        ({"callback": 3}, "callback"),
        ({"prompt": 3}, "prompt"),
        ({"style_image": Image.new("RGB", (8, 8))}, "style=True"),
    ],
)
def test_bad_options_raise(gen, ids, opts, match):
    with pytest.raises(ValueError, match=match):
        gen(ids, seed=0, **opts)


def test_bad_ids_raise(gen):
    with pytest.raises(ValueError, match="not in palette"):
        gen(np.full((16, 16), 200, np.uint8))


# -- fast (LCM-LoRA) -------------------------------------------------------------------------------


def test_fast_mode_uses_lcm_lora_and_can_be_switched_off(gen, ids):
    before = gen(ids, seed=0, steps=STEPS)
    calls = []
    fast = gen(ids, seed=0, fast=True, callback=lambda *a: calls.append(a))
    assert len(calls) == 4 and type(gen.pipe.scheduler).__name__ == "LCMScheduler"  # 4 steps by default
    assert gen._lora_loaded and any("lora" in n for n, _ in gen.pipe.unet.named_parameters())
    # the LoRA really acts: the same LCM run with the adapter weighted 0 differs
    gen.pipe.set_adapters("lcm", adapter_weights=0.0)
    try:
        without = gen(ids, seed=0, fast=True)
    finally:
        gen.pipe.set_adapters("lcm", adapter_weights=1.0)
    assert not np.array_equal(arr(fast), arr(without))
    # and a normal call afterwards is unaffected by the loaded LoRA
    assert np.array_equal(arr(before), arr(gen(ids, seed=0, steps=STEPS)))


def test_fast_at_load_sets_defaults(models, ids):
    g = synth.load(
        "controlnet-seg",
        base_model=models["base"],
        controlnet=models["seg"],
        fast=True,
        lcm_lora=os.path.join(models["lora"], "pytorch_lora_weights.safetensors"),
    )
    calls = []
    img = g(ids, seed=0, callback=lambda *a: calls.append(a))
    assert img.size == (64, 64) and len(calls) == 4
    assert g.check_options({})["guidance_scale"] == 1.5 and g.check_options({"fast": False})["steps"] == 20
    assert g.check_options({"fast": None})["scheduler"] == "lcm"  # None means "the default"


def test_fast_without_downloaded_lora_is_a_clear_error(models, ids, tmp_path):
    g = synth.load("controlnet-seg", base_model=models["base"], controlnet=models["seg"], cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match="latent-consistency/lcm-lora-sdv1-5.*hf download"):
        g(ids, seed=0, fast=True)


def test_fast_offline_from_a_hub_style_cache_names_the_lora_file(models, ids, tmp_path):
    """Offline, diffusers cannot list a Hub repo to find the LoRA file: the Hub id gets ``weight_name``
    (a file path gets its own name, a local folder none) and fast mode works from the HF cache."""
    import shutil

    repo = tmp_path / "models--latent-consistency--lcm-lora-sdv1-5"
    shutil.copytree(models["lora"], repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    assert controlnet._present(controlnet.LCM_LORA, "lora", cache_dir=tmp_path)
    g = synth.load("controlnet-seg", base_model=models["base"], controlnet=models["seg"], cache_dir=tmp_path)
    seen = []
    load_lora = g.pipe.load_lora_weights
    g.pipe.load_lora_weights = lambda ref, **kw: seen.append((ref, kw.get("weight_name"))) or load_lora(ref, **kw)
    calls = []
    img = g(ids, seed=0, fast=True, callback=lambda *a: calls.append(a))
    assert img.size == (64, 64) and len(calls) == 4 and g._lora_loaded
    assert seen == [(controlnet.LCM_LORA, "pytorch_lora_weights.safetensors")]
    for ref, expected in (
        (
            os.path.join(models["lora"], "pytorch_lora_weights.safetensors"),
            (models["lora"], "pytorch_lora_weights.safetensors"),
        ),
        (models["lora"], (models["lora"], None)),
    ):
        seen.clear()
        g.lcm_lora = ref
        g.pipe.delete_adapters("lcm")
        g._load_lora()
        assert seen == [expected]


def test_ui_fast_mode_leaves_steps_and_guidance_to_lcm(gen, ids):
    """The web UI's options in fast mode: the Steps/Guidance sliders are not sent, LCM's 4 steps apply."""
    from types import SimpleNamespace

    from synth.ui.events import collect_options

    side = SimpleNamespace(
        model=lambda name: SimpleNamespace(ready=True, live=False), options=lambda name: list(gen.options)
    )
    normal = collect_options(side, "controlnet-seg", "a house", "", 20, 7.5, 1.0, False, None)
    assert normal["steps"] == 20 and normal["guidance_scale"] == 7.5 and normal["fast"] is False
    fast = collect_options(side, "controlnet-seg", "a house", "", 20, 7.5, 1.0, True, None)
    assert fast == {"prompt": "a house", "conditioning_scale": 1.0, "fast": True}
    calls = []
    gen(ids, seed=0, callback=lambda *a: calls.append(a), **fast)
    assert len(calls) == 4 and gen.check_options(fast)["guidance_scale"] == controlnet.DEFAULTS[True][1]


# -- style (multi-ControlNet) ----------------------------------------------------------------------


def test_style_image_feeds_a_second_controlnet(style_gen, ids, photo):
    seg_net, shuffle_net = style_gen.style_pipe.controlnet.nets
    seg_seen, h1 = capture_cond(seg_net)
    shuffle_seen, h2 = capture_cond(shuffle_net)
    try:
        img = style_gen(ids, seed=0, steps=STEPS, style_image=photo, style_scale=0.8)
    finally:
        h1.remove()
        h2.remove()
    assert img.size == (64, 64)
    assert len(seg_seen) == len(shuffle_seen) == STEPS
    expected = style_gen.palette.to_colors(ids, trained=True).astype(np.float32) / 255
    assert np.array_equal(seg_seen[0][0].permute(1, 2, 0).numpy(), expected)
    assert shuffle_seen[0].shape == (2, 3, 64, 64) and 0 <= shuffle_seen[0].min() and shuffle_seen[0].max() <= 1
    plain = style_gen(ids, seed=0, steps=STEPS)
    assert not np.array_equal(arr(img), arr(plain))
    # a zero-weighted style ControlNet adds exactly nothing
    assert np.array_equal(arr(style_gen(ids, seed=0, steps=STEPS, style_image=photo, style_scale=0.0)), arr(plain))


def test_the_style_controlnet_acts_on_the_conditional_side_only(style_gen, ids, photo):
    """As the shuffle ControlNet's card asks: with guidance its residuals are zero for the unconditional half
    of the batch (first in diffusers) and kept for the conditional half; the seg ControlNet keeps both."""
    seg_net, shuffle_net = style_gen.style_pipe.controlnet.nets
    seen = {"seg": [], "shuffle": []}
    hooks = [
        net.register_forward_hook(lambda m, a, out, k=k: seen[k].append(out[1].detach().clone()))
        for k, net in (("seg", seg_net), ("shuffle", shuffle_net))
    ]  # registered after Daub's own hook: they see its output
    try:
        guided = style_gen(ids, seed=0, steps=STEPS, style_image=photo, guidance_scale=7.5)
        mids = dict(seen)
        seen.update(seg=[], shuffle=[])
        style_gen(ids, seed=0, steps=STEPS, style_image=photo, guidance_scale=1.0)  # no guidance: one side
    finally:
        for h in hooks:
            h.remove()
    shuffle, seg = mids["shuffle"][0], mids["seg"][0]
    assert shuffle.shape[0] == 2 and shuffle[0].abs().max() == 0 and shuffle[1].abs().max() > 0
    assert seg[0].abs().max() > 0 and seg[1].abs().max() > 0
    assert seen["shuffle"][0].shape[0] == 1 and seen["shuffle"][0].abs().max() > 0
    assert guided.size == (64, 64)


def test_style_batches_reshuffle_per_seed(style_gen, ids, photo):
    imgs = style_gen.generate(ids, seed=10, num_images=2, steps=STEPS, style_image=photo)
    single = style_gen(ids, seed=11, steps=STEPS, style_image=photo)
    assert np.abs(arr(imgs[1]) - arr(single)).max() <= 2
    a = style_gen.style_control(photo, [1, 1, 2], (64, 48))
    assert a.shape == (3, 3, 48, 64)
    assert torch.equal(a[0], a[1]) and not torch.equal(a[0], a[2])
    assert style_gen.style_control(np.asarray(photo), [0], (8, 16)).shape == (1, 3, 16, 8)  # tiny sizes work too


# -- previews --------------------------------------------------------------------------------------


def test_latent_preview():
    img = controlnet.latent_preview(torch.zeros(4, 6, 8), (64, 48))
    assert img.size == (64, 48) and np.asarray(img).std() == 0
    assert controlnet.latent_preview(torch.zeros(16, 6, 8), (64, 48)) is None


# -- UperNet photo -> ADE20K ids -------------------------------------------------------------------


def test_upernet_segments_to_ade20k_ids(models, photo):
    seg = upernet.UperNetSegmenter(models["upernet"])
    ids = seg(photo)
    assert ids.shape == (48, 80) and ids.dtype == np.uint8 and ids.max() < 150
    assert len(np.unique(ids)) > 1
    # same as transformers' own post-processing (bilinear logits to the image size, argmax)
    inputs = seg.processor(images=photo, return_tensors="pt")
    with torch.no_grad():
        out = seg.model(**inputs)
    ref = seg.processor.post_process_semantic_segmentation(out, target_sizes=[(48, 80)])[0].numpy()
    assert np.array_equal(ids, ref)
    assert np.array_equal(upernet.photo_to_ade20k(np.asarray(photo), model=models["upernet"]), ids)
    assert synth.palette("ade20k").is_valid_id(ids).all()


def test_upernet_large_images_keep_their_size(models, photo, monkeypatch):
    monkeypatch.setattr(upernet, "MAX_LOGIT_SIDE", 40)
    ids = upernet.UperNetSegmenter(models["upernet"])(photo.resize((160, 96)))
    assert ids.shape == (96, 160) and ids.max() < 150


def test_upernet_checks(models, tmp_path):
    assert upernet.available(model=models["upernet"]) == (True, "")
    ok, reason = upernet.available(model="openmmlab/upernet-convnext-small", cache_dir=tmp_path)
    assert not ok and "hf download openmmlab/upernet-convnext-small" in reason
    with pytest.raises(RuntimeError, match="not in the local Hugging Face cache"):
        upernet.UperNetSegmenter("openmmlab/upernet-convnext-small", cache_dir=tmp_path)
    wrong = tiny.save_tiny_upernet(tmp_path / "ten", num_labels=10)
    with pytest.raises(ValueError, match="150"):
        upernet.UperNetSegmenter(wrong)
    with pytest.raises(ValueError, match="image"):
        upernet.UperNetSegmenter(models["upernet"])(np.zeros((4, 4, 7), np.uint8))


def test_cli_renders_through_the_tiny_pipeline_with_progress(models, ids, tmp_path):
    """`daub render` end to end: colour map in, PNGs out, a tqdm bar per step on stderr."""
    import subprocess
    import sys

    src = tmp_path / "map.png"
    Image.fromarray(synth.palette("ade20k").to_colors(ids)).save(src)
    out = tmp_path / "photo.png"
    cmd = [sys.executable, "-m", "synth", "render", str(src), str(out), "--backend", "controlnet-seg",
           "--base-model", models["base"], "--controlnet", models["seg"], "--steps", "2", "--seed", "1",
           "--size", "64x48", "--num-images", "2", "--prompt", "a house"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    images = [Image.open(tmp_path / f"photo-{k}.png") for k in (0, 1)]
    assert [im.size for im in images] == [(64, 48), (64, 48)]
    assert not np.array_equal(arr(images[0]), arr(images[1]))
    assert "2/2" in r.stderr  # the per-step progress bar reached the last step


def test_available_tells_cached_downloadable_and_missing_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: True)
    ok, reason = controlnet.available(cache_dir=tmp_path)  # online, nothing cached: offered, with the size
    assert ok and reason == "downloads about 3.4 GB from the Hugging Face Hub on first use"
    ok, reason = controlnet.available(cache_dir=tmp_path, fast=True, style=True)
    assert ok and "about 4.2 GB" in reason
    ok, reason = upernet.available(cache_dir=tmp_path)
    assert ok and reason.startswith("downloads openmmlab/upernet-convnext-small")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline: missing, with how to get it
    ok, reason = controlnet.available(cache_dir=tmp_path)
    assert not ok and reason.startswith("not downloaded: stable-diffusion-v1-5/stable-diffusion-v1-5")
    assert not upernet.available(cache_dir=tmp_path)[0]


def test_without_a_network_loads_fail_at_once_with_the_hint(tmp_path, monkeypatch):
    """Online mode (no HF_HUB_OFFLINE) but no network: nothing cached is offered as downloadable, and a load
    fails within the probe's time with the download hint instead of retrying the Hub for 90 s."""
    import time

    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    probes = []
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: probes.append(1) or False)
    ok, reason = controlnet.available(cache_dir=tmp_path)
    assert not ok and "cannot be reached" in reason and "hf download" in reason
    ok, reason = upernet.available(cache_dir=tmp_path)
    assert not ok and "cannot be reached" in reason and "hf download openmmlab/upernet-convnext-small" in reason
    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="cannot be reached; download it first"):
        upernet.UperNetSegmenter(cache_dir=tmp_path)
    with pytest.raises(RuntimeError, match="base model .* cannot be reached"):
        controlnet.load_controlnet_seg(cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 1.0 and probes


def test_vae_decodes_large_images_in_tiles_and_batches_one_by_one(gen, ids, monkeypatch):
    seen = []
    monkeypatch.setattr(controlnet, "TILE_ABOVE", 40 * 40)
    real = controlnet._vae_memory
    monkeypatch.setattr(
        controlnet, "_vae_memory", lambda vae, tiles, slices: seen.append((tiles, slices)) or real(vae, tiles, slices)
    )
    gen.generate(ids, seed=0, num_images=2, steps=1)
    assert seen[-1] == (True, True) and gen.pipe.vae.use_tiling
    gen.generate(ids[:32, :32], seed=0, num_images=1, steps=1)
    assert seen[-1] == (False, False) and not gen.pipe.vae.use_tiling
