"""Daub's small segmenters (landscape, facades): inference and weight files.

A :class:`Segmenter` wraps a :class:`~synth.nets.segnet.SegNet` trained on a dataset's *train* photos
(``daub train --segmenter``, :mod:`synth.segmenters.training`) and shipped as
``synth/weights/seg-<name>.safetensors``. They serve as the offline "start from a photo" feature and as
the judge in ``daub eval``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from palettes import load as load_palette
from synth.nets.segnet import SegNet
from synth.tagged import read_tagged, write_tagged

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
#: Input size (w, h) each segmenter works at.
SEG_SIZES = {"landscape": (160, 120), "facades": (128, 128)}
_FORMAT = "daub-segmenter-v1"


class Segmenter:
    """Callable photo -> ids for one palette.

    ``fast`` (default): bfloat16 autocast + channels_last, as the generators run on the CPU (about 4x
    faster convolutions); ``fast=False`` runs fp32.
    """

    def __init__(self, palette: str, model: SegNet, size: tuple[int, int], fast: bool = True):
        self.palette = load_palette(palette)
        self.model = model.eval()
        self.size = size
        self.fast = fast
        if fast:
            self.model.to(memory_format=torch.channels_last)

    def _input(self, photos: torch.Tensor) -> torch.Tensor:
        w, h = self.size
        x = F.interpolate(photos.float(), size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        return x.contiguous(memory_format=torch.channels_last) if self.fast else x

    def _run(self, fn, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, torch.bfloat16, enabled=self.fast):
            return fn(x).float().contiguous()

    @torch.inference_mode()
    def logits(self, photos: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` floats in [-1, 1] (any size) -> logits at the segmenter's size."""
        return self._run(self.model, self._input(photos))

    @torch.inference_mode()
    def embed(self, photos: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in [-1, 1] -> ``[B, ch[-1]]``: deepest features, averaged over the image."""
        return self._run(self.model.encode, self._input(photos)).mean((2, 3))

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


def save_segmenter(
    model: SegNet, path: str | Path, palette: str, size: tuple[int, int], info: dict | None = None
) -> None:
    """Write ``model`` with its palette, input size, channels and ``info`` as a tagged safetensors file."""
    meta = {
        "palette": palette,
        "size": json.dumps(size),
        "ch": json.dumps(model.ch),
        "context": json.dumps(model.context is not None),
        "num_classes": str(model.num_classes),
        "info": json.dumps(info or {}),
    }
    write_tagged(path, model.state_dict(), _FORMAT, meta)


def load_small(name: str, weights: str | Path | None = None, fast: bool = True) -> Segmenter:
    """The ``name`` segmenter from ``weights`` (default: the shipped ``synth/weights/seg-<name>.safetensors``).

    ``fast``: bfloat16 autocast + channels_last (see :class:`Segmenter`).
    """
    if name not in SEG_SIZES:
        raise ValueError(f"no small segmenter for {name!r}; choose {' or '.join(SEG_SIZES)}")
    path = Path(weights) if weights else WEIGHTS_DIR / f"seg-{name}.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"segmenter {name!r} has no weights at {path}; train with `daub train --segmenter`")
    return read_segmenter(path, fast)


def read_segmenter(path: str | Path, fast: bool = True) -> Segmenter:
    """The segmenter in ``path``, for the palette its file names (a one-line ``ValueError`` for any other file)."""
    meta, sd = read_tagged(path, _FORMAT, "a Daub segmenter")
    context = json.loads(meta.get("context", "false"))  # files before the context branch have none
    model = SegNet(int(meta["num_classes"]), tuple(json.loads(meta["ch"])), context=context)
    model.load_state_dict(sd)
    return Segmenter(meta["palette"], model, tuple(json.loads(meta["size"])), fast=fast)


__all__ = ["SEG_SIZES", "WEIGHTS_DIR", "Segmenter", "load_small", "read_segmenter", "save_segmenter"]
