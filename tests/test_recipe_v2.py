"""Recipe v2 pieces: 3D/pixel-noise generator, segmentation discriminator, OASIS losses, device augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import synth
from synth.data import augment
from synth.discriminator import PatchDiscriminator, SegDiscriminator
from synth.generators.base import to_uint8
from synth.generators.embedded import DaubConfig, DaubGenerator, EmbeddedGenerator, load_weights, save_weights
from synth.labels import one_hot as palette_one_hot
from synth.losses import (
    band_edges,
    band_loss,
    band_power,
    class_weights,
    d_fake_loss,
    d_real_loss,
    diversity_loss,
    grain_loss,
    labelmix_loss,
    labelmix_mask,
    patch_d_loss,
    patch_g_loss,
    patch_weights,
    pooled_power,
    spectral_loss,
)
from synth.train import noise_map


def tiny_v2(**kw) -> DaubGenerator:
    cfg = DaubConfig(
        palette="landscape",
        label_nc=9,
        z_dim=4,
        channels=(16, 8),
        hidden=(8, 8),
        head=8,
        default_size=(64, 48),
        noise_3d=True,
        upsample="bilinear",
        head_layers=2,
        pixel_noise=True,
        padding="reflect",
        **kw,
    )
    torch.manual_seed(0)
    model = DaubGenerator(cfg).eval()
    with torch.no_grad():  # trained models have non-zero noise strengths; fresh ones start at 0
        for b in model.blocks:
            b.noise_strength.fill_(0.5)
        model.full_noise.fill_(0.5)
    return model


def onehot(ids: torch.Tensor, channels: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(ids, channels).permute(0, 3, 1, 2).float()


def test_v2_generator_takes_noise_maps_and_pixel_noise_changes_texture():
    g = tiny_v2()
    seg = onehot(torch.zeros(1, 48, 64, dtype=torch.long), 9)
    z = torch.randn(1, 4)
    n1, n2 = (
        g.make_noise(1, 48, 64, torch.Generator().manual_seed(1)),
        g.make_noise(1, 48, 64, torch.Generator().manual_seed(2)),
    )
    assert [tuple(m.shape[-2:]) for m in n1] == [(12, 16), (24, 32), (48, 64)]
    a, b = g(seg, z, n1), g(seg, z, n2)
    assert torch.equal(a, g(seg, z, n1))
    assert (a - b).abs().mean() > 1e-3  # same code, other pixel noise: other texture
    # a per-pixel code map equal to the broadcast code gives the same image
    assert torch.allclose(g(seg, z[:, :, None, None].expand(-1, -1, 48, 64), n1), a, atol=1e-6)


def test_reflect_padding_hides_the_border_and_handles_one_pixel_maps():
    from synth.generators.embedded import _conv3

    conv = _conv3(1, 1, "reflect")
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
    flat = conv(torch.ones(1, 1, 5, 7))
    assert torch.allclose(flat, torch.full_like(flat, 9.0))  # zero padding would darken the border
    assert conv(torch.ones(1, 1, 1, 1)).shape == (1, 1, 1, 1)
    g = tiny_v2()
    assert g(onehot(torch.zeros(1, 32, 32, dtype=torch.long), 9), torch.zeros(1, 4)).shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="padding must be"):
        _conv3(1, 1, "circular")


def test_v1_models_refuse_noise_maps():
    v1 = DaubGenerator(DaubConfig(label_nc=9, channels=(16, 8), hidden=(8, 8), head=8))
    with pytest.raises(ValueError, match="one style code per image"):
        v1(torch.zeros(1, 9, 32, 32), torch.zeros(1, 64, 32, 32))
    assert v1.make_noise(1, 32, 32) == []


def test_v2_weights_round_trip_and_backend_is_seed_deterministic(tmp_path):
    g = tiny_v2()
    save_weights(g, tmp_path / "v2.safetensors", half=False)
    back = load_weights(tmp_path / "v2.safetensors")
    assert back.config == g.config
    backend = EmbeddedGenerator("landscape", back)
    ids = np.zeros((48, 64), np.uint8)
    ids[24:] = 3
    a, b, c = (np.array(backend(ids, seed=s)) for s in (5, 5, 6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # batch rendering gives each image its own seed's noise, the same as one by one
    batch = backend.generate(ids, seed=5, num_images=2)
    assert np.array_equal(np.array(batch[0]), a) and np.array_equal(np.array(batch[1]), c)


def test_v1_weights_stay_loadable_beside_the_shipped_v2(tmp_path):
    """landscape and facades ship v2; v1 files (both v1s are in git) load and render as v1."""
    for name in ("landscape", "facades"):  # v2: 3D noise, pixel noise, reflection padding
        cfg = synth.load(name).model.config
        assert cfg.noise_3d and cfg.pixel_noise and cfg.padding == "reflect"
    torch.manual_seed(0)
    v1 = DaubGenerator(DaubConfig(label_nc=9, z_dim=8, channels=(16, 8), hidden=(8, 8), head=8, default_size=(64, 48)))
    save_weights(v1, tmp_path / "landscape-v1.safetensors")
    gen = synth.load("landscape", weights=tmp_path / "landscape-v1.safetensors")
    cfg = gen.model.config
    assert not cfg.noise_3d and not cfg.pixel_noise and cfg.upsample == "nearest" and cfg.padding == "zeros"
    ids = np.zeros((48, 64), np.uint8)
    assert gen(ids, seed=1).size == (64, 48) and not gen.regions


def test_discriminator_segments_into_n_plus_one_classes():
    d = SegDiscriminator(8, channels=(8, 16, 16))
    out = d(torch.zeros(2, 3, 48, 64))
    assert out.shape == (2, 9, 48, 64)


def test_patch_discriminator_judges_patches_given_the_map():
    d = PatchDiscriminator(4, channels=(8, 16, 16))
    x, ids = torch.randn(2, 3, 48, 64), torch.randint(0, 4, (2, 48, 64))
    out = d(x, onehot(ids, 4))
    assert out.shape == (2, 1, 6, 8)  # one verdict per 8x8 step
    assert not torch.allclose(out, d(x, onehot((ids + 1) % 4, 4)))  # the verdict depends on the map
    for bad in (onehot(ids.clamp(max=2), 3), onehot(ids[:, :24], 4), onehot(ids[:1], 4)):
        with pytest.raises(ValueError, match="seg: the patch discriminator needs a \\[B, 4, H, W\\] map"):
            d(x, bad)


def test_patch_losses_are_hinge_and_count_a_rare_class_patch_as_much_as_a_common_one():
    ids = torch.zeros(1, 16, 16, dtype=torch.long)
    ids[0, :8, :8] = 1  # class 1: one 8x8 patch of four; class 0 the other three
    seg = onehot(ids, 2)
    like = torch.zeros(1, 1, 2, 2)
    w = patch_weights(seg, 2, like)
    assert w.shape == like.shape
    assert float(w[0, 0, 0, 0]) == pytest.approx(3 * float(w[0, 0, 1, 1]))  # the rare patch weighs 3x each other one
    sure = torch.ones_like(like)
    assert patch_d_loss(sure, -sure, w) == 0  # right by the margin: nothing to pay
    assert float(patch_d_loss(-sure, sure, w)) == pytest.approx(4 * float(w.mean()))
    fooled_rare = -sure.clone()
    fooled_rare[0, 0, 0, 0] = 1.0  # only the rare class's fake patch taken for real
    fooled_common = -sure.clone()
    fooled_common[0, 0, 1, :] = 1.0
    fooled_common[0, 0, 0, 1] = 1.0  # all three common-class fake patches taken for real
    assert float(patch_d_loss(sure, fooled_rare, w)) == pytest.approx(float(patch_d_loss(sure, fooled_common, w)))
    assert float(patch_g_loss(fooled_rare, w)) < float(patch_g_loss(-sure, w))  # fooling D lowers G's loss


def test_class_weights_balance_classes_and_ignore_dontcare():
    ids = torch.zeros(1, 4, 4, dtype=torch.long)
    ids[0, :, :1] = 1  # class 1: 4 pixels, class 0: 8, don't-care (channel 3): 4
    ids[0, :, 3:] = 3
    w = class_weights(onehot(ids, 4), num_classes=3)
    assert torch.all(w[ids == 3] == 0)
    # each present class gets the same total weight
    assert w[ids == 0].sum() == pytest.approx(w[ids == 1].sum())
    assert w[ids == 1][0] == pytest.approx(2 * w[ids == 0][0])


def test_d_losses_follow_the_n_plus_one_targets():
    ids = torch.randint(0, 3, (2, 8, 8))
    seg = onehot(ids, 3)
    right = torch.full((2, 4, 8, 8), -20.0)
    right.scatter_(1, (ids + 1)[:, None], 20.0)  # every pixel confidently its class
    assert d_real_loss(right, seg, 3) < 1e-6
    assert d_fake_loss(right) > 10
    fake = torch.full((2, 4, 8, 8), -20.0)
    fake[:, 0] = 20.0
    assert d_fake_loss(fake) < 1e-6 and d_real_loss(fake, seg, 3) > 10


def test_balanced_fake_term_counts_a_rare_class_as_much_as_a_common_one():
    """--balance-fake: a discriminator that misses only the fakes of a rare class pays for them as much as
    if it had missed the common class's; the plain (OASIS) term lets it off ~1/share times more lightly."""
    ids = torch.zeros(1, 8, 8, dtype=torch.long)
    ids[0, :1, :2] = 1  # class 1: 2 of 64 pixels
    seg = onehot(ids, 2)
    fooled = torch.full((1, 3, 8, 8), -20.0)
    fooled[:, 0] = 20.0  # every pixel called fake ...
    fooled[:, 0][ids == 1], fooled[:, 2][ids == 1] = -20.0, 20.0  # ... but the rare class's, taken for real
    common_fooled = torch.full((1, 3, 8, 8), -20.0)
    common_fooled[:, 0][ids == 1] = 20.0
    common_fooled[:, 1][ids == 0] = 20.0  # the opposite: only the common class's fakes taken for real
    assert float(d_fake_loss(fooled, seg, 2)) == pytest.approx(float(d_fake_loss(common_fooled, seg, 2)), rel=1e-4)
    assert d_fake_loss(common_fooled) > 20 * d_fake_loss(fooled)  # plain: 62 pixels against 2
    dontcare = onehot(torch.full((1, 8, 8), 2), 3)  # don't-care everywhere: nothing to pay
    assert d_fake_loss(fooled, dontcare, 2) == 0
    with pytest.raises(ValueError, match="num_classes"):  # balanced without the class count: refused, not 0
        d_fake_loss(fooled, seg)


