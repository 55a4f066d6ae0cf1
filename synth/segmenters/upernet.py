"""Photo -> ADE20K label map with UperNet (transformers), to start a painting from a photograph.

::

    seg = UperNetSegmenter()                   # openmmlab/upernet-convnext-small (~330 MB download)
    ids = seg(Image.open("photo.jpg"))         # [H, W] uint8 ids of palette "ade20k" (train ids 0..149)
    ids = photo_to_ade20k("photo.jpg")         # the same, with a cached segmenter

openmmlab's UperNet checkpoints predict the 150 ADE20K scene-parsing classes in train-id order, which is the
order of :func:`synth.palette("ade20k") <palettes.load>`; a model with another number of labels is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from palettes import load as load_palette
from synth import hub
from synth.hub import cached, download_hint, is_local, offline
from synth.labels import resize_labels

DEFAULT_MODEL = "openmmlab/upernet-convnext-small"
#: Logits are upsampled (bilinear) to the image size up to this longest side; larger images get their
#: ids nearest-resized from there, which keeps memory bounded (150 float channels per pixel).
MAX_LOGIT_SIDE = 1024
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
#: Files of :data:`DEFAULT_MODEL` a load reads (the repo ships ``.bin`` weights): what a Space preloads.
HUB_FILES = {DEFAULT_MODEL: ("config.json", "preprocessor_config.json", "pytorch_model.bin")}


def _present(ref: str, cache_dir=None) -> bool:
    if is_local(ref):
        return Path(ref).expanduser().is_dir()
    return (
        cached(ref, ("config.json",), cache_dir)
        and cached(ref, ("preprocessor_config.json",), cache_dir)
        and cached(ref, _WEIGHTS, cache_dir)
    )


def available(key: str = "upernet", model: str | os.PathLike = DEFAULT_MODEL, cache_dir=None, **_) -> tuple[bool, str]:
    """``(True, "")`` if transformers is installed and ``model`` is a local folder or in the HF cache;
    ``(True, "downloads ...")`` when it is not but can be downloaded; ``(False, why)`` otherwise."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False, "missing package transformers (pip install 'daub[diffusion]')"
    if not _present(str(model), cache_dir):
        if not offline() and not is_local(str(model)):
            if not hub.reachable():
                return False, hub.unreachable_message("UperNet model", str(model), download_hint(str(model)))
            return True, f"downloads {model} (about 0.3 GB) on first use"
        return False, f"not downloaded: {model} (`hf download {model}`)"
    return True, ""


def _as_rgb(image) -> Image.Image:
    if isinstance(image, (str, os.PathLike)):
        from synth.labels import open_image

        image = open_image(image)
    if isinstance(image, np.ndarray):
        if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4)):
            image = Image.fromarray(image.astype(np.uint8) if image.dtype != np.uint8 else image)
        else:
            raise ValueError(f"expected an [H, W, 3] image array, got shape {image.shape}")
    if not isinstance(image, Image.Image):
        raise ValueError(f"expected a PIL image, an RGB array or a path, got {type(image).__name__}")
    return image.convert("RGB")


class UperNetSegmenter:
    """ADE20K semantic segmentation: ``UperNetSegmenter(model)(image) -> [H, W] uint8 ids``.

    Args:
        model: transformers UperNet repo id or folder with ``config.json``, weights and
            ``preprocessor_config.json`` (default :data:`DEFAULT_MODEL`).
        device, dtype: default from :func:`synth.generators.base.pick_device`.
        cache_dir: Hugging Face cache folder.
    """

    def __init__(self, model: str | os.PathLike = DEFAULT_MODEL, device=None, dtype=None, cache_dir=None):
        ref = str(model)
        if is_local(ref) and not Path(ref).expanduser().is_dir():
            raise FileNotFoundError(f"UperNet model folder {ref!r} does not exist")
        if not is_local(ref) and offline() and not _present(ref, cache_dir):
            raise RuntimeError(
                f"UperNet model {ref!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1; download it "
                f"first (with internet): `hf download {ref}`"
            )
        if not is_local(ref) and not _present(ref, cache_dir) and not hub.reachable():
            raise RuntimeError(hub.unreachable_message("UperNet model", ref, download_hint(ref)))
        from transformers import AutoImageProcessor, UperNetForSemanticSegmentation  # after the checks: slow import

        from synth.generators.base import pick_device

        self.palette = load_palette("ade20k")
        self.device, self.dtype = pick_device(device, dtype)
        kw = {"cache_dir": cache_dir, "local_files_only": offline()}
        try:
            self.processor = AutoImageProcessor.from_pretrained(ref, **kw)
            self.model = UperNetForSemanticSegmentation.from_pretrained(ref, **kw)
        except (OSError, ValueError) as e:
            raise RuntimeError(f"could not load UperNet model {ref!r}: {e}") from e
        if self.model.config.num_labels != self.palette.num_classes:
            raise ValueError(
                f"{ref!r} predicts {self.model.config.num_labels} classes; the ade20k palette needs "
                f"{self.palette.num_classes} (ADE20K scene parsing, train-id order)"
            )
        self.model.to(self.device, self.dtype).eval()
        self.name = ref

    def __call__(self, image) -> np.ndarray:
        """Segment ``image`` (PIL, RGB array or path) -> ``[H, W]`` uint8 ids at the image's size."""
        import torch

        image = _as_rgb(image)
        w, h = image.size
        inputs = self.processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        with torch.inference_mode():
            logits = self.model(pixel_values=pixels).logits[0].float()  # [C, h', w']
        s = min(1.0, MAX_LOGIT_SIDE / max(w, h))
        size = (max(1, round(h * s)), max(1, round(w * s)))
        best = torch.full(size, -torch.inf, device=logits.device)
        ids = torch.zeros(size, dtype=torch.long, device=logits.device)
        for c0 in range(0, logits.shape[0], 16):  # running argmax over channel chunks: bounded memory
            up = torch.nn.functional.interpolate(
                logits[None, c0 : c0 + 16], size=size, mode="bilinear", align_corners=False
            )[0]
            val, idx = up.max(0)
            better = val > best
            best = torch.where(better, val, best)
            ids = torch.where(better, idx + c0, ids)
        return resize_labels(ids.cpu().numpy().astype(np.uint8), (w, h))

    def __repr__(self) -> str:
        return f"<UperNetSegmenter {self.name!r} device={self.device}>"


_SEGMENTERS: dict = {}


def photo_to_ade20k(image, model: str | os.PathLike = DEFAULT_MODEL, device=None) -> np.ndarray:
    """``[H, W]`` uint8 ADE20K ids for a photo, with a segmenter cached per ``(model, device)``."""
    key = (str(model), str(device))
    if key not in _SEGMENTERS:
        _SEGMENTERS[key] = UperNetSegmenter(model, device=device)
    return _SEGMENTERS[key](image)


__all__ = ["DEFAULT_MODEL", "UperNetSegmenter", "available", "photo_to_ade20k"]
