"""Where do a generator's streaks come from? Render label maps with no region edges (one class
everywhere) and one diagonal edge, and measure the axis share of the spectral energy.

    python scripts/streak_probe.py landscape [--weights W] [--out probe.png]

Stripes on the edge-free maps come from the image border (zero padding), not from painted edges.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

import synth
from synth.metrics import axis_energy_share


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=["landscape", "facades"])
    p.add_argument("--weights", default=None)
    p.add_argument("--out", default=None, help="write the renders (3 seeds per map) here")
    args = p.parse_args()
    gen = synth.load(args.model, **({"weights": args.weights} if args.weights else {}))
    w, h = gen.size_rule.default
    yy, xx = np.mgrid[:h, :w]
    a, b = (1, 6) if args.model == "landscape" else (0, 1)  # tree / mountain; background / facade
    diagonal = np.where(yy > xx * h / w, b, 0).astype(np.uint8)
    maps = {"uniform A": np.full((h, w), a, np.uint8), "uniform B": np.full((h, w), b, np.uint8), "diagonal": diagonal}
    rows = []
    for name, ids in maps.items():
        imgs = np.stack([np.array(im) for im in gen.generate(ids, seed=0, num_images=3)])
        centre = imgs[:, h // 6 : -h // 6, w // 8 : -w // 8]
        print(f"{name:10s} axis energy {axis_energy_share(imgs):.3f} (centre {axis_energy_share(centre):.3f})")
        rows.append(np.concatenate(list(imgs), 1))
    if args.out:
        Image.fromarray(np.concatenate(rows, 0)).save(args.out)


if __name__ == "__main__":
    main()
