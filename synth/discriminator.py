"""OASIS-style segmentation discriminator (Sushko et al., ICLR 2021; boschresearch/OASIS), sized small.

The discriminator sees the *image only* and segments it into ``N + 1`` classes per pixel: the ``N``
semantic classes for real photos, class 0 ("fake") for generated ones. A U-Net: residual blocks with
spectral norm down to 1/32, then up again with skip connections, logits at full resolution. Its
per-pixel, per-class verdict is what lets the generator learn without a perceptual (VGG) loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def _sn_conv(cin: int, cout: int, k: int = 3) -> nn.Module:
    return spectral_norm(nn.Conv2d(cin, cout, k, padding=k // 2))


class DownBlock(nn.Module):
    """Residual block, LeakyReLU + two 3x3 convs, average-pooled to half size (OASIS ``residual_block_D``)."""

    def __init__(self, cin: int, cout: int, first: bool = False, down: bool = True):
        super().__init__()
        self.first, self.down = first, down
        self.conv1, self.conv2 = _sn_conv(cin, cout), _sn_conv(cout, cout)
        self.skip = _sn_conv(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(x if self.first else F.leaky_relu(x, 0.2))
        h = self.conv2(F.leaky_relu(h, 0.2))
        s = x if self.skip is None else self.skip(x)
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class UpBlock(nn.Module):
    """Upsample x2, concatenate the encoder's skip, residual block at that size."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.block = DownBlock(cin + cskip, cout, down=False)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([x, skip], 1))


class SegDiscriminator(nn.Module):
    """Image ``[B, 3, H, W]`` -> per-pixel logits ``[B, N + 1, H, W]`` (channel 0 = fake).

    ``H`` and ``W`` must be multiples of ``2 ** len(channels)``.
    """

    def __init__(self, num_classes: int, channels: tuple[int, ...] = (64, 128, 128, 256, 256)):
        super().__init__()
        self.down = nn.ModuleList(
            DownBlock(c_in, c, first=(i == 0)) for i, (c_in, c) in enumerate(zip((3,) + channels[:-1], channels))
        )
        rev = channels[::-1]
        # decoder: from 1/32 back to 1/2, each step concatenating the encoder output of that size
        self.up = nn.ModuleList(UpBlock(rev[i], rev[i + 1], rev[i + 1]) for i in range(len(rev) - 1))
        self.out = nn.Conv2d(channels[0] + 3, num_classes + 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, h = [], x
        for block in self.down:
            h = block(h)
            skips.append(h)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            h = block(h, skip)
        h = F.interpolate(F.leaky_relu(h, 0.2), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.out(torch.cat([h, x], 1))


def class_verdicts(real_logits: torch.Tensor, fake_logits: torch.Tensor, classes: torch.Tensor, num_classes: int):
    """Per class, what the discriminator believes: ``[num_classes, 3]`` sums over the pixels of that class of
    p(own class) on the real photo, p(fake) on the real photo and p(fake) on the generated image, and
    ``[num_classes]`` pixel counts (divide for means; sum batches first).

    ``real_logits`` / ``fake_logits`` ``[B, N + 1, H, W]`` for the photos and for images generated from their
    maps; ``classes`` ``[B, H, W]`` the class ids (ids >= ``num_classes``, don't-care, are left out). The
    gap p(fake | generated) − p(fake | real) says how well it tells a class's fakes: where it is near zero,
    the generator gets no push towards that class's real look (``scripts/d_probe.py``).
    """
    pr, pf = real_logits.float().softmax(1), fake_logits.float().softmax(1)
    own = pr[:, 1:].gather(1, classes.clamp(max=num_classes - 1)[:, None])[:, 0]
    sums = torch.zeros(num_classes, 3)
    counts = torch.zeros(num_classes)
    for k in range(num_classes):
        m = classes == k
        counts[k] = m.sum()
        sums[k] = torch.stack([own[m].sum(), pr[:, 0][m].sum(), pf[:, 0][m].sum()]).cpu()
    return sums, counts


def real_confusion(real_logits: torch.Tensor, classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    """What the discriminator takes each class's real pixels for: ``[num_classes, N + 1]`` sums of its
    probabilities (channel 0 fake, ``k + 1`` class ``k``) over the pixels of each class (don't-care left out;
    sum batches, then divide each row by its sum). Its rows on the training photos against the val photos
    show memorising: a class it segments only where it has seen the very photo (``scripts/d_probe.py``)."""
    p = real_logits.float().softmax(1).permute(0, 2, 3, 1)  # [B, H, W, N + 1]
    out = torch.zeros(num_classes, p.shape[-1])
    for k in range(num_classes):
        out[k] = p[classes == k].sum(0).cpu()
    return out


class PatchDiscriminator(nn.Module):
    """Label-conditioned patch discriminator: image ``[B, 3, H, W]`` + its one-hot map ``[B, label_nc, H, W]``
    -> real/fake logits ``[B, 1, H / 2**n, W / 2**n]``, one per patch (pix2pix / SPADE ``NLayerDiscriminator``,
    spectral norm, ``n`` = ``len(channels)``; receptive field 70 px with three levels).

    Not OASIS: a second opinion beside :class:`SegDiscriminator` (``daub train --patch-d``). Told the classes,
    it judges "is this real <class>?" without first having to segment a rare class; used alone it stops
    checking that the image shows the classes at all, which the segmenting discriminator keeps doing.
    """

    def __init__(self, label_nc: int, channels: tuple[int, ...] = (64, 128, 256)):
        super().__init__()
        self.label_nc = label_nc
        layers: list[nn.Module] = []
        c_in = 3 + label_nc
        for c in channels:
            layers += [spectral_norm(nn.Conv2d(c_in, c, 4, stride=2, padding=1)), nn.LeakyReLU(0.2)]
            c_in = c
        layers += [
            spectral_norm(nn.Conv2d(c_in, c_in, 3, padding=1)),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c_in, 1, 3, padding=1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        if seg.shape[1] != self.label_nc or seg.shape[-2:] != x.shape[-2:] or seg.shape[0] != x.shape[0]:
            raise ValueError(
                f"seg: the patch discriminator needs a [B, {self.label_nc}, H, W] map like x, got {tuple(seg.shape)}"
            )
        return self.net(torch.cat([x, seg.to(x.dtype)], 1))
