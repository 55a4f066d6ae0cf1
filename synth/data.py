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


def _resize_photos(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Float photos ``[B, 3, H, W]`` to ``hw = (h, w)``: the one antialiased resize that training crops and
    :func:`to_model_size` (what ``daub eval`` compares against) share."""
    return F.interpolate(x, size=hw, mode="bilinear", antialias=True, align_corners=False)


def _resize_ids(lab: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Float id maps ``[B, 1, H, W]`` to ``hw``, nearest by pixel centres (as :func:`resize_labels`): no blending."""
    return F.interpolate(lab, size=hw, mode="nearest-exact")


def augment(
    photos: torch.Tensor, labels: torch.Tensor, size: tuple[int, int], gen: torch.Generator, max_scale: float = 1.25
):
    """Random flip + random zoom-in crop of a batch, resized to ``size = (w, h)``, on the batch's device.

    The zoom is at most ``max_scale`` and never magnifies the source (``H / h``, ``W / w`` cap it), so the
    photos keep the sharpness of the ones the models are judged against; and each crop (whole pixels) is
    brought to ``size`` by the antialiased resize :func:`to_model_size` (and so ``daub eval``) uses, so
    they carry no aliasing either: crops sampled straight at ``size`` by ``grid_sample`` put +1.2 dB of
    power into the top frequency band (landscape, 320x240 -> 256x192), which a generator learns to paint.

    ``photos`` uint8 ``[B, 3, H, W]`` and ``labels`` uint8 ``[B, H, W]`` may live on the GPU: one
    antialiased resize of the batch to the working size, then one per image; ``gen`` (a CPU
    generator) draws the crop parameters, so a seed gives the same crops on every device.
    Returns photos as float in [-1, 1] ``[B, 3, h, w]`` and labels ``long [B, h, w]`` (ids never blend).
    """
    w, h = size
    B, _, H, W = photos.shape
    # Never magnify past the source's own pixels: a blown-up crop is blurred, and a discriminator that
    # learns from blurred photos teaches the generator to blur (facades at 256x256 from 256x256: flips only).
    max_scale = max(1.0, min(max_scale, H / h, W / w))
    # Resize once to the size a max_scale crop needs (antialiased), so the crop resamples by <= max_scale.
    work = (max(h, round(h * max_scale)), max(w, round(w * max_scale)))
    x = photos.float()
    if (H, W) != work:
        x = _resize_photos(x, work)
    lab = labels[:, None].float()
    if (H, W) != work:
        lab = _resize_ids(lab, work)
    s = 1.0 + torch.rand(B, generator=gen) * (max_scale - 1.0)  # zoom factor per image
    half = 1.0 / s  # half-width of the crop window in [-1, 1] coordinates
    tx = (torch.rand(B, generator=gen) * 2 - 1) * (1 - half)
    ty = (torch.rand(B, generator=gen) * 2 - 1) * (1 - half)
    flip = torch.rand(B, generator=gen) < 0.5
    out_p, out_l = [], []
    for i in range(B):  # a whole-pixel window, centred at (tx, ty), resized as to_model_size does
        ch, cw = (min(n, max(m, round(n * half[i].item()))) for n, m in ((work[0], h), (work[1], w)))
        y0 = min(max(round((ty[i].item() + 1) / 2 * work[0] - ch / 2), 0), work[0] - ch)
        x0 = min(max(round((tx[i].item() + 1) / 2 * work[1] - cw / 2), 0), work[1] - cw)
        p, q = x[i : i + 1, :, y0 : y0 + ch, x0 : x0 + cw], lab[i : i + 1, :, y0 : y0 + ch, x0 : x0 + cw]
        if (ch, cw) != (h, w):
            p, q = _resize_photos(p, (h, w)), _resize_ids(q, (h, w))
        out_p.append(p.flip(-1) if flip[i] else p)
        out_l.append(q.flip(-1) if flip[i] else q)
    out_p, out_l = torch.cat(out_p), torch.cat(out_l)
    return (out_p / 127.5 - 1.0).clamp(-1, 1), out_l[:, 0].round().long()


def repeat_factors(labels: torch.Tensor, num_classes: int, threshold: float, min_share: float = 0.02) -> torch.Tensor:
    """Per-image sampling weights ``[N]`` that show rare classes more often (LVIS repeat-factor sampling,
    Gupta et al. 2019, on pixel shares): ``max(1, sqrt(threshold / f_c))`` over the classes ``c`` that
    cover at least ``min_share`` of the image, ``f_c`` the class's share of all labelled training pixels.

    ``labels`` are ``uint8 [N, H, W]`` ids; ids ``>= num_classes`` (don't care) count for nothing.
    """
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    flat = labels.reshape(len(labels), -1).long()
    counts = torch.zeros(len(labels), num_classes + 1, dtype=torch.float64)
    counts.scatter_add_(1, flat.clamp(max=num_classes), torch.ones_like(flat, dtype=torch.float64))
    counts = counts[:, :num_classes]
    share = counts / flat.shape[1]
    freq = counts.sum(0) / counts.sum().clamp(min=1)
    factor = torch.sqrt(threshold / freq.clamp(min=1e-12)).clamp(min=1.0)
    return torch.where(share >= min_share, factor, torch.ones(())).amax(1).float()


def to_model_size(photos: torch.Tensor, labels: torch.Tensor, size: tuple[int, int]):
    """Deterministic resize (no augmentation) to ``size``; photos to [-1, 1], labels long."""
    w, h = size
    p = _resize_photos(photos.float(), (h, w))
    lab = torch.from_numpy(np.stack([resize_labels(x, (w, h)) for x in labels.numpy()]).astype(np.int64))
    return p / 127.5 - 1.0, lab


def pack(root: str | Path, dest: str | Path, base_size: tuple[int, int], quality: int = 92) -> int:
    """Copy a dataset to ``dest`` in the same layout, photos resized to ``base_size`` (JPEG ``quality``).

    Training reads photos at ``base_size`` anyway, so the copy trains the same at a fraction of the bytes
    (what a GPU job carries). Labels are resized nearest (ids never blend). Returns the bytes written.
    """
    root, dest = Path(root), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "classes.json").write_bytes((root / "classes.json").read_bytes())
    w, h = base_size
    total = 0
    for split in ("train", "val"):
        for img, lab in find_pairs(root, split):
            out_img = dest / split / img.parent.name / img.name
            out_lab = dest / split / lab.parent.name / lab.name
            out_img.parent.mkdir(parents=True, exist_ok=True)
            out_lab.parent.mkdir(parents=True, exist_ok=True)
            Image.open(img).convert("RGB").resize((w, h), Image.BICUBIC).save(out_img, quality=quality)
            Image.fromarray(resize_labels(np.asarray(Image.open(lab)), (w, h))).save(out_lab, optimize=True)
            total += out_img.stat().st_size + out_lab.stat().st_size
    return total
