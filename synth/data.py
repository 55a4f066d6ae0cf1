"""Paired (photo, label map) datasets in ``../shared/datasets`` layout, held in memory.

Two layouts are understood (both ship a ``classes.json``):

* CMP Facades: ``<split>/photo/N.jpg`` + ``<split>/label_index/N.png`` (ids 0..11);
* Stanford Background: ``<split>/images/NAME.jpg`` + ``<split>/labels/NAME.png`` (ids 0..7, 15 = unknown).

Images are resized once to ``base_size`` (photos bicubic, labels nearest); augmentation (flip, scale,
crop) happens per batch in :func:`augment`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from synth.labels import resize_labels

#: Base sizes (width, height) the datasets are held at in memory.
BASE_SIZES = {"landscape": (320, 240), "facades": (256, 256)}


def find_pairs(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """``(photo, label)`` file pairs of ``split`` under ``root``, sorted by name."""
    root = Path(root)
    if not (root / "classes.json").is_file():
        raise FileNotFoundError(f"{root} is not a dataset folder (no classes.json)")
    for photos, labels in (("photo", "label_index"), ("images", "labels")):
        pdir, ldir = root / split / photos, root / split / labels
        if pdir.is_dir() and ldir.is_dir():
            pairs = []
            for lab in sorted(ldir.glob("*.png")):
                img = pdir / (lab.stem + ".jpg")
                if img.is_file():
                    pairs.append((img, lab))
            if not pairs:
                raise FileNotFoundError(f"no photo/label pairs in {root / split}")
            return pairs
    raise FileNotFoundError(f"{root / split} has neither photo/+label_index/ nor images/+labels/")


def load_split(root: str | Path, split: str, base_size: tuple[int, int], limit: int | None = None):
    """Load a split: photos ``uint8 [N, 3, H, W]``, labels ``uint8 [N, H, W]``, names."""
    pairs = find_pairs(root, split)[:limit]
    w, h = base_size
    photos = np.empty((len(pairs), h, w, 3), np.uint8)
    labels = np.empty((len(pairs), h, w), np.uint8)
    for k, (img, lab) in enumerate(pairs):
        photos[k] = np.asarray(Image.open(img).convert("RGB").resize((w, h), Image.BICUBIC))
        labels[k] = resize_labels(np.asarray(Image.open(lab)), (w, h))
    names = [p[1].stem for p in pairs]
    return torch.from_numpy(photos).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels), names


def augment(
    photos: torch.Tensor, labels: torch.Tensor, size: tuple[int, int], gen: torch.Generator, max_scale: float = 1.25
):
    """Random flip + random zoom-in crop, resized to ``size = (w, h)``.

    Returns photos as float in [-1, 1] ``[B, 3, h, w]`` and labels ``long [B, h, w]``.
    """
    w, h = size
    B, _, H, W = photos.shape
    out_p = torch.empty(B, 3, h, w)
    out_l = torch.empty(B, h, w, dtype=torch.long)
    for b in range(B):
        s = 1.0 + float(torch.rand((), generator=gen)) * (max_scale - 1.0)
        ch, cw = int(H / s), int(W / s)
        y = int(torch.randint(0, H - ch + 1, (), generator=gen))
        x = int(torch.randint(0, W - cw + 1, (), generator=gen))
        p = photos[b : b + 1, :, y : y + ch, x : x + cw].float()
        lab = labels[b, y : y + ch, x : x + cw]
        if bool(torch.rand((), generator=gen) < 0.5):
            p, lab = p.flip(-1), lab.flip(-1)
        out_p[b] = F.interpolate(p, size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0]
        out_l[b] = torch.from_numpy(resize_labels(lab.numpy(), (w, h)).astype(np.int64))
    return out_p / 127.5 - 1.0, out_l


def to_model_size(photos: torch.Tensor, labels: torch.Tensor, size: tuple[int, int]):
    """Deterministic resize (no augmentation) to ``size``; photos to [-1, 1], labels long."""
    w, h = size
    p = F.interpolate(photos.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    lab = torch.from_numpy(np.stack([resize_labels(x, (w, h)) for x in labels.numpy()]).astype(np.int64))
    return p / 127.5 - 1.0, lab
