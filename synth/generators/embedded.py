"""Daub's own small SPADE-style generators, shipped in the repo and fast enough on a laptop CPU.

``synth.load("landscape")`` (Stanford Background, 8 classes + unknown) and ``synth.load("facades")``
(CMP Facades, 12 classes). Architecture (:class:`DaubGenerator`): the one-hot map, downsampled to 1/32,
is concatenated with a style code ``z`` (from the seed) and opened into features; residual blocks with
spatially-adaptive normalisation (SPADE) from the one-hot map upsample it to half size; a light
full-resolution stage (features upsampled, concatenated with the one-hot map, two convolutions) draws
sharp class boundaries without the cost of SPADE at full size.
``z ~ N(0, I)`` drawn from ``seed`` gives GauGAN-style variations of the same map.

Weights live in ``synth/weights/<name>.safetensors`` (fp16) with the config in its metadata. Both shipped
generators are v2 (3D and pixel noise, reflection padding: ``region_seeds`` re-draws one class); the older
v1 weights of both (in git history) load through the same code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from palettes import load as load_palette
from synth.generators.base import BaseGenerator, SizeRule, pick_device, to_pil
from synth.labels import one_hot
from synth.tagged import read_tagged, write_tagged

#: Renders larger than this many pixels run the full-resolution layers in bands of rows of about this size.
BAND_AREA = 2**17

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


@dataclass
class DaubConfig:
    """Hyper-parameters of :class:`DaubGenerator` (stored with the weights)."""

    palette: str = "landscape"
    label_nc: int = 9  # classes + don't-care channel
    z_dim: int = 64
    channels: tuple[int, ...] = (256, 192, 128, 64, 32)  # SPADE blocks at 1/32, 1/16, 1/8, 1/4, 1/2
    hidden: tuple[int, ...] = (128, 128, 64, 32, 32)  # SPADE hidden width per block
    head: int = 24  # width of the full-resolution convolution
    default_size: tuple[int, int] = (256, 192)
    #: v2 (OASIS-style 3D noise): the style code is a noise *map* of ``z_dim`` channels concatenated to the
    #: one-hot map at every SPADE layer (so it can differ per region); False = v1, the code only opens the head.
    noise_3d: bool = False
    upsample: str = "nearest"  # "nearest" (v1) or "bilinear" (v2: no 2-pixel grid from repeated pixels)
    head_layers: int = 1  # full-resolution convolutions before to_rgb (v1: 1)
    #: v2: per-pixel noise (one map per resolution, learned strength per channel, as in StyleGAN) after
    #: the first convolution of every block and each full-resolution convolution. Without it the only
    #: spatial signal in a piecewise-constant map is its edges, which the network extrudes into streaks.
    pixel_noise: bool = False
    #: convolution padding: "zeros" (v1) or "reflect" (v2). Zero padding tells every layer where the
    #: image border is; v1 extrudes that signal into stripes parallel to the borders (see README).
    padding: str = "zeros"
    extra: dict = field(default_factory=dict)

    @property
    def multiple(self) -> int:
        return 2 ** len(self.channels)


class ReflectConv3(nn.Conv2d):
    """3x3 convolution with reflection padding (replicate on maps one pixel high or wide)."""

    def __init__(self, cin: int, cout: int):
        super().__init__(cin, cout, 3, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = "reflect" if min(x.shape[-2:]) > 1 else "replicate"
        return super().forward(F.pad(x, (1, 1, 1, 1), mode=mode))


def _conv3(cin: int, cout: int, pad: str = "zeros") -> nn.Conv2d:
    """3x3 convolution keeping the size; ``pad`` is the padding: "zeros" or "reflect"."""
    if pad == "reflect":
        return ReflectConv3(cin, cout)
    if pad != "zeros":
        raise ValueError(f"padding must be 'zeros' or 'reflect', got {pad!r}")
    return nn.Conv2d(cin, cout, 3, padding=1)


class SPADENorm(nn.Module):
    """Spatially-adaptive normalisation: param-free instance norm, then gamma/beta from the label map."""

    def __init__(self, ch: int, label_nc: int, hidden: int, pad: str = "zeros"):
        super().__init__()
        self.norm = nn.InstanceNorm2d(ch, affine=False)
        self.shared = nn.Sequential(_conv3(label_nc, hidden, pad), nn.ReLU())
        self.gamma_beta = _conv3(hidden, 2 * ch, pad)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """``seg`` is the one-hot map already at ``x``'s resolution."""
        gamma, beta = self.gamma_beta(self.shared(seg)).chunk(2, dim=1)
        return self.norm(x) * (1 + gamma) + beta


