"""A texture loss without a pretrained network: each generated region must match *some* real one.

Ustyuzhaninov et al. ("What does it take to generate natural textures?", ICLR 2017) show that the
second-order statistics of a small convolutional network with *random* filters describe natural textures
well enough to synthesise them. :class:`RandomTextureFeatures` is such a network (seeded, never
trained); :func:`region_covariances` takes, per class region, the covariance of its features at each
level (the texture, not the colour).

:class:`TextureBank` holds those statistics for every region of the training photos, per class.
:func:`texture_loss` (``daub train --texture``) pulls each generated region towards its *nearest* real
region of the same class. Not towards the paired photo: a generator that cannot know which rock or
forest the photo shows would learn the average of its targets, and the average texture is bland. Measured
on the landscape val split (covariances, L1 to the nearest training region), shipped v2's mountains sit
1.94 from the nearest real mountain, real val mountains 1.61; its skies and buildings are as close as
the real ones are.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


class RandomTextureFeatures(nn.Module):
    """Fixed random filters: ``[B, 3, H, W]`` in [-1, 1] -> one feature map per level (3×3 conv, ReLU; a
    2× average pool before each level but the first), ``channels`` wide. Same ``seed``, same filters."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128, 128), seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList()
        c_in = 3
        for c in channels:
            conv = nn.Conv2d(c_in, c, 3, padding=1, padding_mode="reflect")
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (9 * c_in)) ** 0.5)
                conv.bias.zero_()
            self.convs.append(conv)
            c_in = c
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i, conv in enumerate(self.convs):
            if i:
                x = F.avg_pool2d(x, 2)
            x = F.relu(conv(x))
            feats.append(x)
        return feats


def region_covariances(
    feats: list[torch.Tensor], ids: torch.Tensor, num_classes: int, min_cells: int = 16
) -> Iterator[tuple[int, int, list[torch.Tensor]]]:
    """``(image, class, [flattened feature covariance per level])`` for each class region of ``ids``
    ``[B, H, W]`` covering at least ``min_cells`` cells of the coarsest level of ``feats`` (ids from
    ``num_classes`` on, don't-care, are never a region)."""
    ids = ids[:, None].float()
    levels = [F.interpolate(ids, size=f.shape[-2:], mode="nearest")[:, 0] for f in feats]
    for b in range(len(ids)):
        for k in range(num_classes):
            if int((levels[-1][b] == k).sum()) < min_cells:
                continue
            covs = []
            for f, lid in zip(feats, levels):
                x = f[b].float()[:, lid[b] == k]  # [C, n]
                x = x - x.mean(1, keepdim=True)
                covs.append((x @ x.T / x.shape[1]).flatten())
            yield b, k, covs


class TextureBank:
    """Per class, the feature covariances (:func:`region_covariances`) of every region of a set of photos,
    and per level their mean magnitude (the scale distances are measured in)."""

    def __init__(self, net: RandomTextureFeatures, covs: dict[int, list[torch.Tensor]]):
        self.net = net
        self.covs = covs  # class -> per level [regions, C*C]
        levels = range(len(net.convs))
        self.scale = [
            torch.cat([c[j] for c in covs.values()]).abs().mean().clamp(min=1e-8) if covs else torch.ones(())
            for j in levels
        ]
        self.norms = {k: [(c * c).sum(1) for c in v] for k, v in covs.items()}  # for the nearest-region search

    @classmethod
    @torch.no_grad()
    def build(
        cls,
        net: RandomTextureFeatures,
        photos: torch.Tensor,
        ids: torch.Tensor,
        num_classes: int,
        batch: int = 16,
        min_cells: int = 16,
    ) -> TextureBank:
        """From ``photos`` ``[N, 3, H, W]`` in [-1, 1] and their ``ids`` ``[N, H, W]``."""
        found: dict[int, list[list[torch.Tensor]]] = {}
        for i in range(0, len(photos), batch):
            feats = net(photos[i : i + batch].float())
            for _, k, covs in region_covariances(feats, ids[i : i + batch], num_classes, min_cells):
                found.setdefault(k, []).append(covs)
        stacked = {k: [torch.stack([r[j] for r in rs]) for j in range(len(net.convs))] for k, rs in found.items()}
        return cls(net, stacked)

    def to(self, device: torch.device | str) -> TextureBank:
        self.net.to(device)
        self.covs = {k: [c.to(device) for c in v] for k, v in self.covs.items()}
        self.scale = [s.to(device) for s in self.scale]
        self.norms = {k: [n.to(device) for n in v] for k, v in self.norms.items()}
        return self

    def distances(self, k: int, covs: list[torch.Tensor]) -> torch.Tensor:
        """Mean L1 distance ``[regions]`` of one region's covariances to each bank region of class ``k``,
        each level in units of its scale, summed over the levels."""
        return sum((bank - c[None]).abs().mean(1) / s for bank, c, s in zip(self.covs[k], covs, self.scale))  # type: ignore[return-value]

    def nearest_distance(self, k: int, covs: list[torch.Tensor]) -> torch.Tensor:
        """:meth:`distances` to the nearest bank region of class ``k``. The nearest is found by squared L2 in
        the same units (one matrix product; L1 itself costs ~10× more on a CPU) and without gradients, so
        only the distance to that one region is differentiated."""
        with torch.no_grad():
            d2 = sum(
                (norm - 2 * bank @ c.detach().float() + (c.detach().float() ** 2).sum()) / (s * s)
                for bank, norm, c, s in zip(self.covs[k], self.norms[k], covs, self.scale)
            )
            i = int(d2.argmin())  # type: ignore[union-attr]
        return sum((bank[i] - c).abs().mean() / s for bank, c, s in zip(self.covs[k], covs, self.scale))  # type: ignore[return-value]


