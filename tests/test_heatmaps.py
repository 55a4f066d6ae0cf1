"""Word heat maps (DAAM) of the ControlNet-seg backend and their agreement with the painted layout, on the tiny
random models of tests/tiny_diffusion.py (no downloads)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere in this process

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import tiny_diffusion as tiny  # noqa: E402

import synth  # noqa: E402
from synth.generators import heatmaps  # noqa: E402

STEPS = 2
#: 64x32 output -> a 4x8 latent; the tiny UNet attends at 4x8 and 2x4.
SIZE = (64, 32)
GRIDS = {32: (4, 8), 8: (2, 4)}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_heatmaps")
    base, seg = tiny.save_tiny_base(root / "sd15"), tiny.save_tiny_controlnet(root / "seg")
    return synth.load("controlnet-seg", base_model=str(base), controlnet=str(seg))


@pytest.fixture(scope="module")
def pal():
    return synth.palette("ade20k")


def quadrant(rows: int, cols: int, which: str) -> np.ndarray:
    """Boolean ``[rows, cols]`` mask of one quadrant ("top-left" or "bottom-right")."""
    r, c = np.arange(rows)[:, None], np.arange(cols)[None, :]
    if which == "top-left":
        return (r < rows // 2) & (c < cols // 2)
    return (r >= rows // 2) & (c >= cols // 2)


def force_attention(pipe, token: int, regions: list[str]):
    """Forward hooks on the UNet's cross-attention projections so that, in every batch entry fed the prompt
    (not the negative prompt), ``token`` takes nearly all attention inside quadrant ``regions[k]`` for image
    ``k``, and attention is uniform elsewhere. Returns the hook handles and a list of the levels it acted at."""
    n, texts, calls = len(regions), [], []

    def on_query(module, args, out):
        cells = out.shape[1]
        out = torch.zeros_like(out)
        for row in range(out.shape[0]):  # batch rows: [negative x n, prompt x n], or [prompt x n]
            out[row, torch.from_numpy(quadrant(*GRIDS[cells], regions[row % n]).reshape(-1))] = 10.0
        calls.append(cells)
        return out

    def on_key(module, args, out):
        prompted = torch.tensor([torch.equal(row, texts[0][0]) for row in args[0]])  # the first encoding: the prompt
        out = torch.zeros_like(out)
        out[prompted, token] = 1.0
        return out

    layers = heatmaps.cross_attention_layers(pipe.unet)
    handles = [pipe.text_encoder.register_forward_hook(lambda m, a, out: texts.append(out[0]))]
    handles += [layer.to_q.register_forward_hook(on_query) for layer in layers]
    handles += [layer.to_k.register_forward_hook(on_key) for layer in layers]
    return handles, calls


def processors(gen) -> list:
    return [layer.processor for layer in heatmaps.cross_attention_layers(gen.pipe.unet)]


# -- the maps --------------------------------------------------------------------------------------


def test_one_map_per_word_of_the_output_size_in_0_1(gen, pal):
    ids = np.full((40, 70), pal.id_of("sky"), np.uint8)  # snapped to 72x40
    gen(ids, seed=0, steps=STEPS, prompt="a lake, under the sky", heatmaps=True)
    (maps,) = gen.last_heatmaps
    assert list(maps) == ["a", "lake", "under", "the", "sky"]  # punctuation and start/end tokens skipped
    for m in maps.values():
        assert m.shape == (40, 72) and m.dtype == np.float32
        assert m.min() == 0.0 and m.max() == 1.0
    assert not np.allclose(maps["lake"], maps["sky"])
    gen(ids, seed=0, steps=STEPS, prompt="a lake")
    assert gen.last_heatmaps is None  # not asked: nothing left over from the call before


@pytest.mark.parametrize("guidance", [7.5, 1.0])
def test_maps_come_from_the_denoising_cross_attention(gen, pal, guidance):
    """Force the prompt's cross-attention of token ``k`` of "lake" onto the top-left quadrant in image 0 and
    the bottom-right one in image 1: each image's "lake" map (pieces l, a, k, e merged) lies in its quadrant,
    and "sky", starved there, lies outside it. With guidance, the negative prompt's half is left uniform."""
    prompt = "lake sky"
    words = dict(heatmaps.prompt_words(gen.pipe.tokenizer, prompt))
    assert words == {"lake": [1, 2, 3, 4], "sky": [5, 6, 7]}  # one piece per letter in the tiny tokenizer
    w, h = SIZE
    regions = ["top-left", "bottom-right"]
    masks = [np.kron(quadrant(4, 8, r), np.ones((8, 8), bool)) for r in regions]  # in output pixels
    ids = np.where(masks[0], pal.id_of("water"), pal.id_of("sky")).astype(np.uint8)
    handles, calls = force_attention(gen.pipe, token=3, regions=regions)
    try:
        gen.generate(ids, seed=0, num_images=2, steps=STEPS, prompt=prompt, guidance_scale=guidance, heatmaps=True)
    finally:
        for handle in handles:
            handle.remove()
    assert sorted(set(calls)) == [8, 32]  # the hooks acted at both attention levels
    for maps, region in zip(gen.last_heatmaps, masks):
        lake, sky = maps["lake"], maps["sky"]
        assert lake.shape == (h, w)
        assert lake[region].sum() / lake.sum() > 0.8  # the quadrant is a quarter of the image
        assert sky[region].sum() / sky.sum() < 0.1
    agreement = [heatmaps.layout_agreement(maps, ids, pal) for maps in gen.last_heatmaps]
    assert agreement[0]["lake"] > 0.8 and agreement[0]["sky"] > 0.9  # "lake" ~ water, painted where it acted
    assert agreement[1]["lake"] < 0.1


