"""Official NVlabs SPADE / GauGAN generators (ade20k, coco, cityscapes), loaded from their own checkpoints.

SPADE: Park, Liu, Wang & Zhu, "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019.
This is an independent re-implementation of the generator of https://github.com/NVlabs/SPADE
(``SPADEGenerator``, ``SPADEResnetBlock``, ``SPADE``) in its non-VAE form with ``norm_G =
"spectralspadesyncbatch3x3"``, written so that the official ``latest_net_G.pth`` files load unchanged:

* the label map is one-hot encoded (classes, then a don't-care channel, then an instance-edge channel),
  downsampled to the latent grid and convolved (``fc``) into ``16 * ngf`` channels;
* SPADE residual blocks (``head_0``, ``G_middle_0/1``, ``up_0..up_3`` [+ ``up_4``]) with nearest x2
  upsampling between them, each normalising with a parameter-free batch norm (eval: running
  statistics) modulated per pixel by ``1 + gamma(seg)`` and ``beta(seg)``;
* ``conv_img`` after a leaky ReLU (slope 0.2), then ``tanh``.

Spectral norm is folded into plain conv weights at load time (``W = weight_orig / (u . W v)`` from the
stored ``u``, ``v``, exactly what ``torch.nn.utils.spectral_norm`` computes in eval mode). ``daub convert``
writes the folded weights as safetensors. The official weights are CC BY-NC-SA 4.0 (non-commercial).

Weights are never downloaded implicitly and never made up: see :func:`resolve_checkpoint`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from palettes import Palette
from palettes import load as load_palette
from synth.generators.base import BaseGenerator, SizeRule, pick_device, to_pil
from synth.labels import one_hot, resize_labels

#: ``num_upsampling_layers`` -> how many x2 upsamplings the generator makes (latent = size / 2^n).
UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}

#: File names looked for in a checkpoint directory, in this order.
WEIGHT_FILES = ("latest_net_G.safetensors", "latest_net_G.pth")

#: Key of the JSON metadata ``daub convert`` stores in a safetensors file.
METADATA_KEY = "daub_spade"

SPADE_README = "https://github.com/NVlabs/SPADE#generating-images-using-pretrained-model"


@dataclass(frozen=True)
class SpadeConfig:
    """How an official SPADE model was trained: its palette and input channels."""

    palette: str
    num_upsampling_layers: str
    use_instance: bool
    dontcare: bool
    default_size: tuple[int, int]

    @property
    def semantic_nc(self) -> int:
        """Input channels: classes, + don't-care, + instance edges."""
        return load_palette(self.palette).num_classes + self.dontcare + self.use_instance


#: The three official pretrained generators (NVlabs SPADE README, ``checkpoints.tar.gz``).
CONFIGS = {
    "ade20k": SpadeConfig("ade20k", "normal", use_instance=False, dontcare=True, default_size=(256, 256)),
    "coco": SpadeConfig("cocostuff", "normal", use_instance=True, dontcare=True, default_size=(256, 256)),
    "cityscapes": SpadeConfig("cityscapes", "more", use_instance=True, dontcare=False, default_size=(512, 256)),
}


# --------------------------------------------------------------------------------------------------
# network


