"""The official NVlabs SPADE / GauGAN generators (ade20k, coco, cityscapes) as daub backends.

The network is :mod:`synth.nets.spade`; reading checkpoints and finding the official weights is
:mod:`synth.generators.spade_weights` (weights are never downloaded implicitly and never made up:
see :func:`~synth.generators.spade_weights.resolve_checkpoint`). ``CONFIGS``, ``load_network`` and
``resolve_checkpoint`` are re-exported here for convenience.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from palettes import Palette
from palettes import load as load_palette
from synth import hub
from synth.generators.base import BaseGenerator, SizeRule, pick_device, to_pil
from synth.generators.spade_weights import load_network, resolve_checkpoint
from synth.labels import one_hot, resize_labels
from synth.nets.spade import CONFIGS, SPADENet


class SPADEGenerator(BaseGenerator):
    """A SPADE generator behind the :class:`~synth.generators.base.BaseGenerator` protocol.

    Option ``instance``: ``[H, W]`` integer instance ids, same shape as the label map, for models trained
    with instance edges (coco, cityscapes). Without it those models get the label map itself as the
    instance map, i.e. edges only between different classes (touching objects of one class merge).

    The official models are deterministic (non-VAE SPADE starts from the downsampled map, not from
    noise): ``seed`` has no effect and ``num_images > 1`` gives copies of one image, as the official demo
    gives one image per map.

    On the CPU the network runs channels-last. ``dtype=torch.bfloat16`` (or ``"bf16"``) keeps fp32 weights
    and runs under ``torch.autocast("cpu", torch.bfloat16)``: about twice as fast on CPUs with bf16 support,
    outputs differ slightly from fp32. Other non-fp32 dtypes use autocast on CUDA and cast weights elsewhere.
    Sizes: multiples of ``2 ** num_upsamplings`` (32, or 64 for cityscapes), longest side at most 1024.
    """

    options = ("instance",)

    def __init__(
        self,
        net: SPADENet,
        palette: Palette | str,
        *,
        name: str,
        use_instance: bool,
        dontcare: bool | None = None,
        default_size: tuple[int, int] = (256, 256),
        device=None,
        dtype=None,
    ):
        self.palette = load_palette(palette)
        self.name = name
        self.use_instance = bool(use_instance)
        self.dontcare = self.palette.dontcare is not None if dontcare is None else bool(dontcare)
        if self.dontcare and self.palette.dontcare is None:
            raise ValueError(f"palette {self.palette.name!r} has no don't-care id")
        want = self.palette.num_classes + self.dontcare + self.use_instance
        if net.semantic_nc != want:
            raise ValueError(
                f"{name}: the weights take {net.semantic_nc} input channels, but palette {self.palette.name!r} gives "
                f"{want} ({self.palette.num_classes} classes{' + dont-care' if self.dontcare else ''}"
                f"{' + instance edges' if self.use_instance else ''})"
            )
        multiple = 2**net.num_upsamplings
        self.size_rule = SizeRule(multiple=multiple, default=default_size, max_side=1024)
        self._device, self.dtype = pick_device(device, dtype)
        self._autocast = self.dtype != torch.float32 and self._device.type in ("cpu", "cuda")
        if self._autocast or self.dtype == torch.float32:
            net = net.to(self._device)
        else:
            net = net.to(self._device, self.dtype)
        self.channels_last = self._device.type == "cpu"  # faster convs on CPU; fp32 output unchanged (parity test)
        self.net = net.to(memory_format=torch.channels_last) if self.channels_last else net

    @property
    def device(self) -> torch.device:
        return self._device

    def generate(self, ids, seed: int | None = 0, num_images: int = 1, size=None, instance=None, **options):
        """See :meth:`BaseGenerator.generate`; ``instance`` is an optional ``[H, W]`` instance-id map like ``ids``."""
        if instance is not None:
            if not self.use_instance:
                raise ValueError(f"{self.name} was trained without instance maps; do not pass instance=")
            inst = np.asarray(instance.cpu() if hasattr(instance, "cpu") else instance)
            if inst.ndim != 2 or not np.issubdtype(inst.dtype, np.integer):
                raise ValueError(f"instance must be an [H, W] integer array, got {inst.dtype} {inst.shape}")
            shape = np.shape(ids.cpu() if hasattr(ids, "cpu") else ids)
            if inst.shape != tuple(shape):
                raise ValueError(f"instance map shape {inst.shape} differs from label map shape {tuple(shape)}")
            options["instance"] = inst
        return super().generate(ids, seed=seed, num_images=num_images, size=size, **options)

    def semantic_input(self, ids: np.ndarray, instance: np.ndarray | None = None) -> torch.Tensor:
        """Checked ``[H, W]`` ids -> the network input ``[1, semantic_nc, H, W]`` on the model's device."""
        ids = np.array(ids)  # a copy: the ids may be a read-only view (of a PIL image), which torch warns about
        inst = None
        if self.use_instance:
            inst = ids if instance is None else np.array(resize_labels(instance, (ids.shape[1], ids.shape[0])))
        x = one_hot(ids, self.palette, dontcare=self.dontcare, instance=inst)[None]
        return x.to(self._device, torch.float32 if self._autocast else self.dtype)

    @torch.inference_mode()
    def render_tensor(self, ids: np.ndarray, instance: np.ndarray | None = None) -> torch.Tensor:
        """Checked ``[H, W]`` ids -> ``[1, 3, H, W]`` float32 output in [-1, 1]."""
        x = self.semantic_input(ids, instance)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        ctx = torch.autocast(self._device.type, self.dtype) if self._autocast else contextlib.nullcontext()
        with ctx:
            y = self.net(x)
        return y.float().contiguous()

    def _generate(self, ids: np.ndarray, seeds: list[int], instance: np.ndarray | None = None):
        img = to_pil(self.render_tensor(ids, instance))[0]
        return [img] + [img.copy() for _ in seeds[1:]]