def test_class_verdicts_say_per_class_what_the_discriminator_believes():
    """scripts/d_probe.py's figures: per class, p(own class) and p(fake) on reals, p(fake) on fakes."""
    from synth.discriminator import class_verdicts

    classes = torch.zeros(1, 4, 4, dtype=torch.long)
    classes[0, :, 2:] = 1
    classes[0, 3] = 2  # don't-care row (num_classes = 2): left out
    real, fake = torch.full((1, 3, 4, 4), -20.0), torch.full((1, 3, 4, 4), -20.0)
    real[:, 1][classes == 0] = 20.0  # class 0's real pixels: confidently class 0
    real[:, 0][classes == 1] = 20.0  # class 1's real pixels: taken for fake
    fake[:, 0][classes == 0] = 20.0  # class 0's fakes caught, class 1's taken for class 1
    fake[:, 2][classes == 1] = 20.0
    sums, counts = class_verdicts(real, fake, classes, 2)
    assert counts.tolist() == [6, 6]
    means = sums / counts[:, None]
    assert torch.allclose(means, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), atol=1e-6)


def test_real_confusion_says_what_each_class_is_taken_for():
    """scripts/d_probe.py --split: per class, the discriminator's probabilities summed over its real pixels."""
    from synth.discriminator import real_confusion

    classes = torch.zeros(1, 4, 4, dtype=torch.long)
    classes[0, :, 2:] = 1
    classes[0, 3] = 2  # don't-care (num_classes = 2): left out
    logits = torch.full((1, 3, 4, 4), -20.0)
    logits[:, 1][classes == 0] = 20.0  # class 0: itself
    logits[:, 1][classes == 1] = 20.0  # class 1: taken for class 0
    logits[:, 0][classes == 2] = 20.0
    conf = real_confusion(logits, classes, 2)
    assert torch.allclose(conf, torch.tensor([[0.0, 6.0, 0.0], [0.0, 6.0, 0.0]]), atol=1e-5)


