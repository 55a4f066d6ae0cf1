"""synth.texture: random-filter feature covariances per class region, the bank of real regions, and the
nearest-region texture loss behind ``daub train --texture``."""

import pytest
import torch

from synth.texture import RandomTextureFeatures, TextureBank, region_covariances, texture_loss


def _net():
    return RandomTextureFeatures(channels=(8, 16))


def _photos():
    """Two 64x64 photos, left half class 0, right half class 1: photo 0 flat on both halves, photo 1
    noise on class 0's half."""
    gen = torch.Generator().manual_seed(0)
    photos = torch.full((2, 3, 64, 64), 0.2)
    photos[1, :, :, :32] = torch.rand(3, 64, 32, generator=gen) * 2 - 1
    ids = torch.zeros(2, 64, 64, dtype=torch.long)
    ids[:, :, 32:] = 1
    return photos, ids


def _onehot(ids, n=2, dontcare=True):
    return torch.nn.functional.one_hot(ids, n + dontcare).permute(0, 3, 1, 2).float()


def test_random_filters_are_fixed_by_their_seed_and_never_trained():
    a, b, c = RandomTextureFeatures(seed=0), RandomTextureFeatures(seed=0), RandomTextureFeatures(seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.convs[0].weight, c.convs[0].weight)
    assert not any(p.requires_grad for p in a.parameters())
    feats = _net()(torch.zeros(1, 3, 32, 48))
    assert [tuple(f.shape) for f in feats] == [(1, 8, 32, 48), (1, 16, 16, 24)]


def test_region_covariances_measure_texture_not_colour():
    net = _net()
    flat = torch.full((1, 3, 64, 64), -0.7)
    flat[..., 32:] = 0.9  # two flat regions of different colours
    ids = torch.zeros(1, 64, 64, dtype=torch.long)
    ids[..., 32:] = 1
    regions = list(region_covariances(net(flat), ids, 2, min_cells=4))
    assert [(b, k) for b, k, _ in regions] == [(0, 0), (0, 1)]
    # away from the border between them, a flat region has no texture whatever its colour
    inner = list(region_covariances(net(flat[..., 8:24]), ids[..., 8:24], 2, min_cells=4))
    assert all(float(c.abs().max()) < 1e-6 for _, _, covs in inner for c in covs)
    noisy = flat + 0.3 * torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert all(float(c.abs().max()) > 1e-4 for c in next(region_covariances(net(noisy), ids, 2, 4))[2])


def test_region_covariances_skip_small_regions_and_dontcare():
    net = _net()
    ids = torch.full((1, 64, 64), 2, dtype=torch.long)  # don't-care (id 2 of 2 classes)
    ids[..., :2, :2] = 1  # 2x2 px: one cell at the coarsest level (1/2)
    ids[..., 32:, :] = 0
    found = [k for _, k, _ in region_covariances(net(torch.rand(1, 3, 64, 64)), ids, 2, min_cells=2)]
    assert found == [0]


def test_bank_finds_the_nearest_real_region_of_the_same_class():
    photos, ids = _photos()
    net = _net()
    bank = TextureBank.build(net, photos, ids, 2, min_cells=4)
    assert {k: len(v[0]) for k, v in bank.covs.items()} == {0: 2, 1: 2}
    # a query with photo 1's texture on class 0 is nearest to photo 1's region, and at distance ~0
    covs = next(region_covariances(net(photos[1:]), ids[1:], 2, 4))[2]
    d = bank.distances(0, covs)
    assert int(d.argmin()) == 1 and float(d[1]) < 1e-5 < float(d[0])
    assert float(bank.nearest_distance(0, covs)) == pytest.approx(float(d[1]), abs=1e-5)


def test_texture_loss_is_zero_on_a_real_photo_and_pulls_a_flat_region_towards_texture():
    photos, ids = _photos()
    net = _net()
    bank = TextureBank.build(net, photos[1:], ids[1:], 2, min_cells=4)  # only the textured photo
    assert float(texture_loss(photos[1:], _onehot(ids[1:]), 2, bank, min_cells=4)) < 1e-5
    fake = photos[:1].clone().requires_grad_()  # flat where the bank's class 0 is textured
    before = texture_loss(fake, _onehot(ids[:1]), 2, bank, min_cells=4)
    assert float(before.detach()) > 0.1
    before.backward()
    assert float(fake.grad[..., :32].abs().sum()) > 0  # class 0's half gets a gradient
    with torch.no_grad():
        stepped = fake - 0.05 * fake.grad / fake.grad.abs().max()
    assert float(texture_loss(stepped, _onehot(ids[:1]), 2, bank, min_cells=4).detach()) < float(before.detach())


def test_texture_loss_ignores_classes_the_bank_lacks_and_rejects_a_foreign_map():
    photos, ids = _photos()
    net = _net()
    bank = TextureBank.build(net, photos[:1, :, :, :32], ids[:1, :, :32], 2, min_cells=4)  # class 0 only
    assert set(bank.covs) == {0}
    only_1 = torch.ones(1, 64, 64, dtype=torch.long)
    assert float(texture_loss(photos[:1], _onehot(only_1), 2, bank, min_cells=4)) == 0.0
    with pytest.raises(ValueError, match="onehot"):
        texture_loss(photos[:1], _onehot(ids[:, :32]), 2, bank)


def test_paired_distances_compare_each_render_with_its_own_photo():
    from synth.texture import paired_distances

    photos, ids = _photos()
    bank = TextureBank.build(_net(), photos, ids, 2, min_cells=4)
    d = paired_distances(photos, photos, _onehot(ids), 2, bank, min_cells=4)
    assert d.shape == (2,) and float(d.abs().max()) < 1e-6  # each photo against itself
    swapped = paired_distances(photos.flip(0), photos, _onehot(ids), 2, bank, min_cells=4)
    assert float(swapped.min()) > 0.1  # flat against textured and back
    none = torch.full((2, 64, 64), 2)  # all don't-care: no region, distance 0
    assert float(paired_distances(photos, photos.flip(0), _onehot(none), 2, bank, 4).abs().max()) == 0.0
    with pytest.raises(ValueError, match="same maps"):
        paired_distances(photos[:1], photos, _onehot(ids), 2, bank)


def test_paired_distances_count_the_regions_colours_only_when_asked():
    """``colour`` adds its weight times each region's mean-colour gap (0.4 / 3 here) to the distance."""
    from synth.texture import paired_distances

    photos, ids = _photos()
    bank = TextureBank.build(_net(), photos, ids, 2, min_cells=4)
    tinted = photos.clone()
    tinted[:, 0] += 0.4  # redder by 0.4 of 2 in R; G, B alike: a mean gap of 0.4 / 3 per region
    plain = paired_distances(tinted, photos, _onehot(ids), 2, bank, min_cells=4)
    coloured = paired_distances(tinted, photos, _onehot(ids), 2, bank, min_cells=4, colour=3.0)
    assert (coloured - plain).tolist() == pytest.approx([0.4, 0.4], abs=1e-4)
    same = paired_distances(photos, photos, _onehot(ids), 2, bank, min_cells=4, colour=3.0)
    assert float(same.abs().max()) < 1e-6