def load_spade(
    checkpoint: str | Path,
    palette: Palette | str,
    *,
    num_upsampling_layers: str | None = "normal",
    ngf: int | None = None,
    use_instance: bool = False,
    dontcare: bool | None = None,
    name: str = "spade",
    default_size: tuple[int, int] = (256, 256),
    device=None,
    dtype=None,
) -> SPADEGenerator:
    """Any SPADE generator checkpoint (official ``.pth`` or converted ``.safetensors``) as a backend.

    Args:
        checkpoint: the weights file.
        palette: the label set it was trained on (class count must match).
        num_upsampling_layers: ``normal``/``more``/``most`` (see :func:`load_network`; ``None`` infers).
        ngf: expected base width, ``None`` to infer from ``fc.weight``.
        use_instance: the model takes an instance-edge channel (last input channel).
        dontcare: the model takes a don't-care channel after the classes (default: the palette has one).
        name: backend name shown in messages.
        default_size: ``(width, height)`` of a new canvas.
        device, dtype: see :func:`~synth.generators.base.pick_device` and :class:`SPADEGenerator`.
    """
    net = load_network(checkpoint, num_upsampling_layers, ngf)
    return SPADEGenerator(
        net, palette, name=name, use_instance=use_instance, dontcare=dontcare, default_size=default_size,
        device=device, dtype=dtype,
    )  # fmt: skip


def _load_official(name: str, checkpoint=None, repo_id=None, filename=None, device=None, dtype=None) -> SPADEGenerator:
    cfg = CONFIGS[name]
    path = resolve_checkpoint(name, checkpoint, repo_id, filename)
    return load_spade(
        path, cfg.palette, num_upsampling_layers=cfg.num_upsampling_layers, use_instance=cfg.use_instance,
        dontcare=cfg.dontcare, name=f"spade-{name}", default_size=cfg.default_size, device=device, dtype=dtype,
    )  # fmt: skip


def load_ade20k(checkpoint=None, repo_id=None, filename=None, device=None, dtype=None) -> SPADEGenerator:
    """Official SPADE ade20k generator (150 classes + don't-care, 256x256). Weights: :func:`resolve_checkpoint`."""
    return _load_official("ade20k", checkpoint, repo_id, filename, device, dtype)


def load_coco(checkpoint=None, repo_id=None, filename=None, device=None, dtype=None) -> SPADEGenerator:
    """Official SPADE coco generator (182 COCO-Stuff classes + don't-care + instance edges, 256x256)."""
    return _load_official("coco", checkpoint, repo_id, filename, device, dtype)


def load_cityscapes(checkpoint=None, repo_id=None, filename=None, device=None, dtype=None) -> SPADEGenerator:
    """Official SPADE cityscapes generator (35 label ids + instance edges, 512x256, ``more`` upsampling)."""
    return _load_official("cityscapes", checkpoint, repo_id, filename, device, dtype)


def _config_name(palette_name: str) -> str:
    key = palette_name.removeprefix("spade-")
    key = {"cocostuff": "coco"}.get(key, key)
    if key not in CONFIGS:
        raise ValueError(f"no SPADE config for {palette_name!r}; choose one of {list(CONFIGS)}")
    return key


def random_spade(palette_name: str, ngf: int = 64, *, device=None, dtype=None, seed: int = 0) -> SPADEGenerator:
    """A SPADE generator with RANDOM weights in the layout of an official model, for speed benchmarks only.

    ``palette_name``: ``ade20k``, ``coco`` (or ``cocostuff``) or ``cityscapes``. Its images are noise.
    """
    name = _config_name(palette_name)
    cfg = CONFIGS[name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = (
            SPADENet(cfg.semantic_nc, ngf, cfg.num_upsampling_layers, spectral_norm=False).eval().requires_grad_(False)
        )
    return SPADEGenerator(
        net, cfg.palette, name=f"random-spade-{name}", use_instance=cfg.use_instance, dontcare=cfg.dontcare,
        default_size=cfg.default_size, device=device, dtype=dtype,
    )  # fmt: skip


def available(
    key: str, checkpoint=None, repo_id: str | None = None, filename: str | None = None, **_
) -> tuple[bool, str]:
    """``(True, "")`` when the weights of ``key`` (``spade-ade20k`` or ``ade20k`` …) are here, else ``(False, why)``."""
    name = key.removeprefix("spade-")
    if name not in CONFIGS:
        return False, f"unknown SPADE model {key!r}; choose one of {list(CONFIGS)}"
    try:
        resolve_checkpoint(name, checkpoint)
        return True, ""
    except FileNotFoundError as e:
        reason = str(e)
    if repo_id:
        if hub.cached(repo_id, (filename or "latest_net_G.pth",)):
            return True, ""
        reason = f"weights would be downloaded from Hub repo {repo_id!r}"
    return False, reason


__all__ = [
    "CONFIGS", "SPADEGenerator", "available", "load_ade20k", "load_cityscapes", "load_coco", "load_network",
    "load_spade", "random_spade", "resolve_checkpoint",
]  # fmt: skip