def test_seed_colour_probe_measures_the_region_colour_each_seed_gives():
    """scripts/seed_colour_probe.py: per seed, the mean colour of the region only (not of the whole image)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "seed_colour_probe.py"
    spec = importlib.util.spec_from_file_location("seed_colour_probe", path)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)

    def gen(ids, seed):  # the region (id 1) is 10 * seed grey, the rest white
        return Image.fromarray(np.where(ids[..., None] == 1, 10 * seed, 255).astype(np.uint8).repeat(3, -1))

    ids = np.zeros((4, 6), np.uint8)
    ids[1:3, 2:5] = 1
    colours = probe.region_colours(gen, ids, ids == 1, seeds=3)
    assert colours.shape == (3, 3)
    assert np.allclose(colours[:, 0], [0.0, 10 / 255, 20 / 255])


def test_labelmix_mask_covers_whole_regions_and_consistent_d_scores_zero():
    ids = torch.zeros(4, 8, 8, dtype=torch.long)
    ids[:, 4:] = 1
    seg = onehot(ids, 2)
    mask = labelmix_mask(seg, torch.Generator().manual_seed(0))
    assert mask.shape == (4, 1, 8, 8) and set(mask.unique().tolist()) <= {0.0, 1.0}
    for b in range(4):  # one value per region
        assert mask[b, 0, :4].unique().numel() == 1 and mask[b, 0, 4:].unique().numel() == 1
    d_real, d_fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    mixed = mask * d_real + (1 - mask) * d_fake
    assert labelmix_loss(mixed, d_real, d_fake, mask) == 0
    assert labelmix_loss(d_fake, d_real, d_fake, mask) > 0 or mask.sum() == 0


def _stripes_and_grain(n: int, seed: int) -> torch.Tensor:
    """``[n, 3, 64, 64]`` in [-1, 1]: vertical bars (energy on the x axis) plus fine grain."""
    g = torch.Generator().manual_seed(seed)
    bars = (torch.arange(64) // 4 % 2).float().expand(64, 64) - 0.5
    return (bars + 0.3 * torch.randn(n, 1, 64, 64, generator=g)).expand(-1, 3, -1, -1).clamp(-1, 1)


def _descend(loss, images: torch.Tensor, target: torch.Tensor, steps: int = 30) -> tuple[float, float]:
    """``loss(images, target)`` before and after ``steps`` Adam steps on the images themselves."""
    x = images.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.02)
    before = loss(x.detach(), target).item()
    for _ in range(steps):
        opt.zero_grad()
        loss(x, target).backward()
        opt.step()
    return before, loss(x.detach(), target).item()


def test_pooled_power_shape_and_where_the_energy_lies():
    power = pooled_power(_stripes_and_grain(2, 0))
    assert power.shape == (32 * 16 + 15 + 15,) and (power >= 0).all()  # pooled 2D grid, then the two axes
    grid, on_x, on_y = power[:512].reshape(32, 16), power[512:527], power[527:]
    # vertical bars put their energy on the horizontal-frequency axis, none on the vertical one
    assert on_x.sum() > 20 * on_y.sum()  # (the grain is isotropic)
    assert grid[0, 1:].sum() > 10 * grid[2:5, 1:].sum() / 3


def test_spectral_loss_knows_which_way_the_lines_run():
    target = pooled_power(_stripes_and_grain(4, 0))
    assert spectral_loss(_stripes_and_grain(4, 2).transpose(-1, -2), target) > 2 * spectral_loss(
        _stripes_and_grain(4, 1), target
    )


def test_spectral_loss_tells_a_blurred_batch_and_pulls_it_back_to_sharp():
    real = _stripes_and_grain(4, 0)
    target = pooled_power(real)
    same_kind = _stripes_and_grain(4, 1)
    blurred = torch.nn.functional.avg_pool2d(same_kind, 5, 1, 2, count_include_pad=False)
    assert spectral_loss(same_kind, target) < 0.5 * spectral_loss(blurred, target)
    before, after = _descend(spectral_loss, blurred, target)
    assert after < 0.5 * before


def test_spectral_axis_weight_scales_the_axes_term_alone():
    torch.manual_seed(0)
    real, fake = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    fake[..., ::4, :] = 1  # horizontal lines the real images lack: a gap on the axes
    target = pooled_power(real)
    grid, one, two = (spectral_loss(fake, target, axis=a).item() for a in (0.0, 1.0, 2.0))
    assert one > grid and two - one == pytest.approx(one - grid, rel=1e-4)  # linear in the axis weight


def test_band_power_agrees_with_the_eval_metric_on_and_off_the_axes():
    from synth.metrics import axis_band_db

    real, fake = _stripes_and_grain(4, 0), _stripes_and_grain(4, 1)
    fake[..., ::3, :] = 1  # horizontal lines: energy on the vertical-frequency axis
    as_uint8 = [to_uint8(x) for x in (fake, real)]
    theirs = axis_band_db(*as_uint8, bands=((8, 12), (12, 16), (16, 24)))
    assert band_edges(64, 64) == [2, 3, 4, 6, 8, 12, 16, 24, 33] and band_edges(256, 256)[-3:] == [64, 96, 129]
    fb, rb = band_power(fake), band_power(real)
    for k, (on_db, off_db) in enumerate(theirs.values(), start=4):  # bands 4..6: rings 8..11, 12..15, 16..23
        on = (fb[3 * k] + fb[3 * k + 1]) / (rb[3 * k] + rb[3 * k + 1])  # the metric joins the two axes
        assert 10 * torch.log10(on).item() == pytest.approx(on_db, abs=0.3)
        assert 10 * torch.log10(fb[3 * k + 2] / rb[3 * k + 2]).item() == pytest.approx(off_db, abs=0.3)
    # the lines are horizontal: the excess is on the vertical-frequency axis, not on the other
    assert fb[12:21:3].sum() < 2 * rb[12:21:3].sum() and fb[13:21:3].sum() > 3 * rb[13:21:3].sum()


def test_band_power_is_steady_where_single_bins_are_not():
    """Two batches of four from one distribution: band sums agree, the pooled 2D bins scatter by dB."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(4, 3, 128, 128, generator=g).clamp(-1, 1) for _ in range(2))
    bin_gap = (pooled_power(a).log() - pooled_power(b).log()).abs()
    assert band_loss(a, band_power(b)) < 0.4 * bin_gap.mean()  # band_loss: the same |log| gap, weighted by rings