class SpectralNormConv2d(nn.Module):
    """A conv in the layout ``torch.nn.utils.spectral_norm`` saves: ``bias``, ``weight_orig``, ``weight_u``, ``weight_v``.

    Only for reading official checkpoints: :meth:`weight` is the eval-mode weight (no power iteration)
    and :meth:`folded` turns it into a plain :class:`torch.nn.Conv2d`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, bias: bool = True):
        super().__init__()
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, bias=bias)
        self.padding = padding
        self.bias = conv.bias  # registered before weight_orig: the official key order
        self.weight_orig = conv.weight
        self.register_buffer("weight_u", F.normalize(torch.randn(out_channels), dim=0, eps=1e-12))
        self.register_buffer("weight_v", F.normalize(torch.randn(conv.weight[0].numel()), dim=0, eps=1e-12))

    def weight(self) -> torch.Tensor:
        """``weight_orig / sigma`` with ``sigma = u . (W v)``, ``W`` = weight_orig as ``[out, in*k*k]``."""
        w = self.weight_orig
        sigma = torch.dot(self.weight_u, torch.mv(w.reshape(w.shape[0], -1), self.weight_v))
        return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, padding=self.padding)

    @torch.no_grad()
    def folded(self) -> nn.Conv2d:
        """The same conv with the spectral norm folded into its weight."""
        out_c, in_c, k, _ = self.weight_orig.shape
        conv = nn.Conv2d(in_c, out_c, k, padding=self.padding, bias=self.bias is not None, device="meta")
        conv.weight = nn.Parameter(self.weight(), requires_grad=self.weight_orig.requires_grad)
        if self.bias is not None:
            conv.bias = nn.Parameter(self.bias.clone(), requires_grad=self.bias.requires_grad)
        return conv


def _resize_like(seg: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Nearest-resize ``seg`` to ``x``'s height and width (a no-op when they match, as in the original)."""
    return seg if seg.shape[-2:] == x.shape[-2:] else F.interpolate(seg, size=x.shape[-2:], mode="nearest")


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: ``BN(x) * (1 + gamma(seg)) + beta(seg)``, BN without affine."""

    def __init__(self, norm_nc: int, label_nc: int, hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        actv = self.mlp_shared(_resize_like(seg, x))
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """Two SPADE -> leaky ReLU -> 3x3 conv steps plus a shortcut (learned, SPADE + 1x1 conv, when fin != fout)."""

    def __init__(self, fin: int, fout: int, semantic_nc: int, spectral_norm: bool = True):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        conv = SpectralNormConv2d if spectral_norm else nn.Conv2d
        self.conv_0 = conv(fin, fmiddle, 3, padding=1)
        self.conv_1 = conv(fmiddle, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = conv(fin, fout, 1, bias=False)
        self.norm_0 = SPADE(fin, semantic_nc)
        self.norm_1 = SPADE(fmiddle, semantic_nc)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, semantic_nc)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class SPADENet(nn.Module):
    """The SPADE generator network (non-VAE): one-hot map ``[B, semantic_nc, H, W]`` -> ``[B, 3, H, W]`` in [-1, 1].

    Args:
        semantic_nc: input channels (classes + don't-care + instance edges).
        ngf: base width; the widest layers have ``16 * ngf`` channels (official: 64).
        num_upsampling_layers: ``"normal"`` (5 upsamplings), ``"more"`` (6) or ``"most"`` (7, adds ``up_4``).
        spectral_norm: build convs in the official checkpoint layout (``weight_orig``/``_u``/``_v``);
            ``False`` for plain convs (folded weights, e.g. from safetensors).

    ``H`` and ``W`` must be multiples of ``2 ** num_upsamplings``; the latent grid is ``H / 2^n x W / 2^n``.
    """

    def __init__(
        self, semantic_nc: int, ngf: int = 64, num_upsampling_layers: str = "normal", spectral_norm: bool = True
    ):
        super().__init__()
        if num_upsampling_layers not in UPSAMPLINGS:
            raise ValueError(f"num_upsampling_layers must be one of {list(UPSAMPLINGS)}, got {num_upsampling_layers!r}")
        self.semantic_nc, self.ngf, self.num_upsampling_layers = semantic_nc, ngf, num_upsampling_layers
        nf = ngf
        block = partial(SPADEResnetBlock, semantic_nc=semantic_nc, spectral_norm=spectral_norm)
        self.fc = nn.Conv2d(semantic_nc, 16 * nf, 3, padding=1)
        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, 1 * nf)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    @property
    def num_upsamplings(self) -> int:
        return UPSAMPLINGS[self.num_upsampling_layers]

    def forward(self, seg: torch.Tensor) -> torch.Tensor:
        n = self.num_upsamplings
        h, w = seg.shape[-2:]
        if h % 2**n or w % 2**n:
            raise ValueError(
                f"input {w}x{h} is not a multiple of {2**n} (num_upsampling_layers={self.num_upsampling_layers!r})"
            )

        def up(x):
            return F.interpolate(x, scale_factor=2, mode="nearest")

        x = self.fc(F.interpolate(seg, size=(h >> n, w >> n), mode="nearest"))
        x = self.head_0(x, seg)
        x = self.G_middle_0(up(x), seg)
        if self.num_upsampling_layers in ("more", "most"):
            x = up(x)
        x = self.G_middle_1(x, seg)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3) + ((self.up_4,) if hasattr(self, "up_4") else ()):
            x = block(up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))

    def fold_spectral_norm(self) -> SPADENet:
        """Replace every :class:`SpectralNormConv2d` by its folded plain conv (in place); returns ``self``."""
        for module in list(self.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, SpectralNormConv2d):
                    setattr(module, name, child.folded())
        return self


# --------------------------------------------------------------------------------------------------
# checkpoints


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a generator's tensors and daub metadata from ``.safetensors`` or an official ``.pth``.

    ``.pth`` files are read with ``torch.load(weights_only=True)`` only: anything that is not a plain
    state dict of tensors is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SPADE checkpoint at {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get(METADATA_KEY, "{}"))
                return {k: f.get_tensor(k) for k in f.keys()}, meta
        except Exception as e:  # safetensors raises its own error types
            raise ValueError(f"{path} is not a readable safetensors file: {str(e).splitlines()[0]}") from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{path} is not a plain tensor state dict (refused by torch.load(weights_only=True): {first}); "
            "official SPADE checkpoints are state dicts: pass latest_net_G.pth or a converted .safetensors"
        ) from None
    if not isinstance(sd, dict) or not sd:
        raise ValueError(f"{path} holds a {type(sd).__name__}, not a state dict of tensors")
    odd = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if odd:
        raise ValueError(f"{path} is not a state dict of tensors: entries {odd[:4]} are not tensors")
    return dict(sd), {}


def _infer_shape(sd: dict[str, torch.Tensor], where: str) -> tuple[int, int, bool]:
    """``(semantic_nc, ngf, has_up_4)`` from a state dict's ``fc.weight``."""
    fc = sd.get("fc.weight")
    if fc is None:
        raise ValueError(f"{where} has no 'fc.weight': not a SPADE generator (keys start {list(sd)[:3]})")
    if fc.ndim != 4:
        raise ValueError(
            f"{where}: fc.weight has shape {list(fc.shape)}; only the non-VAE SPADE generator (fc = 3x3 conv) is supported"
        )
    if fc.shape[0] % 16:
        raise ValueError(f"{where}: fc.weight has {fc.shape[0]} output channels, not 16 * ngf")
    return int(fc.shape[1]), int(fc.shape[0]) // 16, any(k.startswith("up_4.") for k in sd)


def _load_into(net: SPADENet, sd: dict[str, torch.Tensor], where: str) -> None:
    """Strict load (tensors assigned, so ``net`` may live on the meta device), with a readable message for
    missing / unexpected keys and wrong shapes. Floating tensors become float32."""
    want = net.state_dict()
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in sd if k not in want]
    wrong = [
        f"{k} {list(sd[k].shape)} (want {list(v.shape)})" for k, v in want.items() if k in sd and sd[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys, e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys, e.g. {unexpected[:3]}")
        if wrong:
            parts.append(f"{len(wrong)} wrong shapes, e.g. {wrong[:2]}")
        raise ValueError(
            f"{where} does not match a SPADE generator with semantic_nc={net.semantic_nc}, ngf={net.ngf}, "
            f"num_upsampling_layers={net.num_upsampling_layers!r}: " + "; ".join(parts)
        )
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True, assign=True)


def load_network(path: str | Path, num_upsampling_layers: str | None = None, ngf: int | None = None) -> SPADENet:
    """Build a :class:`SPADENet` from a checkpoint (spectral norm folded), in eval mode on the CPU.

    Args:
        path: official ``latest_net_G.pth`` or a ``.safetensors`` from ``daub convert``.
        num_upsampling_layers: ``normal``/``more``/``most``; ``None``: from the safetensors metadata, else
            ``most`` when the weights have ``up_4``, else ``normal``. ``normal`` and ``more`` have the same
            weights, so for an official ``.pth`` the caller must know (cityscapes is ``more``).
        ngf: expected base width; ``None`` infers it from ``fc.weight``.
    """
    sd, meta = read_state_dict(path)
    return _build_network(sd, meta, str(path), num_upsampling_layers, ngf)


def _build_network(sd: dict, meta: dict, where: str, num_upsampling_layers: str | None, ngf: int | None) -> SPADENet:
    semantic_nc, found_ngf, has_up_4 = _infer_shape(sd, where)
    if ngf is not None and ngf != found_ngf:
        raise ValueError(f"{where} has ngf={found_ngf} (from fc.weight), not ngf={ngf}")
    stored = meta.get("num_upsampling_layers")
    if num_upsampling_layers is None:
        num_upsampling_layers = stored or ("most" if has_up_4 else "normal")
    elif stored and stored != num_upsampling_layers:
        raise ValueError(f"{where} was converted with num_upsampling_layers={stored!r}, not {num_upsampling_layers!r}")
    if has_up_4 != (num_upsampling_layers == "most"):
        raise ValueError(
            f"{where} {'has' if has_up_4 else 'lacks'} up_4 weights, so num_upsampling_layers "
            f"{'must' if has_up_4 else 'cannot'} be 'most' (got {num_upsampling_layers!r})"
        )
    official = any(k.endswith(".weight_orig") for k in sd)
    with torch.device("meta"):  # no random init: every tensor comes from the checkpoint
        net = SPADENet(semantic_nc, found_ngf, num_upsampling_layers, spectral_norm=official)
    _load_into(net, sd, where)
    return net.fold_spectral_norm().eval().requires_grad_(False)


def _default_dir(name: str) -> Path:
    return Path.home() / ".cache" / "daub" / "spade" / name


def _env_var(name: str) -> str:
    return f"DAUB_SPADE_{name.upper()}"


def _in_dir(path: Path) -> Path | None:
    """``path`` itself if a file, else the first of :data:`WEIGHT_FILES` inside it."""
    if path.is_file():
        return path
    for fname in WEIGHT_FILES:
        if (path / fname).is_file():
            return path / fname
    return None


def missing_weights_message(name: str) -> str:
    """Where to put the official checkpoint of ``name`` (one line)."""
    return (
        f"no weights for SPADE {name}: download checkpoints.tar.gz from the Google Drive link in the NVlabs SPADE "
        f"README ({SPADE_README}), unpack it and copy {name}_pretrained/latest_net_G.pth to "
        f"{_default_dir(name) / 'latest_net_G.pth'} (or set {_env_var(name)}=/path/to/latest_net_G.pth, "
        f"or pass checkpoint=... or repo_id=...); daub never substitutes random weights"
    )


def _hf_offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return env or bool(constants.HF_HUB_OFFLINE)


def resolve_checkpoint(
    name: str, checkpoint: str | Path | None = None, repo_id: str | None = None, filename: str | None = None
) -> Path:
    """Find the weights of official model ``name`` (``ade20k``, ``coco``, ``cityscapes``).

    Order: ``checkpoint`` (file, or directory holding one of :data:`WEIGHT_FILES`); env var
    ``DAUB_SPADE_<NAME>``; ``~/.cache/daub/spade/<name>/``; ``repo_id`` on the Hugging Face Hub
    (``filename`` default ``latest_net_G.pth``; cache only when ``HF_HUB_OFFLINE`` is set).
    Raises ``FileNotFoundError`` saying where to put the official checkpoint when nothing is found.
    """
    for given, what in ((checkpoint, "checkpoint"), (os.environ.get(_env_var(name)) or None, _env_var(name))):
        if given is not None:
            found = _in_dir(Path(given).expanduser())
            if found is None:
                raise FileNotFoundError(
                    f"{what}={str(given)!r}: no such file (or directory with {' / '.join(WEIGHT_FILES)})"
                )
            return found
    found = _in_dir(_default_dir(name))
    if found is not None:
        return found
    if repo_id:
        from huggingface_hub import hf_hub_download

        fname = filename or "latest_net_G.pth"
        offline = _hf_offline()
        try:
            return Path(hf_hub_download(repo_id, fname, local_files_only=offline))
        except Exception as e:
            why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else str(e).splitlines()[0]
            raise RuntimeError(f"could not get {fname} from Hub repo {repo_id!r}: {why}") from None
    raise FileNotFoundError(missing_weights_message(name))


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
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(repo_id, filename or "latest_net_G.pth"), str):
            return True, ""
        reason = f"weights would be downloaded from Hub repo {repo_id!r}"
    return False, reason


