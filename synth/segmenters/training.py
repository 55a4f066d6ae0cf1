"""Training loop for Daub's small segmenters (``daub train --segmenter``)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from palettes import load as load_palette
from synth.nets.segnet import SegNet
from synth.segmenters.small import SEG_SIZES, save_segmenter


def train_segmenter(
    dataset: str,
    palette: str,
    out: str | Path,
    steps: int = 2000,
    batch: int = 8,
    threads: int = 0,
    seed: int = 0,
    device: torch.device | str = "cpu",
    channels: tuple[int, ...] = (16, 32, 64, 96),
    size: tuple[int, int] | None = None,
    minutes: float = 0,
    context: bool = False,
    balance: float = 0.0,
) -> Path:
    """Train a :class:`SegNet` on the train split (cross-entropy, don't-care ignored); returns the weights path.

    The split is held on ``device`` as uint8 and augmented there (as in ``daub train``); bf16 autocast.
    The learning rate follows a one-cycle schedule over ``steps``, or over wall-clock time when
    ``minutes`` is set (then ``steps`` is ignored and the run ends on time, however busy the device).
    ``context`` adds SegNet's global-pooling branch; ``balance`` weights each class's loss by its train
    pixel share to the power ``-balance`` (0: plain cross-entropy; 0.5 lifts rare classes such as
    mountain or door, which count as much as sky in mIoU).
    """
    from tqdm import tqdm

    from synth.data import BASE_SIZES, augment, load_split

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    device = torch.device(device)
    pal = load_palette(palette)
    size = tuple(size) if size else SEG_SIZES[palette]
    photos, labels, _ = load_split(dataset, "train", BASE_SIZES[palette])
    photos, labels = photos.to(device), labels.to(device)
    model = SegNet(pal.num_classes, tuple(channels), context=context).to(device, memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(seed)
    ignore = pal.dontcare if pal.dontcare is not None else -100
    amp = dict(device_type=device.type, dtype=torch.bfloat16)
    weight = class_weights(labels, pal.num_classes, pal.dontcare, balance).to(device) if balance else None

    def one_step(opt):
        idx = torch.randint(0, len(photos), (batch,), generator=gen).to(device)
        x, y = augment(photos[idx], labels[idx], size, gen, max_scale=1.5)
        # photometric jitter so the judge does not key on one camera's colours
        jitter = (1 + 0.2 * (torch.rand(batch, 1, 1, 1, generator=gen) - 0.5)).to(device)
        shift = (0.1 * (torch.rand(batch, 3, 1, 1, generator=gen) - 0.5)).to(device)
        x = (x * jitter + shift).clamp(-1, 1).contiguous(memory_format=torch.channels_last)
        with torch.autocast(**amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, weight=weight, ignore_index=ignore)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    opt = torch.optim.AdamW(model.parameters(), lr=2e-3 / 25, weight_decay=1e-4)
    t0 = time.time()  # after the optimiser: its first creation imports for seconds
    step, bar = 0, tqdm(total=steps if not minutes else None, desc=f"segmenter {palette}", mininterval=10)
    while True:
        # one-cycle schedule over steps, or over the time budget when ``minutes`` is set (never overruns)
        progress = (time.time() - t0) / (minutes * 60) if minutes else step / steps
        if progress >= 1:
            break
        for group in opt.param_groups:
            group["lr"] = one_cycle_lr(progress, 2e-3)
        one_step(opt)
        step += 1
        bar.update(1)
    bar.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"seg-{palette}.safetensors"
    save_segmenter(
        model.float().cpu().eval().to(memory_format=torch.contiguous_format),
        path,
        palette,
        size,
        info={
            "steps": step,
            "batch": batch,
            "minutes": round((time.time() - t0) / 60, 1),
            "device": str(device),
            "balance": balance,
        },
    )
    return path


def class_weights(labels: torch.Tensor, num_classes: int, dontcare: int | None, power: float) -> torch.Tensor:
    """Per-class loss weights ``share ** -power`` from the pixel shares in ``labels`` (mean weight 1 per pixel).

    Classes absent from ``labels`` get weight 0 (nothing to learn from); don't-care is not counted.
    """
    counts = torch.bincount(labels.flatten().long(), minlength=num_classes)[:num_classes].double()
    if dontcare is not None and dontcare < num_classes:
        counts[dontcare] = 0
    share = counts / counts.sum().clamp(min=1)
    w = torch.where(share > 0, share.clamp(min=1e-12) ** -power, torch.zeros_like(share))
    return (w / (w * share).sum().clamp(min=1e-12)).float()


def one_cycle_lr(progress: float, max_lr: float, warmup: float = 0.3) -> float:
    """``torch.optim.lr_scheduler.OneCycleLR``'s cosine shape as a function of progress in [0, 1]."""
    lo, end = max_lr / 25, max_lr / 1e4
    if progress < warmup:
        return lo + (max_lr - lo) * (1 - math.cos(math.pi * progress / warmup)) / 2
    t = (progress - warmup) / (1 - warmup)
    return end + (max_lr - end) * (1 + math.cos(math.pi * min(t, 1.0))) / 2


__all__ = ["class_weights", "one_cycle_lr", "train_segmenter"]