def test_band_loss_pulls_a_blurred_batch_back_and_knows_the_axes():
    real = _stripes_and_grain(4, 0)
    target = band_power(real)
    assert band_loss(_stripes_and_grain(4, 2).transpose(-1, -2), target) > 3 * band_loss(
        _stripes_and_grain(4, 1), target
    )
    blurred = torch.nn.functional.avg_pool2d(_stripes_and_grain(4, 1), 5, 1, 2, count_include_pad=False)
    before, after = _descend(band_loss, blurred, target)
    assert after < 0.5 * before


def _ripples_and_rock(ripples_left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1x3x48x64 image: horizontal ripples (6 px apart) on one half, noise on the other; and the two-class
    one-hot map of it: class 0 the left half, class 1 the right."""
    gen = torch.Generator().manual_seed(0)
    yy = torch.arange(48.0)[:, None].expand(48, 64)
    ripples = 0.4 * torch.sin(yy * torch.pi / 3) + 0.05 * torch.randn(48, 64, generator=gen)
    rock = torch.rand(48, 64, generator=gen) * 2 - 1
    left = torch.arange(64)[None, :].expand(48, 64) < 32
    image = torch.where(left == ripples_left, ripples, rock).expand(1, 3, 48, 64).clone()
    return image, F.one_hot((~left).long(), 2).permute(2, 0, 1)[None].float()


def test_grain_loss_pays_for_grain_running_the_wrong_way_and_agrees_with_the_metric():
    from synth.metrics import grain_orientation

    fake, seg = _ripples_and_rock(True)  # class 0 rippled, as water is
    real, _ = _ripples_and_rock(False)  # the photos: class 0 is the rock, class 1 the rippled one
    assert grain_loss(fake, fake, seg) == pytest.approx(0, abs=1e-6)
    gap = grain_loss(fake, real, seg)
    # both classes' grain is wrong by about the eval figure's gap (edges differ a little: no erosion at the border)
    left = np.zeros((1, 48, 64), bool)
    left[:, 6:-6, 6:26] = True
    fig = grain_orientation(fake[:, 0].numpy(), left) - grain_orientation(real[:, 0].numpy(), left)
    assert fig > 1.5 and gap == pytest.approx(fig, rel=0.15)
    # a descent step turns the fake's grain towards the photos'
    x = fake.clone().requires_grad_(True)
    grain_loss(x, real, seg).backward()
    assert grain_loss(fake - 0.05 * x.grad / x.grad.abs().max(), real, seg) < gap
    # a class with too few pixel pairs inside its shrunk regions is not counted
    assert grain_loss(fake, real, seg, margin=30) == 0


def test_diversity_loss_pays_for_alike_draws_and_nothing_past_the_cap():
    a = torch.zeros(2, 3, 8, 8)
    assert diversity_loss(a, a) == pytest.approx(0.3)
    assert diversity_loss(a, a + 0.1) == pytest.approx(0.2)
    assert diversity_loss(a, a + 1.0) == 0  # different enough: no push to differ more
    b = (a + 0.05).requires_grad_(True)
    diversity_loss(a, b).backward()
    assert (b.grad < 0).all()  # a descent step moves b away from a


def test_pooled_diversity_ignores_grain_and_pays_for_colour():
    a = torch.zeros(2, 3, 8, 8)
    grain = torch.ones(8, 8)
    grain[::2, ::2] = grain[1::2, 1::2] = -1  # a +-1 checkerboard: big per-pixel, zero mean per 2x2 block
    assert diversity_loss(a, a + grain) == 0  # per pixel, grain is difference enough
    assert diversity_loss(a, a + grain, pool=2) == pytest.approx(0.3)  # pooled, it is no difference at all
    assert diversity_loss(a, a + 0.1, pool=4) == pytest.approx(0.2)  # a change of colour counts either way


def test_per_class_diversity_pays_for_a_small_region_that_never_changes():
    seg = torch.zeros(2, 2, 16, 16)
    seg[:, 0] = 1
    seg[:, 0, :4, :4], seg[:, 1, :4, :4] = 0, 1  # class 1: a small corner (1/16 of each image)
    a = torch.zeros(2, 3, 16, 16)
    b = a + 0.5
    b[:, :, :4, :4] = 0  # the corner is the same in both draws, the rest differs a lot
    assert diversity_loss(a, b) == 0  # per image, the big change hides the still corner
    # per class: the background pays nothing, the corner the whole cap (two of four class regions)
    assert diversity_loss(a, b, seg=seg) == pytest.approx(0.15)
    assert diversity_loss(a, b, pool=2, seg=seg) == pytest.approx(0.15)
    assert diversity_loss(a, a + 0.5, seg=seg) == 0


def test_noise_map_is_one_code_per_image_or_per_class():
    ids = torch.zeros(2, 8, 8, dtype=torch.long)
    ids[:, 4:] = 1
    seg = onehot(ids, 2)
    same = noise_map(seg, 3, 0.0, torch.Generator().manual_seed(0))
    assert same.shape == (2, 3, 8, 8) and torch.equal(same[:, :, 0, 0], same[:, :, 7, 7])
    per_class = noise_map(seg, 3, 1.0, torch.Generator().manual_seed(0))
    assert not torch.equal(per_class[:, :, 0, 0], per_class[:, :, 7, 7])
    assert torch.equal(per_class[:, :, 0, 0], per_class[:, :, 3, 3])


def test_batched_one_hot_maps_dontcare_to_the_last_channel():
    pal = synth.palette("landscape")
    lab = torch.tensor([[[0, 7, 15]]])
    oh = palette_one_hot(lab, pal)
    assert oh[0, :, 0, 2].argmax() == 8 and oh[0, :, 0, 1].argmax() == 7


def test_augment_flips_crops_and_never_blends_ids():
    photos = torch.arange(2 * 3 * 24 * 32, dtype=torch.float32).reshape(2, 3, 24, 32) % 251
    photos = photos.to(torch.uint8)
    labels = (torch.arange(32) // 8).repeat(2, 24, 1).to(torch.uint8)  # 4 vertical bands
    x, y = augment(photos, labels, (32, 24), torch.Generator().manual_seed(3), max_scale=1.0)
    assert x.shape == (2, 3, 24, 32) and y.shape == (2, 24, 32)
    for b in range(2):  # no zoom: each label map is the original or its mirror image
        assert torch.equal(y[b], labels[b].long()) or torch.equal(y[b], labels[b].long().flip(-1))
    x2, y2 = augment(photos, labels, (16, 12), torch.Generator().manual_seed(3))
    assert set(y2.unique().tolist()) <= {0, 1, 2, 3} and x2.min() >= -1 and x2.max() <= 1
    # the same seed gives the same crops
    x3, _ = augment(photos, labels, (16, 12), torch.Generator().manual_seed(3))
    assert torch.equal(x2, x3)


def test_augment_never_magnifies_so_real_photos_stay_sharp():
    """At the source's own size (facades 256 -> 256) the default zoom would blow crops up and blur them."""
    g = torch.Generator().manual_seed(0)
    photos = torch.randint(0, 256, (6, 3, 32, 32), generator=g, dtype=torch.uint8)  # pixel-level detail
    labels = torch.zeros(6, 32, 32, dtype=torch.uint8)
    x, _ = augment(photos, labels, (32, 32), torch.Generator().manual_seed(1))  # default max_scale 1.25
    exact = photos.float() / 127.5 - 1
    for b in range(6):  # every photo comes back untouched or mirrored: not a resampled pixel
        assert torch.allclose(x[b], exact[b], atol=1e-4) or torch.allclose(x[b], exact[b].flip(-1), atol=1e-4)
    # from a larger source the zoom still works (crops differ from the plain resize)
    big = torch.randint(0, 256, (6, 3, 64, 64), generator=g, dtype=torch.uint8)
    zoomed, _ = augment(big, torch.zeros(6, 64, 64, dtype=torch.uint8), (32, 32), torch.Generator().manual_seed(1))
    plain, _ = augment(big, torch.zeros(6, 64, 64, dtype=torch.uint8), (32, 32), torch.Generator().manual_seed(1), 1.0)
    assert not torch.allclose(zoomed, plain, atol=1e-2)


def _pink_photos(n: int, h: int, w: int) -> torch.Tensor:
    """uint8 ``[n, 3, h, w]`` noise with a photo-like 1/f^2 power spectrum (scale-invariant, as photos are)."""
    rng = np.random.default_rng(0)
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None]
    f = np.hypot(fy, fx)
    f[0, 0] = 1
    x = np.fft.ifft2((rng.normal(size=(n, 3, h, w)) + 1j * rng.normal(size=(n, 3, h, w))) / f).real
    return torch.from_numpy(((x - x.mean()) / x.std() * 40 + 128).clip(0, 255).astype(np.uint8))


