"""SegNet: the small U-Net behind Daub's landscape and facades segmenters (~0.2 M parameters)."""

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
    """Small U-Net: photo ``[B, 3, H, W]`` in [-1, 1] -> logits ``[B, C, H, W]`` (H, W multiples of 8)."""

    def __init__(self, num_classes: int, ch: tuple[int, ...] = (16, 32, 64, 96)):
        super().__init__()
        self.num_classes = num_classes
        self.ch = ch
        self.down = nn.ModuleList(_block(c_in, c) for c_in, c in zip((3,) + ch[:-1], ch))
        self.up = nn.ModuleList(_block(ch[i] + ch[i - 1], ch[i - 1]) for i in range(len(ch) - 1, 0, -1))
        self.out = nn.Conv2d(ch[0], num_classes, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest encoder features ``[B, ch[-1], H/8, W/8]`` (what ``daub eval``'s KID compares)."""
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(
                torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)
            )
        return self.out(x)


__all__ = ["SegNet"]