# --------------------------------------------------------------------------------------------------
# backend


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


# --------------------------------------------------------------------------------------------------
# daub convert


def convert(src: str | Path, dst: str | Path, *, half: bool = False, num_upsampling_layers: str | None = None) -> dict:
    """Official ``.pth`` -> ``.safetensors`` with spectral norm folded; returns the stored metadata.

    ``num_upsampling_layers`` defaults to ``most`` when the weights have ``up_4``, else to the official
    config with the same input channels (151 ade20k, 184 coco: ``normal``; 36 cityscapes: ``more``).
    """
    sd, _ = read_state_dict(src)
    semantic_nc, ngf, has_up_4 = _infer_shape(sd, str(src))
    if num_upsampling_layers is None:
        official = {cfg.num_upsampling_layers for cfg in CONFIGS.values() if cfg.semantic_nc == semantic_nc}
        if has_up_4:
            num_upsampling_layers = "most"
        elif len(official) == 1:
            num_upsampling_layers = official.pop()
        else:
            raise ValueError(
                f"cannot tell num_upsampling_layers of a generator with {semantic_nc} input channels; "
                "pass --num-upsampling-layers normal|more|most"
            )
    net = _build_network(sd, {}, str(src), num_upsampling_layers, ngf)
    tensors = {}
    for k, v in net.state_dict().items():
        tensors[k] = (v.half() if half and v.is_floating_point() else v).contiguous()
    meta = {"semantic_nc": semantic_nc, "ngf": ngf, "num_upsampling_layers": num_upsampling_layers,
            "dtype": "float16" if half else "float32", "source": Path(src).name}  # fmt: skip
    from safetensors.torch import save_file

    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst), metadata={METADATA_KEY: json.dumps(meta)})
    return meta


