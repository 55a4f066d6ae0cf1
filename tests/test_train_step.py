"""One training step (:mod:`synth.train_step`) on tiny models as ``daub train`` builds them: which models move,
which losses are paid and how they are weighed (no data files needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def _tiny_models(*flags: str):
    """Tiny v2 models for facades (12 classes) as ``daub train`` builds them (with ``flags``), and a batch of 2
    at 64x64."""
    from palettes import load as load_palette
    from synth.labels import one_hot
    from synth.train import _build_models, _config, _Paths, build_parser, noise_map

    args = build_parser().parse_args(
        ["--dataset", "x", "--palette", "facades", "--out", "x", "--z-dim", "8", "--head", "8"]
        + ["--d-channels", "8,16,16,16,16", *flags]
    )
    pal = load_palette("facades")
    torch.manual_seed(0)
    cfg = _config(args, pal, (64, 64), _Paths.of(Path("x"), "facades"), False)
    m = _build_models(cfg, pal.num_classes, args, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    lab = torch.randint(0, 3, (2, 64, 64), generator=gen)
    seg = one_hot(lab, pal)
    real = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    return m, real, seg, noise_map(seg, 8, 0.0, gen), pal.num_classes, gen


def test_d_warmup_step_trains_the_discriminator_alone():
    from synth.train_step import Batch, Recipe, train_step

    m, real, seg, z, n, gen = _tiny_models()
    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=False)
    for train_g in (False, True):
        g0 = [p.detach().clone() for p in m.G.parameters()]
        d0 = [p.detach().clone() for p in m.D.parameters()]
        losses = train_step(m, Batch(real, seg, z), Recipe(), n, amp, gen, train_g=train_g)
        g_moved = any(not torch.equal(a, b) for a, b in zip(g0, m.G.parameters()))
        d_moved = any(not torch.equal(a, b) for a, b in zip(d0, m.D.parameters()))
        assert d_moved and g_moved == train_g
        assert torch.isfinite(losses.g) and losses.g > 0  # the generator's loss is still measured


def test_patch_d_step_trains_the_patch_discriminator_and_reaches_the_generator():
    """--patch-d: the patch discriminator moves every step (warm-up included), and its loss, weighted, moves the
    generator differently from a run without it; without --patch-d there is none."""
    from synth.train_step import Batch, Recipe, train_step

    m0, *_ = _tiny_models()
    assert m0.P is None and "P" not in m0.state()
    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=False)
    moved = {}
    for weight in (0.0, 1.0):
        mp, real, seg, z, n, gen = _tiny_models("--patch-d", "1", "--patch-d-channels", "8,16")
        assert set(mp.state()) >= {"P", "opt_p"}
        for train_g in (False, True):
            p0 = [p.detach().clone() for p in mp.P.parameters()]
            losses = train_step(mp, Batch(real, seg, z), Recipe(patch=weight), n, amp, gen, train_g=train_g)
            assert any(not torch.equal(a, b) for a, b in zip(p0, mp.P.parameters()))
            assert losses.patch_d > 0  # the patch discriminator's hinge loss
        assert (losses.patch_g != 0) == (weight > 0)  # the generator's patch term only when weighted
        moved[weight] = [p.detach().clone() for p in mp.G.parameters()]
    assert any(not torch.allclose(a, b) for a, b in zip(moved[0.0], moved[1.0]))


def test_balance_fake_step_weighs_the_fake_term_by_class():
    """--balance-fake reaches the discriminator's step: its fake term is the class-balanced one, else the plain."""
    from synth.losses import d_fake_loss
    from synth.train_step import Batch, Recipe, train_step

    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=False)
    for balance in (True, False):
        m, real, seg, z, n, gen = _tiny_models()
        seg = torch.zeros_like(seg)
        seg[:, 0], seg[:, 0, :, :4], seg[:, 1, :, :4] = 1, 0, 1  # class 1: a thin strip, class 0 the rest
        torch.manual_seed(1)
        with torch.no_grad():
            d_fake = m.D(m.G(seg, z))  # what the step's discriminator sees (the generator does not move)
        balanced, plain = float(d_fake_loss(d_fake, seg, n)), float(d_fake_loss(d_fake))
        assert abs(balanced - plain) > 1e-3 * plain  # the two terms differ more than the tolerance below
        torch.manual_seed(1)
        recipe = Recipe(balance_fake=balance)
        got = float(train_step(m, Batch(real, seg, z), recipe, n, amp, gen, train_g=False).d_fake.detach())
        assert got == pytest.approx(balanced if balance else plain, rel=1e-4)


