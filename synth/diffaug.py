"""Differentiable augmentation for the segmenting discriminator (DiffAugment, Zhao et al., NeurIPS 2020; the
same idea as StyleGAN2-ADA, Karras et al. 2020): with few training photos the discriminator memorises them
instead of learning what a class looks like (landscape: p(mountain) 0.33 on the training photos' mountains,
0.05 on the val photos'). Every image it sees, real or fake, in its own update and in the generator's, goes
through the same kind of random colour change and shift first, so what it learns must hold beyond the
exact training pixels; the transforms are differentiable, so the generator still learns through them.

Per image, each transform is applied with probability ``p``: brightness (+U(-0.5, 0.5)), saturation
(×U(0, 2) about the pixel's grey), contrast (×U(0.5, 1.5) about the image mean), and a shift of up to 1/8
of the height and width. The shift moves the one-hot map with the image (the discriminator's targets stay
on their pixels) and fills the edge it uncovers by reflection, in the image and the map alike, so every
pixel keeps a true label. No cutout: an erased square has no class to ask for.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """One draw of the transforms for a batch (``[B]`` each; the identity where a transform was not drawn)."""

    brightness: torch.Tensor  # added
    saturation: torch.Tensor  # factor about the grey
    contrast: torch.Tensor  # factor about the image mean
    dy: torch.Tensor  # shift in pixels (int)
    dx: torch.Tensor


def draw(batch: int, size: tuple[int, int], p: float, gen: torch.Generator | None = None) -> Augmentation:
    """Random transforms for ``batch`` images of ``size = (h, w)``, each applied with probability ``p``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    h, w = size

    def on() -> torch.Tensor:
        return torch.rand(batch, generator=gen) < p

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(batch, generator=gen)

    bright = torch.where(on(), uniform(-0.5, 0.5), 0.0)
    sat = torch.where(on(), uniform(0.0, 2.0), 1.0)
    con = torch.where(on(), uniform(0.5, 1.5), 1.0)
    shift = on()
    my, mx = h // 8, w // 8
    dy = torch.where(shift, torch.randint(-my, my + 1, (batch,), generator=gen), 0)
    dx = torch.where(shift, torch.randint(-mx, mx + 1, (batch,), generator=gen), 0)
    return Augmentation(bright, sat, con, dy, dx)


def apply(aug: Augmentation, images: torch.Tensor, seg: torch.Tensor | None = None):
    """``images`` ``[B, 3, H, W]`` in [-1, 1] (and their one-hot ``seg`` ``[B, C, H, W]``, shifted alike) through
    ``aug``. Returns ``(images, seg)``; differentiable in ``images``."""
    dev, dt = images.device, images.dtype
    col = lambda t: t.to(dev, dt)[:, None, None, None]  # noqa: E731
    x = images + col(aug.brightness)
    grey = x.mean(1, keepdim=True)
    x = (x - grey) * col(aug.saturation) + grey
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * col(aug.contrast) + mean
    return _shift(x, aug), (None if seg is None else _shift(seg, aug))


def _shift(t: torch.Tensor, aug: Augmentation) -> torch.Tensor:
    """Each image of ``t`` moved by its ``(dy, dx)``, the uncovered edge filled by reflection."""
    if not (aug.dy.any() or aug.dx.any()):
        return t
    h, w = t.shape[-2:]
    py, px = int(aug.dy.abs().max()), int(aug.dx.abs().max())
    padded = F.pad(t, (px, px, py, py), mode="reflect")
    rows = [
        padded[i, :, py - dy : py - dy + h, px - dx : px - dx + w]
        for i, (dy, dx) in enumerate(zip(aug.dy.tolist(), aug.dx.tolist()))
    ]
    return torch.stack(rows).contiguous(memory_format=torch.channels_last)
