"""The embedded models (landscape, facades): offline loading, seeds, sizes, bad input, training code."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import synth
from synth.generators.embedded import DaubConfig, DaubGenerator, EmbeddedGenerator, load_weights, save_weights


@pytest.fixture(scope="module", params=["landscape", "facades"])
def gen(request, monkeypatch_module):
    monkeypatch_module.setenv("HF_HUB_OFFLINE", "1")
    return synth.load(request.param)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def demo_map(gen, size=None) -> np.ndarray:
    """A simple painted scene of the model's palette: three horizontal bands."""
    w, h = size or gen.size_rule.default
    pal = gen.palette
    ids = np.full((h, w), pal.fill, pal.dtype)
    ids[h // 3 :] = 1
    ids[2 * h // 3 :, : w // 2] = 2
    return ids


def test_loads_offline_with_palette_and_size_rule(gen):
    assert gen.palette.name == gen.name
    assert gen.size_rule.multiple == 32
    assert gen.size_rule.default == ((256, 192) if gen.name == "landscape" else (256, 256))
    assert isinstance(gen, synth.generators.Generator)


def test_same_seed_same_image_different_seed_different_image(gen):
    ids = demo_map(gen)
    a, b, c = gen(ids, seed=3), gen(ids, seed=3), gen(ids, seed=4)
    assert isinstance(a, Image.Image) and a.mode == "RGB"
    assert a.size == (ids.shape[1], ids.shape[0])
    assert np.array_equal(np.asarray(a), np.asarray(b))
    diff = np.abs(np.asarray(a, np.float32) - np.asarray(c, np.float32)).mean()
    assert diff > 2.0, f"seeds 3 and 4 give nearly the same image (mean abs diff {diff:.2f})"


def test_num_images_uses_consecutive_seeds(gen):
    ids = demo_map(gen)
    imgs = gen.generate(ids, seed=10, num_images=3)
    assert len(imgs) == 3
    assert np.array_equal(np.asarray(imgs[1]), np.asarray(gen(ids, seed=11)))


def test_labels_drive_the_image(gen):
    ids = demo_map(gen)
    other = np.full_like(ids, 1)
    a, b = np.asarray(gen(ids, seed=0), np.float32), np.asarray(gen(other, seed=0), np.float32)
    # the top band changed class: the image must change there
    h = ids.shape[0]
    assert np.abs(a[: h // 3] - b[: h // 3]).mean() > 5.0


@pytest.mark.parametrize(
    "size,expected", [((256, 256), (256, 256)), ((250, 190), (256, 192)), ((320, 240), (320, 256))]
)
def test_sizes_snap_to_multiples_of_32(gen, size, expected):
    ids = demo_map(gen, size)
    assert gen(ids, seed=0).size == expected
    assert gen(demo_map(gen), seed=0, size=size).size == expected


def test_square_maps_for_landscape():
    gen = synth.load("landscape")
    ids = np.zeros((256, 256), np.uint8)
    ids[128:] = 3
    assert gen(ids, seed=1).size == (256, 256)


def test_dontcare_id_is_accepted_by_landscape():
    gen = synth.load("landscape")
    ids = np.full((192, 256), 15, np.uint8)
    ids[:96] = 0
    assert gen(ids).size == (256, 192)


def test_truncation_zero_removes_seed_variation(gen):
    ids = demo_map(gen)
    a, b = gen(ids, seed=1, truncation=0.0), gen(ids, seed=2, truncation=0.0)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_fp32_and_bf16_agree(gen):
    ids = demo_map(gen)
    slow = EmbeddedGenerator(gen.name, gen.model, fast=False)
    a, b = np.asarray(gen(ids, seed=0), np.float32), np.asarray(slow(ids, seed=0), np.float32)
    assert np.abs(a - b).mean() < 6.0, "bfloat16 inference drifts from fp32"


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.full((64, 64), 99, np.uint8), "not in palette"),
        (np.zeros((4, 64, 64), np.uint8), r"\[H, W\]"),
        (np.zeros((64, 64), np.float32), "integers"),
        (np.zeros((0, 64), np.uint8), "empty"),
        ("sky", r"\[H, W\]"),
    ],
)
def test_bad_ids_raise_clear_errors(gen, bad, message):
    with pytest.raises(ValueError, match=message):
        gen(bad)


def test_bad_options_raise_clear_errors(gen):
    ids = demo_map(gen)
    with pytest.raises(ValueError, match="does not take option"):
        gen(ids, prompt="a house")
    with pytest.raises(ValueError, match="truncation"):
        gen(ids, truncation=5.0)
    with pytest.raises(ValueError, match="style must have"):
        gen(ids, style=np.zeros(3))
    with pytest.raises(ValueError, match="num_images"):
        gen.generate(ids, num_images=0)
    with pytest.raises(ValueError, match="seed"):
        gen(ids, seed="one")
    with pytest.raises(ValueError, match="PIL image"):
        gen(Image.new("RGB", (64, 64)))


def test_missing_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="daub train"):
        synth.load("landscape", weights=tmp_path / "nope.safetensors")
    ok, why = synth.generators.availability("landscape", weights=tmp_path / "nope.safetensors")
    assert not ok and "no weights" in why
    assert synth.generators.availability("landscape") == (True, "")


