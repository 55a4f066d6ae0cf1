"""The small protocol every backend follows, and the shared input checks.

A generator takes label ids (never colours) and returns PIL images::

    img = gen(ids, seed=0, **options)                       # one image
    imgs = gen.generate(ids, seed=0, num_images=3)          # seeds 0, 1, 2

Output size: ``size=(w, h)`` if given, else the id map's own size; either is snapped with
``gen.size_rule`` (round each side to the nearest multiple, see :func:`synth.labels.snap_size`)
and the ids are resized nearest-neighbour to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from palettes import Palette
from synth.labels import resize_labels, snap_size

#: ``callback(step, total_steps, preview_or_None)``, called during multi-step generation.
StepCallback = Callable[[int, int, "Image.Image | None"], None]


#: Largest seed (seeds are unsigned 32-bit, as in numpy and most samplers); image ``k`` uses ``seed + k``.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class SizeRule:
    """Which output sizes a backend can make.

    Attributes:
        multiple: width and height are snapped to multiples of this.
        default: ``(width, height)`` used by the UI for a new canvas.
        max_side: longest side allowed.
        min_side: shortest side the network can make; smaller maps are scaled up (aspect kept) to it.
    """

    multiple: int
    default: tuple[int, int]
    max_side: int = 2048
    min_side: int = 1

    def snap(self, width: int, height: int) -> tuple[int, int]:
        """Nearest allowed size: small maps scaled up to ``min_side``, each side rounded to the nearest
        multiple, longest side capped."""
        if 0 < min(width, height) < self.min_side:
            s = min(self.min_side / min(width, height), self.max_side / max(width, height))
            width, height = max(self.min_side, width * s), max(self.min_side, height * s)
        return snap_size(width, height, self.multiple, max_side=self.max_side)


@runtime_checkable
class Generator(Protocol):
    """What :func:`synth.load` returns."""

    name: str
    palette: Palette
    size_rule: SizeRule

    @property
    def device(self) -> Any: ...

    def __call__(self, ids, seed: int | None = 0, **options) -> Image.Image: ...

    def generate(self, ids, seed: int | None = 0, num_images: int = 1, **options) -> list[Image.Image]: ...


#: Names accepted for ``dtype`` -> the ``torch`` dtype they name.
_DTYPES = {
    "fp32": "float32",
    "float32": "float32",
    "fp16": "float16",
    "float16": "float16",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
}


def pick_device(device=None, dtype=None):
    """Choose ``(torch.device, torch.dtype)``: cuda -> fp16, mps -> fp16, cpu -> fp32; either overridable."""
    import torch

    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be cpu, cuda (or cuda:N) or mps, got {str(device)[:40]!r}") from None
    if dtype is None:
        dtype = torch.float32 if device.type == "cpu" else torch.float16
    elif isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype[:40]!r}")
        dtype = getattr(torch, _DTYPES[dtype])
    return device, dtype


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as an int in ``0..MAX_SEED``; a one-line ``ValueError`` naming ``name`` otherwise (bools,
    floats and strings included)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{name} must be an integer in 0..{MAX_SEED}, got {str(seed)[:40]!r}")
    return int(seed)


class BaseGenerator:
    """Shared behaviour: input checks, size snapping, seeds, ``__call__`` -> ``generate``.

    Subclasses set ``name``, ``palette``, ``size_rule`` and implement
    ``_generate(ids, seeds, **options) -> list[Image]`` for already-checked ``[H, W]`` ids.
    """

    name: str
    palette: Palette
    size_rule: SizeRule
    #: Options ``_generate`` accepts beyond ids/seeds; anything else is rejected clearly.
    options: tuple[str, ...] = ()
    max_images: int = 16

    def __call__(self, ids, seed: int | None = 0, **options) -> Image.Image:
        """Render one image for ``ids`` with ``seed``. See :meth:`generate` for options."""
        options.pop("num_images", None)
        return self.generate(ids, seed=seed, num_images=1, **options)[0]

    def generate(self, ids, seed: int | None = 0, num_images: int = 1, size=None, **options) -> list[Image.Image]:
        """Render ``num_images`` images with seeds ``seed, seed+1, …`` (random when ``seed`` is None).

        Args:
            ids: ``[H, W]`` integer label ids of :attr:`palette`.
            seed: base seed; image ``k`` uses ``seed + k``.
            num_images: how many images (1..``max_images``).
            size: output ``(width, height)``; default: the id map's size. Snapped by :attr:`size_rule`.
            **options: backend options, listed in :attr:`options`.
        """
        ids = self.check_inputs(ids, size=size, num_images=num_images, options=options)
        if seed is None:
            seed = int(np.random.default_rng().integers(0, 2**31 - 1))
        seeds = [(check_seed(seed) + k) % (MAX_SEED + 1) for k in range(int(num_images))]
        return self._generate(ids, seeds, **options)

    def check_inputs(self, ids, size=None, num_images: int = 1, options: dict | None = None) -> np.ndarray:
        """Validate ids / size / options and return ids resized to the output size."""
        if isinstance(ids, Image.Image):
            raise ValueError("pass label ids (palette.to_labels(image)), not a PIL image")
        try:
            arr = np.asarray(ids.cpu() if hasattr(ids, "cpu") else ids)
        except Exception:
            raise ValueError(f"ids must be an [H, W] integer array, got {type(ids).__name__}") from None
        if arr.ndim != 2:
            raise ValueError(f"ids must be an [H, W] array, got shape {arr.shape}")
        if arr.size == 0:
            raise ValueError("ids are empty")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"ids must be integers, got {arr.dtype}")
        bad = ~self.palette.is_valid_id(arr)
        if bad.any():
            raise ValueError(
                f"ids {np.unique(arr[bad])[:8].tolist()} are not in palette {self.palette.name!r} "
                f"(0..{self.palette.num_classes - 1}"
                + (f" or don't-care {self.palette.dontcare})" if self.palette.dontcare is not None else ")")
            )
        if not isinstance(num_images, (int, np.integer)) or not 1 <= num_images <= self.max_images:
            raise ValueError(f"num_images must be 1..{self.max_images}, got {num_images!r}")
        unknown = set(options or ()) - set(self.options)
        if unknown:
            named = [str(k)[:40] for k in sorted(map(str, unknown))[:4]]
            raise ValueError(
                f"{self.name} does not take option(s) {named}; it takes: {', '.join(self.options) or 'none'}"
            )
        h, w = arr.shape
        if size is not None:
            try:
                w, h = (int(size[0]), int(size[1]))
            except Exception:
                raise ValueError(f"size must be (width, height), got {str(size)[:40]!r}") from None
            if w <= 0 or h <= 0:
                raise ValueError(f"size must be positive, got {w}x{h}")
        w, h = self.size_rule.snap(w, h)
        return resize_labels(arr, (w, h))

    def _generate(self, ids: np.ndarray, seeds: list[int], **options) -> list[Image.Image]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} palette={self.palette.name} device={self.device}>"


def to_uint8(batch) -> np.ndarray:
    """``[B, 3, H, W]`` tensor in tanh range [-1, 1] -> ``[B, H, W, 3]`` uint8 array (values clamped)."""
    import torch

    x = ((batch.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def to_pil(batch) -> list[Image.Image]:
    """``[B, 3, H, W]`` tensor in tanh range [-1, 1] -> list of RGB PIL images."""
    return [Image.fromarray(im) for im in to_uint8(batch)]