class SPADEBlock(nn.Module):
    """Residual block: (SPADE, leaky ReLU, conv) x 2, learned 1x1 shortcut when widths differ."""

    def __init__(self, fin: int, fout: int, label_nc: int, hidden: int, pixel_noise: bool = False, pad: str = "zeros"):
        super().__init__()
        mid = min(fin, fout)
        self.norm_0 = SPADENorm(fin, label_nc, hidden, pad)
        self.conv_0 = _conv3(fin, mid, pad)
        self.noise_strength = nn.Parameter(torch.zeros(1, mid, 1, 1)) if pixel_noise else None
        self.norm_1 = SPADENorm(mid, label_nc, hidden, pad)
        self.conv_1 = _conv3(mid, fout, pad)
        self.shortcut = None
        if fin != fout:
            self.norm_s = SPADENorm(fin, label_nc, hidden, pad)
            self.shortcut = nn.Conv2d(fin, fout, 1, bias=False)

    def forward(self, x: torch.Tensor, seg: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``noise`` ``[B, 1, H, W]`` at ``x``'s size (pixel-noise blocks only)."""
        s = x if self.shortcut is None else self.shortcut(self.norm_s(x, seg))
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        if self.noise_strength is not None:
            dx = dx + self.noise_strength.to(dx.dtype) * noise.to(dx.dtype)  # stays bf16 under autocast
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return s + dx


class DaubGenerator(nn.Module):
    """One-hot map ``[B, label_nc, H, W]`` + style ``z`` -> image ``[B, 3, H, W]`` in [-1, 1].

    ``z`` is ``[B, z_dim]`` (one code per image) or, for 3D-noise models (``config.noise_3d``), also a
    noise map ``[B, z_dim, H, W]`` (e.g. a different code per region). ``H`` and ``W`` must be multiples
    of ``config.multiple`` (32).
    """

    def __init__(self, config: DaubConfig):
        super().__init__()
        self.config = config
        ch, hid, nc, pad = config.channels, config.hidden, config.label_nc, config.padding
        cond = nc + (config.z_dim if config.noise_3d else 0)  # what SPADE sees
        self.head = _conv3(nc + config.z_dim, ch[0], pad)
        self.blocks = nn.ModuleList(
            SPADEBlock(ch[max(i - 1, 0)], ch[i], cond, hid[i], config.pixel_noise, pad) for i in range(len(ch))
        )
        self.full_0 = _conv3(ch[-1] + nc, config.head, pad)
        self.full_rest = nn.ModuleList(_conv3(config.head, config.head, pad) for _ in range(config.head_layers - 1))
        if config.pixel_noise:
            self.full_noise = nn.Parameter(torch.zeros(config.head_layers, config.head, 1, 1))
        self.to_rgb = _conv3(config.head, 3, pad)

    def _up(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.upsample == "bilinear":
            return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def noise_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """``(h, w)`` of the pixel-noise maps: one per block (1/32 ... 1/2), then full size."""
        n = len(self.blocks)
        return [(height >> (n - i), width >> (n - i)) for i in range(n)] + [(height, width)]

    def make_noise(self, batch: int, height: int, width: int, generator: torch.Generator | None = None, device=None):
        """Pixel-noise maps ``[batch, 1, h, w]`` for :meth:`forward` (empty list for models without)."""
        if not self.config.pixel_noise:
            return []
        return [
            torch.randn(batch, 1, h, w, generator=generator, device=device) for h, w in self.noise_sizes(height, width)
        ]

    def forward(self, seg: torch.Tensor, z: torch.Tensor, noise: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``noise``: maps from :meth:`make_noise` (pixel-noise models; drawn afresh when omitted)."""
        n = len(self.blocks)
        h, w = seg.shape[-2] >> n, seg.shape[-1] >> n
        if (h << n, w << n) != tuple(seg.shape[-2:]):
            raise ValueError(f"height and width must be multiples of {1 << n}, got {tuple(seg.shape[-2:])}")
        if z.ndim != 2 and not self.config.noise_3d:
            raise ValueError("this model takes one style code per image ([B, z_dim]), not a noise map")
        z = z.to(seg.dtype)

        def code_at(k: int, size: tuple[int, int]) -> torch.Tensor:
            """The code at 1/2^k: one code per image broadcast (a view, never materialised at full size),
            a code map subsampled like the labels."""
            return z[:, :, None, None].expand(-1, -1, *size) if z.ndim == 2 else z[..., :: 1 << k, :: 1 << k]

        def cond_at(k: int) -> torch.Tensor:
            """What the SPADE layers at 1/2^k see: the one-hot map subsampled exactly (labels never blend),
            with the code beside it on 3D-noise models; made when its block runs (one level alive at a time)."""
            s = seg[..., :: 1 << k, :: 1 << k]
            return torch.cat([s, code_at(k, s.shape[-2:])], 1) if self.config.noise_3d else s

        area = F.interpolate(seg, size=(h, w), mode="area")  # class fractions
        code = code_at(0, (h, w)) if z.ndim == 2 else F.interpolate(z, size=(h, w), mode="area")
        small = torch.cat([area, code], 1)
        if self.config.pixel_noise and noise is None:
            noise = self.make_noise(len(seg), *seg.shape[-2:], device=seg.device)
        noise = [m.to(seg.device) for m in noise] if self.config.pixel_noise else [None] * (n + 1)
        x = self.head(small)
        for i, block in enumerate(self.blocks):
            if i:
                x = self._up(x)
            x = block(x, cond_at(n - i), noise[i])
        full_noise = noise[-1] if self.config.pixel_noise else None
        height = seg.shape[-2]
        if torch.is_grad_enabled() or seg.shape[-2] * seg.shape[-1] <= BAND_AREA:
            return self._full_res(x, seg, full_noise, 0, height)
        # a large render: the full-resolution layers a band of rows at a time (the same pixels), as their
        # activations make a render's peak: 1024 x 1024 with the v2 landscape model, 761 -> 482 MB in a fresh process
        rows = max(2, BAND_AREA // seg.shape[-1]) // 2 * 2
        bands = [self._full_res(x, seg, full_noise, a, min(a + rows, height)) for a in range(0, height, rows)]
        return torch.cat(bands, -2)

    def _full_res(self, x: torch.Tensor, seg: torch.Tensor, noise: torch.Tensor | None, top: int, bottom: int):
        """Output rows ``top:bottom`` from the last block's ``x`` (half size): upsample, concatenate the labels,
        the full-resolution convolutions, ``to_rgb``. A band reads enough rows around it (a halo of one row
        per 3x3 convolution, one more half-size row per side for the upsampling) to give the same pixels as
        the whole image: only the halo rows see the band's own padding, and they are cut off."""
        height = seg.shape[-2]
        halo = self.config.head_layers + 1  # full_0, full_rest, to_rgb: 3x3 each
        lo, hi = max(0, top - halo) // 2 * 2, min(height, bottom + halo + 1) // 2 * 2
        s0, s1 = max(0, lo // 2 - 1), min(x.shape[-2], hi // 2 + 1)
        up = self._up(x[..., s0:s1, :])[..., lo - 2 * s0 : hi - 2 * s0, :]
        x = torch.cat([up, seg[..., lo:hi, :].to(x.dtype)], 1)  # the upsampled features go once concatenated
        x = self.full_0(x)
        for k, conv in enumerate([None, *self.full_rest]):
            if conv is not None:
                x = conv(x)
            if noise is not None:
                band_noise = noise[..., lo:hi, :].to(x.dtype)  # bf16: half the memory
                x = x + self.full_noise[k : k + 1].to(x.dtype) * band_noise
            x = F.leaky_relu(x, 0.2, inplace=not torch.is_grad_enabled())  # no copy when rendering
        return torch.tanh(self.to_rgb(x))[..., top - lo : bottom - lo, :]


# --------------------------------------------------------------------------------------------------
# weights on disk


def save_weights(model: DaubGenerator, path: str | Path, half: bool = True, info: dict | None = None) -> None:
    """Write ``model`` as safetensors (fp16 by default) with its config (and ``info``) as metadata."""
    meta = {"config": json.dumps(asdict(model.config))}
    if info:
        meta["info"] = json.dumps(info)
    write_tagged(path, model.state_dict(), "daub-generator-v1", meta, half=half)


def load_weights(path: str | Path) -> DaubGenerator:
    """Read a model written by :func:`save_weights` (fp32 in memory)."""
    meta, sd = read_tagged(path, "daub-generator-v1", "a Daub generator")
    cfg = json.loads(meta["config"])
    cfg["channels"], cfg["hidden"], cfg["default_size"] = (
        tuple(cfg[k]) for k in ("channels", "hidden", "default_size")
    )
    model = DaubGenerator(DaubConfig(**cfg))
    model.load_state_dict(sd)
    return model.eval()


# --------------------------------------------------------------------------------------------------
# the backend


class EmbeddedGenerator(BaseGenerator):
    """A :class:`DaubGenerator` behind the :class:`~synth.generators.base.Generator` protocol.

    Options:
        truncation: scale of the style code and of the pixel noise (0 = one image for every seed, 1 = full
            variety; default 1).
        style: a ``[z_dim]`` style vector to use instead of the seed's (e.g. from a photo encoder).
        region_seeds: ``{class id: seed}`` - re-draw those classes' regions with their own seed (style
            code and pixel noise) and keep every other pixel as it was; 3D-noise (v2) models only.
    """

    options = ("truncation", "style", "region_seeds")

    def __init__(self, name: str, model: DaubGenerator, device=None, dtype=None, fast: bool = True):
        self.name = name
        self.model = model
        self.palette = load_palette(model.config.palette)
        # instance norm at 1/multiple scale needs at least 2x2 there: sides of at least two multiples
        multiple = model.config.multiple
        self.size_rule = SizeRule(multiple, tuple(model.config.default_size), max_side=1024, min_side=2 * multiple)
        self._device, self._dtype = pick_device(device, dtype)
        # bfloat16 autocast + channels_last: ~3x faster on CPUs with AVX-512 BF16 (see `daub bench`).
        self.fast = fast and self._device.type == "cpu"
        self.model.to(self._device)
        if self.fast:
            self.model.to(memory_format=torch.channels_last)

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def regions(self) -> bool:
        """Whether ``region_seeds`` works: 3D-noise (v2) models re-draw one class's region on its own."""
        return bool(self.model.config.noise_3d)

    def style_code(self, seed: int, truncation: float = 1.0) -> torch.Tensor:
        """The style vector ``z`` a seed stands for (same on every machine)."""
        return seed_inputs(self.model, seed, 32, 32, truncation)[0]

    def _region_inputs(self, ids: np.ndarray, z: torch.Tensor, noise: list, region_seeds: dict, truncation: float):
        """Replace the code and pixel noise inside each class of ``region_seeds`` by that seed's."""
        if not self.model.config.noise_3d:
            raise ValueError("region_seeds needs a 3D-noise (v2) model; this one has one style code per image")
        if not isinstance(region_seeds, dict):
            raise ValueError(f"region_seeds must be a dict {{class id: seed}}, got {type(region_seeds).__name__}")
        h, w = ids.shape
        zmap = z[:, :, None, None].expand(-1, -1, h, w).clone()
        noise = [m.clone() for m in noise]
        ids_t = torch.from_numpy(ids.astype(np.int64))
        for cls, seed in region_seeds.items():
            if not (isinstance(cls, (int, np.integer)) and 0 <= int(cls) < self.palette.num_classes):
                raise ValueError(f"region_seeds: {cls!r} is not a class id of palette {self.palette.name!r}")
            rz, rnoise = seed_inputs(self.model, int(seed), h, w, truncation)
            inside = ids_t == int(cls)
            zmap[:, :, inside] = rz[None, :, None].to(zmap.dtype)
            for k, m in enumerate(noise):  # the noise maps are subsampled like the label pyramid
                step = h // m.shape[-2]
                sub = inside[::step, ::step]
                noise[k][:, :, sub] = rnoise[k][:, :, sub]
        return zmap, noise

    @torch.inference_mode()
    def _generate(
        self, ids: np.ndarray, seeds: list[int], truncation: float = 1.0, style=None, region_seeds: dict | None = None
    ):
        if not 0.0 <= float(truncation) <= 2.0:
            raise ValueError(f"truncation must be in 0..2, got {truncation}")
        seg = one_hot(ids, self.palette, dontcare=self.model.config.label_nc > self.palette.num_classes)
        seg = seg[None].expand(len(seeds), -1, -1, -1)
        if style is not None:
            z = torch.as_tensor(np.asarray(style), dtype=torch.float32).reshape(1, -1).expand(len(seeds), -1)
            if z.shape[1] != self.model.config.z_dim:
                raise ValueError(f"style must have {self.model.config.z_dim} values, got {z.shape[1]}")
        h, w = ids.shape
        inputs = [seed_inputs(self.model, s, h, w, truncation) for s in seeds]
        if style is None:
            z = torch.stack([zi for zi, _ in inputs])
        noise = [torch.cat(maps) for maps in zip(*(ni for _, ni in inputs))]
        seg = seg.to(self._device)
        if not region_seeds:
            return to_pil(self._run(seg, z, noise))
        # re-drawn classes from their own seeds; every other pixel exactly as without region_seeds (the
        # network's receptive field would otherwise carry the new noise some way into the neighbours)
        zmap, rnoise = self._region_inputs(ids, z, noise, region_seeds, truncation)
        redrawn = torch.from_numpy(np.isin(ids, [int(c) for c in region_seeds])).to(self._device)
        return to_pil(torch.where(redrawn, self._run(seg, zmap, rnoise), self._run(seg, z, noise)))

    def _run(self, seg: torch.Tensor, z: torch.Tensor, noise: list) -> torch.Tensor:
        """One forward pass, bf16 autocast + channels_last when ``fast``."""
        z = z.to(self._device)
        if self.fast:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.model(seg.contiguous(memory_format=torch.channels_last), z, noise)
        return self.model(seg.to(self._dtype), z.to(self._dtype), noise)


def seed_inputs(model: DaubGenerator, seed: int, height: int, width: int, truncation: float = 1.0):
    """What a seed stands for, the same on every machine: the style code ``z`` ``[z_dim]`` and, for
    pixel-noise models, the noise maps ``[1, 1, h, w]`` for an image of that size; both scaled by
    ``truncation`` (0: no seed left in the image, the same picture for every seed)."""
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(model.config.z_dim, generator=g) * float(truncation)
    noise = model.make_noise(1, height, width, generator=g)
    return z, noise if float(truncation) == 1.0 else [m * float(truncation) for m in noise]


def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


def load_embedded(name: str, weights: str | Path | None = None, device=None, dtype=None, fast: bool = True):
    """Load an embedded model from ``weights`` (default: the file shipped in ``synth/weights``)."""
    path = Path(weights) if weights else weights_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"embedded model {name!r} has no weights at {path}; train them with "
            f"`daub train --palette {name} ...` (see README) or pass weights=PATH"
        )
    return EmbeddedGenerator(name, load_weights(path), device=device, dtype=dtype, fast=fast)


def load_landscape(**kw) -> EmbeddedGenerator:
    """``synth.load("landscape")``: Stanford Background model, 4:3 (256x192) by default, any multiple of 32."""
    return load_embedded("landscape", **kw)


def load_facades(**kw) -> EmbeddedGenerator:
    """``synth.load("facades")``: CMP Facades model, 256x256 by default, any multiple of 32."""
    return load_embedded("facades", **kw)


def available(key: str, weights: str | Path | None = None, **_) -> tuple[bool, str]:
    path = Path(weights) if weights else weights_path(key)
    return (True, "") if path.is_file() else (False, f"no weights at {path} (train with `daub train`)")
