"""``daub convert``: an official SPADE ``latest_net_G.pth`` -> ``.safetensors`` (spectral norm folded).

Argument parsing and printing only; the conversion is :func:`synth.generators.spade_weights.convert`.
"""

from __future__ import annotations

import argparse

from synth.generators.spade_weights import convert
from synth.nets.spade import UPSAMPLINGS


def main(argv: list[str]) -> int:
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


__all__ = ["main"]