def test_augment_crops_have_the_spectrum_of_the_photos_eval_compares_against():
    """Zoomed crops are resized with to_model_size's antialiasing: no aliasing power in the top band (crops
    sampled straight at the output size had +1.3 dB there on these photos, +1.2 dB on the landscape ones)."""
    from synth.data import to_model_size
    from synth.metrics import axis_band_db, spectrum_gap_db

    photos, labels = _pink_photos(32, 120, 160), torch.zeros(32, 120, 160, dtype=torch.uint8)
    crops, _ = augment(photos, labels, (128, 96), torch.Generator().manual_seed(1))  # zoom up to 1.25
    plain, _ = to_model_size(photos, labels, (128, 96))

    assert spectrum_gap_db(to_uint8(crops), to_uint8(plain)) < 0.35
    top = axis_band_db(to_uint8(crops), to_uint8(plain))["32-63"]
    assert max(abs(db) for db in top) < 0.6


def test_default_v2_resume_files_fit_16_mib():
    from synth.train import build_parser

    args = build_parser().parse_args(["--dataset", "x", "--palette", "facades", "--out", "y"])
    cfg = DaubConfig(label_nc=12, z_dim=args.z_dim, noise_3d=True, head=args.head, head_layers=2, pixel_noise=True)
    d = SegDiscriminator(12, tuple(int(c) for c in args.d_channels.split(",")))
    for model in (DaubGenerator(cfg), d):
        fp16_bytes = 2 * sum(v.numel() for v in model.state_dict().values())
        assert fp16_bytes < 16 * 2**20


