"""Photo -> label map: Daub's small segmenters (landscape, facades) and UperNet for ADE20K.

``synth.segmenter("landscape")`` returns a callable ``seg(photo) -> [H, W] ids``. The two small
segmenters (:class:`SegNet`, a 4-level U-Net, ~0.2 M parameters) are trained on the datasets' *train*
photos (``daub train --segmenter``) and shipped in ``synth/weights/seg-<name>.safetensors``. They serve
as the offline "start from a photo" feature and as the judge in ``daub eval``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from palettes import load as load_palette
from synth.tagged import read_tagged, write_tagged

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: Input size (w, h) each segmenter works at.
SEG_SIZES = {"landscape": (160, 120), "facades": (128, 128)}


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


class Segmenter:
    """Callable photo -> ids for one palette."""

    def __init__(self, palette: str, model: SegNet, size: tuple[int, int]):
        self.palette = load_palette(palette)
        self.model = model.eval()
        self.size = size

    @torch.inference_mode()
    def logits(self, photos: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` floats in [-1, 1] (any size) -> logits at the segmenter's size."""
        w, h = self.size
        x = F.interpolate(photos.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        return self.model(x)

    @torch.inference_mode()
    def embed(self, photos: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in [-1, 1] -> ``[B, ch[-1]]``: deepest features, averaged over the image."""
        w, h = self.size
        x = F.interpolate(photos.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        return self.model.encode(x).mean((2, 3))

    def predict(self, photos: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Batch prediction: ``[B, H, W]`` long ids at ``size = (w, h)`` (default: the input size)."""
        w, h = size or (photos.shape[-1], photos.shape[-2])
        lg = F.interpolate(self.logits(photos), size=(h, w), mode="bilinear", align_corners=False)
        return lg.argmax(1)

    def __call__(self, image) -> np.ndarray:
        """A photo (PIL or ``[H, W, 3]`` uint8) -> ``[H, W]`` ids of :attr:`palette`, at the photo's size."""
        if not isinstance(image, Image.Image):
            arr = np.asarray(image)
            if arr.ndim != 3 or arr.shape[2] not in (3, 4):
                raise ValueError(f"expected an RGB photo, got an array of shape {arr.shape}")
            image = Image.fromarray(arr[..., :3].astype(np.uint8))
        img = image.convert("RGB")
        x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 127.5 - 1
        return self.predict(x)[0].numpy().astype(self.palette.dtype)


def save_segmenter(model: SegNet, path: str | Path, palette: str, size: tuple[int, int], info: dict | None = None):
    meta = {
        "palette": palette,
        "size": json.dumps(size),
        "ch": json.dumps(model.ch),
        "num_classes": str(model.num_classes),
        "info": json.dumps(info or {}),
    }
    write_tagged(path, model.state_dict(), "daub-segmenter-v1", meta)


def load_segmenter(name: str, weights: str | Path | None = None, **kwargs):
    """``synth.segmenter(name)``: ``landscape``/``facades`` (shipped weights) or ``ade20k`` (UperNet)."""
    if name == "ade20k":
        from synth.generators.upernet import UperNetSegmenter

        return UperNetSegmenter(**kwargs)
    if name not in SEG_SIZES:
        raise ValueError(f"no segmenter for {name!r}; choose landscape, facades or ade20k")
    path = Path(weights) if weights else WEIGHTS_DIR / f"seg-{name}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"segmenter {name!r} has no weights at {path}; train with `daub train --segmenter`")
    meta, sd = read_tagged(path, "daub-segmenter-v1", "a Daub segmenter")
    model = SegNet(int(meta["num_classes"]), tuple(json.loads(meta["ch"])))
    model.load_state_dict(sd)
    return Segmenter(meta["palette"], model, tuple(json.loads(meta["size"])))


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
) -> Path:
    """Train a :class:`SegNet` on the train split (cross-entropy, don't-care ignored); returns the weights path.

    The split is held on ``device`` as uint8 and augmented there (as in ``daub train``); bf16 autocast.
    The learning rate follows a one-cycle schedule over ``steps``, or over wall-clock time when
    ``minutes`` is set (then ``steps`` is ignored and the run ends on time, however busy the device).
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
    model = SegNet(pal.num_classes, tuple(channels)).to(device, memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(seed)
    ignore = pal.dontcare if pal.dontcare is not None else -100
    amp = dict(device_type=device.type, dtype=torch.bfloat16)

    def one_step(opt):
        idx = torch.randint(0, len(photos), (batch,), generator=gen).to(device)
        x, y = augment(photos[idx], labels[idx], size, gen, max_scale=1.5)
        # photometric jitter so the judge does not key on one camera's colours
        jitter = (1 + 0.2 * (torch.rand(batch, 1, 1, 1, generator=gen) - 0.5)).to(device)
        shift = (0.1 * (torch.rand(batch, 3, 1, 1, generator=gen) - 0.5)).to(device)
        x = (x * jitter + shift).clamp(-1, 1).contiguous(memory_format=torch.channels_last)
        with torch.autocast(**amp):
            logits = model(x)
        loss = F.cross_entropy(logits.float(), y, ignore_index=ignore)
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
        info={"steps": step, "batch": batch, "minutes": round((time.time() - t0) / 60, 1), "device": str(device)},
    )
    return path


def one_cycle_lr(progress: float, max_lr: float, warmup: float = 0.3) -> float:
    """``torch.optim.lr_scheduler.OneCycleLR``'s cosine shape as a function of progress in [0, 1]."""
    lo, end = max_lr / 25, max_lr / 1e4
    if progress < warmup:
        return lo + (max_lr - lo) * (1 - math.cos(math.pi * progress / warmup)) / 2
    t = (progress - warmup) / (1 - warmup)
    return end + (max_lr - end) * (1 + math.cos(math.pi * min(t, 1.0))) / 2