def test_same_images_from_one_denoising_run_and_processors_restored(gen, pal):
    ids = np.full((32, 32), pal.id_of("sky"), np.uint8)
    before = processors(gen)
    unet_calls = []
    handle = gen.pipe.unet.register_forward_pre_hook(lambda m, a: unet_calls.append(1))
    try:
        plain = gen.generate(ids, seed=3, num_images=2, steps=STEPS, prompt="a lake")
        n_plain = len(unet_calls)
        traced = gen.generate(ids, seed=3, num_images=2, steps=STEPS, prompt="a lake", heatmaps=True)
    finally:
        handle.remove()
    assert len(unet_calls) == 2 * n_plain == 2 * STEPS  # no second run for the maps
    for a, b in zip(plain, traced):
        assert np.array_equal(np.asarray(a), np.asarray(b))  # recording does not change the images
    assert [type(p) for p in processors(gen)] == [type(p) for p in before]
    assert all(p is q for p, q in zip(processors(gen), before))
    first, second = gen.last_heatmaps
    assert list(first) == list(second) == ["a", "lake"]
    assert not np.allclose(first["lake"], second["lake"])  # each image its own maps (seeds 3 and 4)


def test_processors_restored_when_the_run_fails(gen, pal):
    ids = np.full((32, 32), pal.id_of("sky"), np.uint8)
    before = processors(gen)

    def fail(step, total, preview):
        assert isinstance(processors(gen)[0], heatmaps.HeatmapProcessor)  # installed during the run
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        gen(ids, seed=0, steps=STEPS, prompt="a lake", heatmaps=True, callback=fail)
    assert all(p is q for p, q in zip(processors(gen), before))
    assert gen.last_heatmaps is None


def test_flagged_images_get_blank_maps(gen, pal, monkeypatch):
    monkeypatch.setattr(gen.pipe, "run_safety_checker", lambda image, device, dtype: (image, [True]))
    gen(np.full((32, 32), pal.id_of("sky"), np.uint8), seed=0, steps=STEPS, prompt="a lake", heatmaps=True)
    (maps,) = gen.last_heatmaps
    assert list(maps) == ["a", "lake"] and all(not m.any() for m in maps.values())


def test_heatmaps_option_is_checked(gen):
    assert "heatmaps" in gen.options and "heatmaps:" in type(gen).__doc__
    assert gen.check_options({})["heatmaps"] is False
    assert gen.check_options({"heatmaps": np.bool_(True)})["heatmaps"] is True
    with pytest.raises(ValueError, match="heatmaps must be True or False"):
        gen.check_options({"heatmaps": "yes"})


# -- words -----------------------------------------------------------------------------------------


def test_prompt_words_merge_pieces_skip_specials_and_punctuation():
    tok = tiny.tiny_tokenizer()
    assert heatmaps.prompt_words(tok, "Lake, sky lake.") == [
        ("lake", [1, 2, 3, 4]),
        ("sky", [6, 7, 8]),
        ("lake", [9, 10, 11, 12]),
    ]
    long = heatmaps.prompt_words(tok, "abcde " * 20)  # 120 pieces: truncated like the pipeline does
    assert all(p < tok.model_max_length - 1 for _, ps in long for p in ps) and len(long) == 15


def test_repeated_words_share_one_map():
    rec = heatmaps.CrossAttentionRecorder(1, (16, 16), scale=8)  # a 2x2 latent
    probs = torch.zeros(1, 4, 77)
    probs[0, 0, 1] = 1.0  # token 1 at the top-left cell, token 3 at the bottom-right one
    probs[0, 3, 3] = 1.0
    rec.sums[(2, 2)] = probs
    (maps,) = rec.word_maps([("a", [1]), ("b", [2]), ("a", [3])])
    assert list(maps) == ["a", "b"]
    assert maps["a"][0, 0] == maps["a"][-1, -1] == 1.0 and maps["a"][0, -1] < 1.0
    assert not maps["b"].any()  # no attention at all: a constant map, zeros


# -- agreement with the layout ---------------------------------------------------------------------


def test_word_classes(pal):
    ade = {w: sorted(pal.names[i] for i in heatmaps.word_classes(w, pal)) for w in ("lake", "Trees", "skies", "castle")}
    assert ade == {"lake": ["lake", "water"], "Trees": ["tree"], "skies": ["sky"], "castle": []}
    coco = synth.palette("coco133")
    assert [coco.names[i] for i in heatmaps.word_classes("sky", coco)] == ["sky-other-merged"]
    assert [coco.names[i] for i in heatmaps.word_classes("couch", "coco133")] == ["couch"]


def test_layout_agreement(pal):
    ids = np.full((8, 8), pal.id_of("sky"), np.uint8)
    ids[4:] = pal.id_of("water")
    ids[6:, :2] = 255  # don't-care: outside every class
    low = np.zeros((8, 8), np.float32)
    low[4:] = 1.0
    maps = {
        "lake": low,
        "clouds": np.ones((8, 8), np.float32),  # spread evenly: the sky's share of the image
        "castle": low,  # names no class: left out
        "river": np.zeros((8, 8), np.float32),  # no mass: undefined
    }
    share = heatmaps.layout_agreement(maps, ids, "ade20k")
    assert set(share) == {"lake", "clouds", "river"}
    assert share["lake"] == 28 / 32 and share["clouds"] == 0.5 and np.isnan(share["river"])
    bigger = heatmaps.layout_agreement({"lake": np.kron(low, np.ones((2, 2)))}, ids, pal)  # ids resized
    assert bigger["lake"] == 28 / 32