def test_region_seeds_redraw_one_region_and_keep_the_rest():
    backend = EmbeddedGenerator("landscape", tiny_v2())
    ids = np.zeros((48, 64), np.uint8)
    ids[:, 32:] = 3
    base = np.array(backend(ids, seed=1), np.float64)
    again = np.array(backend(ids, seed=1, region_seeds={3: 1}), np.float64)  # its own seed: no change
    assert np.array_equal(base, again)
    redrawn = np.array(backend(ids, seed=1, region_seeds={3: 9}), np.float64)
    diff = np.abs(redrawn - base).mean(-1)
    assert diff[:, 32:].mean() > 0.5  # the class is re-drawn
    assert np.array_equal(redrawn[:, :32], base[:, :32])  # the rest is kept exactly, up to the boundary
    assert np.array_equal(np.array(backend(ids, seed=1, region_seeds={7: 9})), base)  # an absent class: nothing


def test_region_seeds_errors_are_clear():
    backend = EmbeddedGenerator("landscape", tiny_v2())
    ids = np.zeros((48, 64), np.uint8)
    with pytest.raises(ValueError, match="not a class id"):
        backend(ids, region_seeds={99: 1})
    with pytest.raises(ValueError, match="must be a dict"):
        backend(ids, region_seeds=[1, 2])
    with pytest.raises(ValueError, match="3D-noise"):
        v1 = DaubGenerator(DaubConfig(label_nc=9, z_dim=8, channels=(16, 8), hidden=(8, 8), head=8))
        EmbeddedGenerator("landscape", v1)(ids, region_seeds={0: 1})  # v1: one code per image