def convert_main(argv: list[str]) -> int:
    """``daub convert IN.pth OUT.safetensors [--half] [--num-upsampling-layers ...]``."""
    p = argparse.ArgumentParser(
        prog="daub convert", description="Official SPADE latest_net_G.pth -> safetensors (spectral norm folded)."
    )
    p.add_argument("src", help="official SPADE generator checkpoint (latest_net_G.pth)")
    p.add_argument("dst", help="output .safetensors file")
    p.add_argument("--half", action="store_true", help="store float16 weights (half the size; loaded back as float32)")
    p.add_argument("--num-upsampling-layers", choices=list(UPSAMPLINGS), default=None,
                   help="default: inferred (up_4 -> most; 36 input channels = cityscapes -> more; else normal)")  # fmt: skip
    args = p.parse_args(argv)
    if not str(args.dst).endswith(".safetensors"):
        raise ValueError(f"output must end in .safetensors, got {args.dst}")
    meta = convert(args.src, args.dst, half=args.half, num_upsampling_layers=args.num_upsampling_layers)
    print(f"wrote {args.dst}: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    return 0


__all__ = [
    "CONFIGS", "SPADE", "SPADEGenerator", "SPADENet", "SPADEResnetBlock", "SpectralNormConv2d", "available",
    "convert", "convert_main", "load_ade20k", "load_cityscapes", "load_coco", "load_network", "load_spade",
    "random_spade", "read_state_dict", "resolve_checkpoint",
]  # fmt: skip
