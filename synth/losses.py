"""OASIS losses: class-balanced (N+1)-class cross-entropy and LabelMix consistency.

``onehot`` is the generator's input map ``[B, C', H, W]`` (``C'`` = classes + a don't-care channel when
``dontcare``); the discriminator's logits are ``[B, N + 1, H, W]`` with channel 0 = fake and channel
``k + 1`` = class ``k``. Don't-care pixels carry no weight in the class-balanced terms.
"""

from __future__ import annotations

import functools

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


def _balanced_ce(logits: torch.Tensor, target: torch.Tensor, onehot: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-pixel cross-entropy towards ``target``, weighted by :func:`class_weights` of ``onehot``, averaged."""
    ce = F.cross_entropy(logits.float(), target, reduction="none")
    return (ce * class_weights(onehot, num_classes)).mean()


def d_real_loss(logits: torch.Tensor, onehot: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Real photo: every pixel should be its own class (class-balanced). Also the generator's loss on fakes."""
    return _balanced_ce(logits, onehot[:, :num_classes].argmax(1) + 1, onehot, num_classes)


def d_fake_loss(
    logits: torch.Tensor, onehot: torch.Tensor | None = None, num_classes: int | None = None
) -> torch.Tensor:
    """Generated image: every pixel should be "fake" (channel 0).

    OASIS weighs this term plainly, each pixel alike, while the real term is class-balanced: a rare class's
    real pixels then count ~1/share times as much as its fake ones, so the discriminator learns what a
    mountain is and hardly what a *fake* mountain is, and the generator gets away with flat ones. Given the
    fakes' map ``onehot`` (and ``num_classes``), the fake pixels are class-balanced the same way."""
    target = torch.zeros(logits.shape[0], *logits.shape[2:], dtype=torch.long, device=logits.device)
    if onehot is None:
        return F.cross_entropy(logits.float(), target)
    if num_classes is None:
        raise ValueError("d_fake_loss: a class-balanced fake term needs num_classes beside onehot")
    return _balanced_ce(logits, target, onehot, num_classes)


def labelmix_mask(onehot: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """``[B, 1, H, W]`` mask that is 1 on a random half of each image's classes (whole regions)."""
    bits = torch.randint(0, 2, onehot.shape[:2], generator=gen).to(onehot.device, onehot.dtype)
    return (onehot * bits[:, :, None, None]).sum(1, keepdim=True)


def labelmix_loss(d_mixed: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor, mask: torch.Tensor):
    """D's logits on the mixed image should equal the same mix of its logits on real and fake (MSE)."""
    target = mask * d_real.float() + (1 - mask) * d_fake.float()
    return F.mse_loss(d_mixed.float(), target)


def _batch_power(images: torch.Tensor) -> torch.Tensor:
    """Batch-mean one-sided power spectrum ``[H, W // 2 + 1]`` of the grey images, mean-removed, Hann-windowed."""
    g = images.float().mean(1)
    g = g - g.mean((-2, -1), keepdim=True)
    h, w = g.shape[-2:]
    hann = (torch.hann_window(n, periodic=False, device=g.device) for n in (h, w))
    return torch.fft.rfft2(g * torch.outer(*hann)).abs().square().mean(0)


def band_edges(h: int, w: int) -> list[int]:
    """Half-octave bands of frequency rings (ring = 1 / min(H, W)) from ring 2 up to the Nyquist ring:
    ``[2, 3, 4, 6, 8, 12, 16, …, min(H, W) // 2 + 1]``; band ``k`` holds rings ``edges[k] ≤ r < edges[k + 1]``
    (the last band takes a remainder under half a band)."""
    top, edges = min(h, w) // 2 + 1, [2, 3]
    while True:
        nxt = edges[-1] * 4 // 3 if edges[-1] % 3 == 0 else edges[-1] * 3 // 2
        if nxt + (nxt - edges[-1]) // 2 > top:  # less than half a band would be left: the last band takes it
            return edges + [top]
        edges.append(nxt)


@functools.lru_cache(maxsize=8)
def _band_index(h: int, w: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """For :func:`band_power`: the kept bins of the flat one-sided spectrum, their entry ids, their weights (2
    where a bin stands for its mirror image too, so the sums are the full spectrum's), and each entry's
    weight in :func:`band_loss` (its band's share of the rings, as the eval metrics weigh rings alike)."""
    ky = torch.fft.fftfreq(h, device=device)[:, None] * h
    kx = torch.arange(w // 2 + 1, device=device)[None, :].float()
    ring = (torch.hypot(ky / h, kx / w) * min(h, w)).floor()  # rings of 1 / min(H, W), as synth.metrics
    # within one bin of an axis, as synth.metrics.axis_energy_share; no kept bin is on both (ring >= 2)
    part = torch.where(ky.abs() <= 1, 0, torch.where(kx <= 1, 1, 2))  # vertical lines, horizontal lines, rest
    edges = torch.tensor(band_edges(h, w), device=device, dtype=torch.float)
    band = torch.bucketize(ring, edges, right=True) - 1
    keep = ((ring >= edges[0]) & (ring < edges[-1])).flatten()
    twice = ((kx > 0) & (kx < w / 2)).float().expand(h, -1) + 1
    rings = (edges[1:] - edges[:-1]).repeat_interleave(3)
    ids = (band * 3 + part).flatten()[keep]
    return keep.nonzero()[:, 0], ids, twice.flatten()[keep], rings / rings.sum()


def band_power(images: torch.Tensor) -> torch.Tensor:
    """Spectrum summary by half-octave bands of frequency rings: each band's power on either axis and off them.

    ``images`` ``[B, 3, H, W]``, windowed as :func:`pooled_power`. Each entry sums many bins of the batch-mean
    spectrum (single bins of a batch of four fluctuate by dB); the triples (vertical lines, horizontal lines,
    the rest) say how much energy lies in straight edges against the rest, band by band: what ``daub
    eval``'s axis-energy share and spectrum gap measure. A flat vector ``[3 * len(band_edges) - 3]``.
    """
    power = _batch_power(images)
    sel, ids, twice, weights = _band_index(*images.shape[-2:], str(power.device))
    return torch.zeros(len(weights), device=power.device).index_add(0, ids, power.flatten()[sel] * twice)


def band_loss(fake: torch.Tensor, real_bands: torch.Tensor) -> torch.Tensor:
    """|log| gap between the fakes' :func:`band_power` and ``real_bands`` (a running mean of the reals'), each
    band weighted by its share of the rings (as ``daub eval`` weighs rings alike), empty entries left out."""
    fake_bands = band_power(fake)
    weights = _band_index(*fake.shape[-2:], str(fake.device))[3] * (real_bands > 0)
    gap = (torch.log(fake_bands + 1e-8) - torch.log(real_bands + 1e-8)).abs()
    return (gap * weights).sum() / weights.sum()


def pooled_power(images: torch.Tensor, pool: int = 2) -> torch.Tensor:
    """Spectrum summary of a batch: pooled 2D power, then the power along the two frequency axes (1D).

    ``images`` ``[B, 3, H, W]``; each grey image is mean-removed and Hann-windowed (as
    :func:`synth.metrics.power_spectra`), so the borders add no energy on the axes; the batch-mean power
    spectrum is averaged over ``pool`` x ``pool`` bins (one-sided in x), and apart from that, summed over
    the bins within one of each axis (horizontal and vertical lines: edges, frames, sills) and averaged
    over ``pool`` frequencies along it. fp32 throughout; one flat vector (see :func:`spectral_loss`).
    """
    power = _batch_power(images)
    h = power.shape[0]
    grid = F.avg_pool2d(power[None, None], pool)[0, 0]
    k = torch.arange(2, h // 2 + 1, device=power.device)
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


def diversity_loss(
    a: torch.Tensor, b: torch.Tensor, cap: float = 0.3, pool: int = 1, seg: torch.Tensor | None = None
) -> torch.Tensor:
    """Two draws of the same maps from different noise: ``relu(cap - mean |a - b|)``, per image, averaged.

    A diversity-sensitive term (Yang et al., DSGAN, ICLR 2019; Mao et al., MSGAN, CVPR 2019): the
    generator loses when seeds barely change its image, and nothing once they differ by ``cap`` (images
    in [-1, 1]), so it is never pushed to differ at any price. With ``pool`` > 1 both draws are first
    averaged over ``pool``×``pool`` blocks, so only differences coarser than that count: seeds must change
    colours and materials, and fine grain (which would otherwise satisfy the term cheaply) earns nothing.

    With ``seg`` (the maps' one-hot class channels ``[B, C, H, W]``, no don't-care) the hinge is taken per class
    region instead of per image (the mean over each class's pixels, every present class of every image
    counting once), so a small region (a rare class) must change with the seed as much as the sky does.
    """
    a, b = a.float(), b.float()
    if pool > 1:
        a, b = F.avg_pool2d(a, pool), F.avg_pool2d(b, pool)
    if seg is None:
        return F.relu(cap - (a - b).abs().mean((1, 2, 3))).mean()
    share = F.adaptive_avg_pool2d(seg.float(), a.shape[-2:])  # each class's share of each cell
    diff = (a - b).abs().mean(1, keepdim=True)
    area = share.sum((2, 3))
    per_class = (diff * share).sum((2, 3)) / area.clamp(min=1e-6)
    present = area >= 4  # at least four cells' worth of the class
    return F.relu(cap - per_class[present]).mean() if present.any() else diff.sum() * 0


def patch_weights(onehot: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """:func:`class_weights` of ``onehot`` averaged over each patch of ``like`` ``[B, 1, h, w]`` (a patch
    discriminator's logits): a patch of a rare class counts as much in all as one of a common class."""
    w = class_weights(onehot, num_classes)[:, None]
    return F.adaptive_avg_pool2d(w, like.shape[-2:])


def patch_d_loss(real: torch.Tensor, fake: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Hinge loss of a patch discriminator's logits on real and fake patches, weighted per patch."""
    return ((F.relu(1 - real.float()) + F.relu(1 + fake.float())) * weights).mean()


def patch_g_loss(fake: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The generator's hinge loss on a patch discriminator's logits of its fakes, weighted per patch."""
    return -(fake.float() * weights).mean()


def _high_pass(gray: torch.Tensor, size: int = 7) -> torch.Tensor:
    """``[B, 1, H, W]`` minus its ``size``×``size`` box mean (the fine grain; :func:`synth.metrics.high_pass`)."""
    return gray - F.avg_pool2d(gray, size, stride=1, padding=size // 2, count_include_pad=False)


def _grain(hp: torch.Tensor, mask: torch.Tensor, lag: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class, :func:`synth.metrics.grain_orientation` of ``hp`` ``[B, 1, H, W]`` over the pixel pairs
    inside ``mask`` ``[B, C, H, W]`` (pooled over the batch): correlation ``lag`` px right minus ``lag`` down.
    Returns ``[C]`` and the number of pairs per class ``[C]``."""
    out, pairs = [], []
    h, w = hp.shape[-2:]
    for dy, dx in ((0, lag), (lag, 0)):
        a, b = hp[..., : h - dy, : w - dx], hp[..., dy:, dx:]
        both = mask[..., : h - dy, : w - dx] * mask[..., dy:, dx:]
        n = both.sum((0, 2, 3))
        ab, aa, bb = ((x * both).sum((0, 2, 3)) for x in (a * b, a * a, b * b))
        out.append(ab / (aa * bb).clamp(min=1e-12).sqrt())
        pairs.append(n)
    return out[0] - out[1], torch.minimum(*pairs)


def grain_loss(
    fake: torch.Tensor, real: torch.Tensor, seg: torch.Tensor, lag: int = 3, margin: int = 6, min_pairs: int = 200
) -> torch.Tensor:
    """Which way each class's fine grain runs in the fakes against the photos of the same maps.

    :func:`synth.metrics.grain_orientation` measured the shipped landscape v2's mountains at 1.09 (horizontal
    ripples, water's texture: the photos' water 0.67) against the photos' mountains' -0.11 (no direction,
    rock). This is that figure made differentiable: per class (``seg``: one-hot ``[B, C, H, W]``, regions shrunk
    by ``margin`` px so edges stay out), pooled over the batch, the absolute gap between fake and real,
    averaged over the classes with at least ``min_pairs`` pixel pairs. Normalised correlations, so it says
    which way the grain runs and nothing about how much there is (the adversarial losses' business).
    """
    mask = -F.max_pool2d(-seg.float(), 2 * margin + 1, stride=1, padding=margin)  # erosion
    grey = [x.float().mean(1, keepdim=True) for x in (fake, real)]
    g_fake, n = _grain(_high_pass(grey[0]), mask, lag)
    with torch.no_grad():
        g_real, _ = _grain(_high_pass(grey[1]), mask, lag)
    ok = n >= min_pairs
    return (g_fake - g_real)[ok].abs().mean() if ok.any() else fake.sum() * 0