def test_weights_round_trip_and_foreign_files_refused(tmp_path):
    from safetensors.torch import save_file

    cfg = DaubConfig(palette="facades", label_nc=12, channels=(16, 8), hidden=(8, 8), head=8, default_size=(64, 64))
    model = DaubGenerator(cfg).eval()
    save_weights(model, tmp_path / "m.safetensors", half=False, info={"steps": 1})
    back = load_weights(tmp_path / "m.safetensors")
    assert back.config == cfg
    seg = torch.zeros(1, 12, 64, 64)
    seg[:, 3] = 1
    z = torch.randn(1, cfg.z_dim)
    assert torch.allclose(model(seg, z), back(seg, z))
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a Daub generator"):
        load_weights(tmp_path / "other.safetensors")


def test_generator_rejects_sizes_off_the_grid():
    model = DaubGenerator(DaubConfig(label_nc=9, channels=(16, 8), hidden=(8, 8), head=8))
    with pytest.raises(ValueError, match="multiples of 4"):
        model(torch.zeros(1, 9, 30, 32), torch.zeros(1, 64))


def test_shipped_weights_are_small_fp16_with_metadata():
    from safetensors import safe_open

    from synth.generators.embedded import weights_path

    for name in ("landscape", "facades"):
        path = weights_path(name)
        assert path.stat().st_size <= 25 * 1024 * 1024
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            assert json.loads(meta["config"])["palette"] == name
            assert f.get_tensor(next(iter(f.keys()))).dtype == torch.float16


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (40, 60), (3, 200)])
def test_small_maps_render_scaled_up_to_the_minimum(gen, shape):
    img = gen(np.zeros(shape, np.uint8), seed=0)
    assert min(img.size) >= 64 and img.size[0] % 32 == 0 and img.size[1] % 32 == 0


@pytest.mark.parametrize("seed", [-1, 2**32, 2**63, "abc", 1.5, True])
def test_seeds_out_of_range_are_one_clear_line(gen, seed):
    with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.4294967295"):
        gen(np.zeros((64, 64), np.uint8), seed=seed)


def test_unknown_load_option_names_it():
    with pytest.raises(ValueError, match="model 'landscape' does not take the option 'bogus'"):
        synth.load("landscape", bogus=1)


@pytest.mark.parametrize(
    "config",
    [
        DaubConfig(label_nc=9, z_dim=8, channels=(16, 8), hidden=(8, 8), head=8),  # v1: nearest, zero padding
        DaubConfig(
            label_nc=9, z_dim=8, channels=(16, 8), hidden=(8, 8), head=8, noise_3d=True, upsample="bilinear",
            head_layers=2, pixel_noise=True, padding="reflect",
        ),  # v2: three 3x3 convolutions at full size, an odd halo that rounding to even rows cannot hide
    ],
)  # fmt: skip
@pytest.mark.parametrize("band_area", [1, 40 * 5, 40 * 16])  # bands of 2, 4 and 16 rows
def test_full_resolution_bands_give_the_same_pixels(monkeypatch, config, band_area):
    """A large render runs its full-resolution layers in bands of rows (the peak memory): same output."""
    from synth.generators import embedded

    torch.manual_seed(0)
    model = DaubGenerator(config).eval()
    for p in model.parameters():  # the noise strengths start at zero: give the noise a part to play
        p.data.normal_(0, 0.3)
    seg = torch.nn.functional.one_hot(torch.randint(0, 9, (2, 36, 40)), 9).permute(0, 3, 1, 2).float()
    z, noise = torch.randn(2, 8), model.make_noise(2, 36, 40)
    with torch.inference_mode():
        whole = model(seg, z, noise)
        calls = []
        run = model._full_res
        monkeypatch.setattr(model, "_full_res", lambda *a: calls.append(a[3:]) or run(*a))
        monkeypatch.setattr(embedded, "BAND_AREA", band_area)
        banded = model(seg, z, noise)
    assert len(calls) > 1 and calls[0][0] == 0 and calls[-1][1] == 36  # bands, covering every row
    assert torch.allclose(banded, whole, atol=1e-6)


def test_shipped_models_render_large_maps_in_bands_to_the_same_image(gen, monkeypatch):
    from synth.generators import embedded

    ids = demo_map(gen, (512, 384))
    assert 512 * 384 > embedded.BAND_AREA
    banded = np.asarray(gen(ids, seed=5))
    monkeypatch.setattr(embedded, "BAND_AREA", 10**9)
    assert np.array_equal(np.asarray(gen(ids, seed=5)), banded)


def test_to_uint8_maps_tanh_range_to_bytes_and_to_pil_shows_the_same_pixels():
    from synth.generators.base import to_pil, to_uint8

    batch = torch.tensor([-1.0, -0.5, 0.0, 1.0, 1.7, -3.0]).view(1, 1, 2, 3).expand(2, 3, 2, 3).clone()
    batch[1] *= -1
    out = to_uint8(batch)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3, 3)  # [B, H, W, 3]
    assert out[0, :, :, 0].tolist() == [[0, 64, 128], [255, 255, 0]]  # ends clamped, midpoint rounds up
    assert out[1, :, :, 2].tolist() == [[255, 191, 128], [0, 0, 255]]
    assert all(np.array_equal(np.array(im), arr) for im, arr in zip(to_pil(batch), out))
