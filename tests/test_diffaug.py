"""Differentiable augmentation for the discriminator (:mod:`synth.diffaug`): labels stay on their pixels, the
identity at p = 0, gradients pass, draws repeat with the seed, bad probabilities are refused."""

from __future__ import annotations

import pytest
import torch

from synth import diffaug


def _scene(b: int = 3, h: int = 32, w: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose colour encodes the class of each pixel (class k: grey level k / 4 - 1), with their one-hot
    maps (4 classes in vertical and horizontal bands, so a shift in either direction moves them)."""
    y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    ids = ((y * 2 // h) * 2 + (x * 2 // w))[None].expand(b, -1, -1).clone()
    ids[1] = ids[1].flip(-1)
    seg = torch.nn.functional.one_hot(ids, 4).permute(0, 3, 1, 2).float()
    images = (ids.float() / 4 - 1)[:, None].expand(-1, 3, -1, -1).contiguous()
    return images, seg


def test_shifted_labels_stay_on_their_pixels():
    """Only the shift (p = 1, colour draws undone): every pixel's grey still says the class its map says, the
    map is still one-hot everywhere (the uncovered edge reflected, never empty), and the images did move."""
    images, seg = _scene()
    aug = diffaug.draw(3, (32, 48), 1.0, torch.Generator().manual_seed(1))
    aug = diffaug.Augmentation(aug.brightness * 0, aug.saturation * 0 + 1, aug.contrast * 0 + 1, aug.dy, aug.dx)
    assert (aug.dy.abs() + aug.dx.abs() > 0).all() and (aug.dy.abs() <= 4).all() and (aug.dx.abs() <= 6).all()
    out, out_seg = diffaug.apply(aug, images, seg)
    assert torch.equal(out_seg.sum(1), torch.ones(3, 32, 48))
    assert torch.allclose(out[:, 0], out_seg.argmax(1).float() / 4 - 1)
    assert not torch.equal(out, images)
    i = 0  # a pixel away from the edges moved by exactly (dy, dx)
    dy, dx = int(aug.dy[i]), int(aug.dx[i])
    assert torch.equal(out_seg[i, :, 16, 24], seg[i, :, 16 - dy, 24 - dx])


def test_colour_changes_keep_the_map_and_follow_the_draw():
    """Brightness alone adds its draw; saturation 0 makes every pixel grey; the map is untouched without a shift."""
    images, seg = _scene()
    images = images + torch.tensor([0.2, 0.0, -0.2])[None, :, None, None]  # some colour
    zero, one = torch.zeros(3), torch.ones(3)
    shift = torch.zeros(3, dtype=torch.long)
    bright = torch.tensor([0.3, -0.1, 0.0])
    out, out_seg = diffaug.apply(diffaug.Augmentation(bright, one, one, shift, shift), images, seg)
    assert torch.allclose(out, images + bright[:, None, None, None], atol=1e-6) and torch.equal(out_seg, seg)
    grey, _ = diffaug.apply(diffaug.Augmentation(zero, zero, one, shift, shift), images)
    assert torch.allclose(grey[:, 0], grey[:, 2]) and not torch.allclose(images[:, 0], images[:, 2])


def test_p_zero_is_the_identity_and_p_one_changes_every_image():
    images, seg = _scene()
    gen = torch.Generator().manual_seed(0)
    out, out_seg = diffaug.apply(diffaug.draw(3, (32, 48), 0.0, gen), images, seg)
    assert torch.equal(out, images) and torch.equal(out_seg, seg)
    changed, _ = diffaug.apply(diffaug.draw(3, (32, 48), 1.0, gen), images, seg)
    assert all(not torch.allclose(changed[i], images[i]) for i in range(3))


def test_gradients_reach_the_images():
    images, seg = _scene()
    images.requires_grad_(True)
    out, _ = diffaug.apply(diffaug.draw(3, (32, 48), 1.0, torch.Generator().manual_seed(2)), images, seg)
    (out * torch.randn_like(out)).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_the_seed_repeats_the_draw():
    a = diffaug.draw(4, (32, 48), 0.5, torch.Generator().manual_seed(7))
    b = diffaug.draw(4, (32, 48), 0.5, torch.Generator().manual_seed(7))
    assert all(torch.equal(getattr(a, f), getattr(b, f)) for f in ("brightness", "saturation", "contrast", "dy", "dx"))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_a_probability_outside_zero_one_is_refused(p):
    with pytest.raises(ValueError, match="p must be in"):
        diffaug.draw(2, (32, 48), p)
