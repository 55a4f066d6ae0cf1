"""SegNet: the small U-Net behind Daub's landscape and facades segmenters (~0.2 M parameters by default)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SegNet(nn.Module):
    """Small U-Net: photo ``[B, 3, H, W]`` in [-1, 1] -> logits ``[B, C, H, W]``.

    ``ch`` gives the widths per level (H, W multiples of ``2 ** (len(ch) - 1)``). ``context`` adds the
    image's mean deepest features back at every bottleneck position (a global-pooling branch, as in
    PSPNet), so the bottom of the net sees the whole scene: is that blue region sky or water?
    """

    def __init__(self, num_classes: int, ch: tuple[int, ...] = (16, 32, 64, 96), context: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.ch = ch
        self.down = nn.ModuleList(_block(c_in, c) for c_in, c in zip((3,) + ch[:-1], ch))
        self.context = (
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(ch[-1], ch[-1], 1), nn.ReLU(inplace=True))
            if context
            else None
        )
        self.up = nn.ModuleList(_block(ch[i] + ch[i - 1], ch[i - 1]) for i in range(len(ch) - 1, 0, -1))
        self.out = nn.Conv2d(ch[0], num_classes, 1)

    def _down(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        if self.context is not None:
            skips[-1] = skips[-1] + self.context(skips[-1])
        return skips

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest encoder features ``[B, ch[-1], h, w]`` (what ``daub eval``'s KID compares)."""
        return self._down(x)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self._down(x)
        x = skips[-1]
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(
                torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)
            )
        return self.out(x)


__all__ = ["SegNet"]
