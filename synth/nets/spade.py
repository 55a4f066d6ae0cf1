"""The official NVlabs SPADE / GauGAN generator network and the configs of its three pretrained models.

SPADE: Park, Liu, Wang & Zhu, "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019.
This is an independent re-implementation of the generator of https://github.com/NVlabs/SPADE
(``SPADEGenerator``, ``SPADEResnetBlock``, ``SPADE``; here :class:`SPADENet`, :class:`SPADEResnetBlock`,
:class:`SPADENorm`) in its non-VAE form with ``norm_G = "spectralspadesyncbatch3x3"``, with the official
module names, so that the state-dict keys of ``latest_net_G.pth`` match:

* the label map is one-hot encoded (classes, then a don't-care channel, then an instance-edge channel),
  downsampled to the latent grid and convolved (``fc``) into ``16 * ngf`` channels;
* SPADE residual blocks (``head_0``, ``G_middle_0/1``, ``up_0..up_3`` [+ ``up_4``]) with nearest x2
  upsampling between them, each normalising with a parameter-free batch norm (eval: running
  statistics) modulated per pixel by ``1 + gamma(seg)`` and ``beta(seg)``;
* ``conv_img`` after a leaky ReLU (slope 0.2), then ``tanh``.

Spectral-norm convs are kept in the layout ``torch.nn.utils.spectral_norm`` saves and can be folded into
plain convs (:meth:`SPADENet.fold_spectral_norm`). No I/O here: reading checkpoints is
:mod:`synth.generators.spade_weights`, the backend :mod:`synth.generators.spade`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from palettes import load as load_palette

#: ``num_upsampling_layers`` -> how many x2 upsamplings the generator makes (latent = size / 2^n).
UPSAMPLINGS = {"normal": 5, "more": 6, "most": 7}


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


class SPADENorm(nn.Module):
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
    """Two SPADENorm -> leaky ReLU -> 3x3 conv steps plus a shortcut (learned: SPADENorm + 1x1 conv if fin != fout)."""

    def __init__(self, fin: int, fout: int, semantic_nc: int, spectral_norm: bool = True):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        conv = SpectralNormConv2d if spectral_norm else nn.Conv2d
        self.conv_0 = conv(fin, fmiddle, 3, padding=1)
        self.conv_1 = conv(fmiddle, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = conv(fin, fout, 1, bias=False)
        self.norm_0 = SPADENorm(fin, semantic_nc)
        self.norm_1 = SPADENorm(fmiddle, semantic_nc)
        if self.learned_shortcut:
            self.norm_s = SPADENorm(fin, semantic_nc)

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


__all__ = [
    "CONFIGS", "UPSAMPLINGS", "SPADENet", "SPADENorm", "SPADEResnetBlock", "SpadeConfig", "SpectralNormConv2d",
]  # fmt: skip