def test_ema_warm_keeps_its_full_memory():
    from synth.train_step import update_ema

    m = _tiny_models()[0]
    for warm, share in ((False, 0.9), (True, 0.001)):
        with torch.no_grad():
            for p in m.G_ema.parameters():
                p.zero_()
            for p in m.G.parameters():
                p.fill_(1.0)
        update_ema(m, 0.999, step=0, warm=warm)  # a fresh run's first step: a short memory (1 / 10)
        assert all(torch.allclose(p, torch.full_like(p, share)) for p in m.G_ema.parameters())


def test_texture_step_reaches_the_generator():
    """--texture: the generator pays the weighted nearest-region texture loss (logged), which changes its
    update; with weight 0 the term is not computed."""
    from synth.texture import RandomTextureFeatures, TextureBank
    from synth.train_step import Batch, Recipe, train_step

    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=False)
    moved = {}
    for weight in (0.0, 1.0):
        m, real, seg, z, n, gen = _tiny_models()
        bank = TextureBank.build(RandomTextureFeatures(channels=(8, 16)), real, seg.argmax(1), n, min_cells=4)
        losses = train_step(m, Batch(real, seg, z), Recipe(texture=weight), n, amp, gen, bank)
        assert (losses.texture > 0) == (weight > 0)
        moved[weight] = [p.detach().clone() for p in m.G.parameters()]
    assert any(not torch.allclose(a, b) for a, b in zip(moved[0.0], moved[1.0]))


def test_imle_step_trains_on_the_draw_nearest_to_the_photo():
    """--imle: of the candidate draws, the generator is trained on each map's nearest to its photo, and pays the
    paired texture distance of that draw."""
    from synth.texture import RandomTextureFeatures, TextureBank, paired_distances
    from synth.train import noise_map
    from synth.train_step import Batch, Recipe, nearest_draw, train_step

    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=False)
    m, real, seg, z, n, gen = _tiny_models()
    bank = TextureBank.build(RandomTextureFeatures(channels=(8, 16)), real, seg.argmax(1), n, min_cells=4)
    draws = [(noise_map(seg, 8, 0.0, gen), m.G.make_noise(2, 64, 64, gen)) for _ in range(3)]
    with torch.no_grad():
        dist = torch.stack([paired_distances(m.G(seg, zk, nk), real, seg, n, bank) for zk, nk in draws])
    z_best, noise_best = nearest_draw(m.G, real, seg, n, bank, draws, amp)
    with torch.no_grad():
        renders = [m.G(seg, zk, nk) for zk, nk in draws]  # before the step moves the generator
    for b, k in enumerate(dist.argmin(0).tolist()):
        assert torch.equal(z_best[b], draws[k][0][b])
        assert all(torch.equal(nb[b], nk[b]) for nb, nk in zip(noise_best, draws[k][1]))
    losses = train_step(m, Batch(real, seg, z, draws=draws), Recipe(texture=1.0), n, amp, gen, bank)
    # the term paid is the nearest draw's distance (min_cells 16 in the step: fewer regions than above)
    with torch.no_grad():
        nearest = torch.stack([paired_distances(m_g, real, seg, n, bank) for m_g in renders]).min(0).values
    assert float(losses.texture.detach()) == pytest.approx(float(nearest.mean()), rel=1e-4)


def test_imle_colour_changes_which_draw_is_nearest_and_what_is_paid():
    """--imle-colour: the search and the loss use the distance with the regions' mean colours; a draw whose
    colours are off loses to one that only differs in texture once colour counts."""
    from synth.texture import RandomTextureFeatures, TextureBank, paired_distances
    from synth.train import noise_map
    from synth.train_step import Batch, Recipe, nearest_draw, train_step

    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=False)
    m, real, seg, z, n, gen = _tiny_models()
    bank = TextureBank.build(RandomTextureFeatures(channels=(8, 16)), real, seg.argmax(1), n, min_cells=4)
    draws = [(noise_map(seg, 8, 0.0, gen), m.G.make_noise(2, 64, 64, gen)) for _ in range(4)]
    with torch.no_grad():
        renders = [m.G(seg, zk, nk) for zk, nk in draws]
        plain = torch.stack([paired_distances(r, real, seg, n, bank) for r in renders])
        tinted = torch.stack([paired_distances(r, real, seg, n, bank, colour=50.0) for r in renders])
    for b, k in enumerate(tinted.argmin(0).tolist()):
        z_best, _ = nearest_draw(m.G, real, seg, n, bank, draws, amp, colour=50.0)
        assert torch.equal(z_best[b], draws[k][0][b])
    recipe = Recipe(texture=1.0, imle_colour=50.0)
    losses = train_step(m, Batch(real, seg, z, draws=draws), recipe, n, amp, gen, bank)
    # min_cells 16 in the step as in the search: the same regions as paired_distances' default
    assert float(losses.texture.detach()) == pytest.approx(float(tinted.min(0).values.mean()), rel=1e-4)
    assert float(tinted.min(0).values.mean()) > float(plain.min(0).values.mean())