def texture_loss(
    fake: torch.Tensor, onehot: torch.Tensor, num_classes: int, bank: TextureBank, min_cells: int = 16
) -> torch.Tensor:
    """Mean over the class regions of ``fake`` ``[B, 3, H, W]`` (of map ``onehot`` ``[B, L, H, W]``) of the
    distance to the nearest bank region of the same class (:meth:`TextureBank.nearest_distance`). Classes
    the bank has no region of, and regions under ``min_cells`` coarsest-level cells, do not count; 0 when
    none does."""
    if onehot.shape[0] != fake.shape[0] or onehot.shape[-2:] != fake.shape[-2:]:
        raise ValueError(
            f"texture_loss: onehot {tuple(onehot.shape)} must be the map of fake {tuple(fake.shape)} "
            "(same batch and size)"
        )
    feats = bank.net(fake)
    terms = [
        bank.nearest_distance(k, covs)
        for _, k, covs in region_covariances(feats, onehot.argmax(1), num_classes, min_cells)
        if k in bank.covs
    ]
    return torch.stack(terms).mean() if terms else fake.new_zeros((), dtype=torch.float32)


def paired_distances(
    fake: torch.Tensor,
    real: torch.Tensor,
    onehot: torch.Tensor,
    num_classes: int,
    bank: TextureBank,
    min_cells: int = 16,
    colour: float = 0.0,
) -> torch.Tensor:
    """Per image ``[B]``: the mean over its class regions of the distance between ``fake``'s covariances and
    those of ``real``, the photo of the same map (in the bank's units, as :meth:`TextureBank.distances`); 0
    for an image without a region of ``min_cells``. With ``colour`` > 0 each region's distance adds that
    weight times the mean |difference| of the two regions' mean colours (RGB in [-1, 1]): the covariances
    are centred and see the colour only through the filters' ReLUs, so without it the photo's colour (a brown,
    a snowy or a blue-grey mountain) is hardly asked for.

    The distance of conditional IMLE (Li et al., "Diverse Image Synthesis from Semantic Layouts via
    Conditional IMLE", ICCV 2019; ``daub train --imle K``): of K draws for a map, the one nearest to its photo
    is pulled towards it, so each photo's texture must be reachable by *some* seed and no average is learnt.
    """
    if fake.shape != real.shape or onehot.shape[0] != fake.shape[0] or onehot.shape[-2:] != fake.shape[-2:]:
        raise ValueError(
            f"paired_distances: fake {tuple(fake.shape)}, real {tuple(real.shape)} and onehot "
            f"{tuple(onehot.shape)} must show the same maps at the same size"
        )
    ids = onehot.argmax(1)
    feats_fake = bank.net(fake)
    with torch.no_grad():
        feats_real = bank.net(real.to(fake.dtype))
    per_image: list[list[torch.Tensor]] = [[] for _ in range(len(fake))]
    pairs = zip(
        region_covariances(feats_fake, ids, num_classes, min_cells),
        region_covariances(feats_real, ids, num_classes, min_cells),
    )
    for (b, k, covs_fake), (_, _, covs_real) in pairs:  # the same regions: one map
        d = sum((f - r).abs().mean() / s for f, r, s in zip(covs_fake, covs_real, bank.scale))
        if colour:
            m = ids[b] == k
            d = d + colour * (fake[b][:, m].float().mean(1) - real[b][:, m].float().mean(1)).abs().mean()
        per_image[b].append(d)
    zero = fake.new_zeros((), dtype=torch.float32)
    return torch.stack([torch.stack(d).mean() if d else zero for d in per_image])
