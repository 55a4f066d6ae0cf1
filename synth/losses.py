"""OASIS losses: class-balanced (N+1)-class cross-entropy and LabelMix consistency.

``onehot`` is the generator's input map ``[B, C', H, W]`` (``C'`` = classes + a don't-care channel when
``dontcare``); the discriminator's logits are ``[B, N + 1, H, W]`` with channel 0 = fake and channel
``k + 1`` = class ``k``. Don't-care pixels carry no weight in the class-balanced terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_weights(onehot: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-pixel weights ``[B, H, W]``: inverse class frequency in the batch (OASIS balancing), 0 on don't-care."""
    occ = onehot[:, :num_classes].float().sum((0, 2, 3))
    present = (occ > 0).sum().clamp(min=1)
    pixels = onehot.shape[0] * onehot.shape[2] * onehot.shape[3]
    coef = torch.where(occ > 0, pixels / (occ.clamp(min=1) * present), 0.0)  # 1 when classes are balanced
    coef = torch.cat([coef, coef.new_zeros(onehot.shape[1] - num_classes)])  # don't-care: weight 0
    return coef[onehot.argmax(1)]


def d_real_loss(logits: torch.Tensor, onehot: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Real photo: every pixel should be its own class (class-balanced). Also the generator's loss on fakes."""
    target = onehot[:, :num_classes].argmax(1) + 1
    ce = F.cross_entropy(logits.float(), target, reduction="none")
    return (ce * class_weights(onehot, num_classes)).mean()


def d_fake_loss(logits: torch.Tensor) -> torch.Tensor:
    """Generated image: every pixel should be "fake" (channel 0)."""
    target = torch.zeros(logits.shape[0], *logits.shape[2:], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits.float(), target)


def labelmix_mask(onehot: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """``[B, 1, H, W]`` mask that is 1 on a random half of each image's classes (whole regions)."""
    bits = torch.randint(0, 2, onehot.shape[:2], generator=gen).to(onehot.device, onehot.dtype)
    return (onehot * bits[:, :, None, None]).sum(1, keepdim=True)


def labelmix_loss(d_mixed: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor, mask: torch.Tensor):
    """D's logits on the mixed image should equal the same mix of its logits on real and fake (MSE)."""
    target = mask * d_real.float() + (1 - mask) * d_fake.float()
    return F.mse_loss(d_mixed.float(), target)


def pooled_power(images: torch.Tensor, pool: int = 2) -> torch.Tensor:
    """Spectrum summary of a batch: pooled 2D power, then the power along the two frequency axes (1D).

    ``images`` ``[B, 3, H, W]``; each grey image is mean-removed and Hann-windowed (as
    :func:`synth.metrics.power_spectra`), so the borders add no energy on the axes; the batch-mean power
    spectrum is averaged over ``pool`` x ``pool`` bins (one-sided in x), and apart from that, summed over
    the bins within one of each axis (horizontal and vertical lines: edges, frames, sills) and averaged
    over ``pool`` frequencies along it. fp32 throughout; one flat vector (see :func:`spectral_loss`).
    """
    g = images.float().mean(1)
    g = g - g.mean((-2, -1), keepdim=True)
    h, w = g.shape[-2:]
    hann = (torch.hann_window(n, periodic=False, device=g.device) for n in (h, w))
    power = torch.fft.rfft2(g * torch.outer(*hann)).abs().square().mean(0)  # [h, w // 2 + 1]
    grid = F.avg_pool2d(power[None, None], pool)[0, 0]
    k = torch.arange(2, h // 2 + 1, device=g.device)
    on_x = power[[0, 1, -1], 2:].sum(0)  # horizontal frequencies: vertical lines
    on_y = power[k, :2].sum(1) + power[h - k, :2].sum(1)  # vertical frequencies: horizontal lines
    axes = [F.avg_pool1d(a[None, None], pool)[0, 0] for a in (on_x, on_y)]
    return torch.cat([grid.flatten(), *axes])


def spectral_loss(fake: torch.Tensor, real_power: torch.Tensor, pool: int = 2, axis: float = 1.0) -> torch.Tensor:
    """L1 between the fakes' log spectrum summary and ``real_power`` (a running mean of the reals').

    Spectral regularisation (Durall et al., CVPR 2020), on the whole pooled 2D spectrum plus, weighted as
    much, the two frequency axes (the few bins there would otherwise be drowned out by the rest), so it
    asks for the straight crisp edges of real photos as well as for their fine texture, which the
    adversarial loss alone leaves out. ``real_power`` from :func:`pooled_power` of real photos of the
    same size. ``axis`` weights the axes' term against the 2D grid's (1: as much).
    """
    gap = (torch.log(pooled_power(fake, pool) + 1e-8) - torch.log(real_power + 1e-8)).abs()
    h, w = fake.shape[-2:]
    n_grid = (h // pool) * ((w // 2 + 1) // pool)
    return gap[:n_grid].mean() + axis * gap[n_grid:].mean()


def diversity_loss(a: torch.Tensor, b: torch.Tensor, cap: float = 0.3, pool: int = 1) -> torch.Tensor:
    """Two draws of the same maps from different noise: ``relu(cap - mean |a - b|)``, per image, averaged.

    A diversity-sensitive term (Yang et al., DSGAN, ICLR 2019; Mao et al., MSGAN, CVPR 2019): the
    generator loses when seeds barely change its image, and nothing once they differ by ``cap`` (images
    in [-1, 1]), so it is never pushed to differ at any price. With ``pool`` > 1 both draws are first
    averaged over ``pool``×``pool`` blocks, so only differences coarser than that count: seeds must change
    colours and materials, and fine grain (which would otherwise satisfy the term cheaply) earns nothing.
    """
    a, b = a.float(), b.float()
    if pool > 1:
        a, b = F.avg_pool2d(a, pool), F.avg_pool2d(b, pool)
    return F.relu(cap - (a - b).abs().mean((1, 2, 3))).mean()