def test_grain_step_reaches_the_generator():
    """--grain: the generator pays the weighted grain loss (logged), which changes its update; off at 0."""
    from synth.train_step import Batch, Recipe, train_step

    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=False)
    moved = {}
    for weight in (0.0, 1.0):
        m, real, seg, z, n, gen = _tiny_models()
        seg = torch.zeros_like(seg)  # two regions (the tiny batch's map is per-pixel noise: no region inside)
        seg[:, 0, :, :32], seg[:, 1, :, 32:] = 1, 1
        losses = train_step(m, Batch(real, seg, z), Recipe(grain=weight), n, amp, gen)
        assert (losses.grain > 0) == (weight > 0)
        moved[weight] = [p.detach().clone() for p in m.G.parameters()]
    assert any(not torch.allclose(a, b) for a, b in zip(moved[0.0], moved[1.0]))


def test_diffaug_step_shows_the_discriminator_augmented_images():
    """--diffaug: the segmenting discriminator sees other images than without it (its loss and step differ),
    and so does the generator's loss; the patch discriminator sees the images as they are; off at 0."""
    from synth.train_step import Batch, Recipe, train_step

    amp = dict(device_type="cpu", dtype=torch.bfloat16, enabled=False)
    after = {}
    for p in (0.0, 1.0):
        for train_g in (False, True):
            m, real, seg, z, n, gen = _tiny_models("--patch-d", "1", "--patch-d-channels", "8,16")
            losses = train_step(m, Batch(real, seg, z), Recipe(diffaug=p, patch=1.0), n, amp, gen, train_g=train_g)
            nets = [[q.detach().clone() for q in net.parameters()] for net in (m.G, m.D, m.P)]
            after[p, train_g] = (nets, losses)

    def same(a, b) -> bool:
        return all(torch.equal(x, y) for x, y in zip(a, b))

    (g0, d0, p0), l0 = after[0.0, False]
    (_, d1, p1), l1 = after[1.0, False]
    assert l0.d_real != l1.d_real and not same(d0, d1)
    assert after[0.0, True][1].g != after[1.0, True][1].g  # the generator's loss, on the augmented fakes
    assert same(p0, p1)  # the generator did not move: the patch discriminator saw the very same pair
    assert not same(after[0.0, True][0][0], after[1.0, True][0][0])  # the generator's update differs


def test_recipe_takes_each_loss_weight_from_its_flag():
    """Recipe.of: every loss flag reaches the step's recipe (a flag read into the wrong field fails here)."""
    from synth.train import build_parser
    from synth.train_step import Recipe

    flags = {
        "--labelmix": ("labelmix", 3.0),
        "--spectral": ("spectral", 0.5),
        "--spectral-axis": ("spectral_axis", 2.0),
        "--spectral-bands": ("bands", 0.25),
        "--diversity": ("diversity", 0.75),
        "--diversity-pool": ("diversity_pool", 4),
        "--patch-d": ("patch", 0.3),
        "--texture": ("texture", 1.5),
        "--imle-colour": ("imle_colour", 4.0),
        "--grain": ("grain", 0.5),
        "--diffaug": ("diffaug", 0.6),
    }
    argv = ["--dataset", "d", "--palette", "landscape", "--out", "o", "--diversity-per-class", "--balance-fake"]
    for flag, (_, value) in flags.items():
        argv += [flag, str(value)]
    recipe = Recipe.of(build_parser().parse_args(argv))
    assert {field: getattr(recipe, field) for field, _ in flags.values()} == dict(flags.values())
    assert recipe.diversity_per_class and recipe.balance_fake
    assert Recipe.of(build_parser().parse_args(argv[:6])) == Recipe()  # the flags' defaults: the recipe's
