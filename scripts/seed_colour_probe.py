"""How far do seeds move one class region's mean colour, against how far the photos' regions of that class
differ? On the val maps where the class covers at least ``--min-pixels``:

    python scripts/seed_colour_probe.py landscape mountain [--compare NAME=WEIGHTS ...] [--seeds 6]

``seed_std``: per map, the std over seeds of the region's mean colour (RGB in [0, 1], averaged over the
channels and maps); ``map_std``: the std over maps (seed 0); ``photo_std``: the same over the photos. A
``seed_std`` far below ``photo_std`` means no seed reaches most photos' colours, so a nearest-of-K-draws
search (``daub train --imle``) has nothing to choose from (the grey landscape mountains: 0.019 against 0.19).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import synth
from synth.data import BASE_SIZES, load_split, to_model_size
from synth.evaluate import default_dataset


def region_colours(gen, ids: np.ndarray, mask: np.ndarray, seeds: int) -> np.ndarray:
    """``[seeds, 3]``: the mean colour in [0, 1] of ``mask`` in ``gen``'s render of ``ids`` for each seed."""
    return np.stack([(np.asarray(gen(ids, seed=s), np.float32) / 255)[mask].mean(0) for s in range(seeds)])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=["landscape", "facades"])
    p.add_argument("cls", help="class name, e.g. mountain")
    p.add_argument("--compare", action="append", default=[], metavar="NAME=WEIGHTS", help="other generator weights")
    p.add_argument("--seeds", type=int, default=6)
    p.add_argument("--min-pixels", type=int, default=100)
    args = p.parse_args()
    pal = synth.palette(args.model)
    if args.cls not in pal.names:
        p.error(f"cls: {args.cls!r} is not a {args.model} class ({', '.join(pal.names)})")
    k = pal.names.index(args.cls)
    photos, labels, _ = load_split(default_dataset(args.model), "val", BASE_SIZES[args.model])
    gens = {
        name: synth.load(args.model, **({"weights": weights} if weights else {}))
        for name, weights in [("shipped", None)] + [tuple(c.split("=", 1)) for c in args.compare]
    }
    real, ids = to_model_size(photos, labels, gens["shipped"].size_rule.default)  # the size daub eval renders at
    keep = [i for i in range(len(ids)) if int((ids[i] == k).sum()) >= args.min_pixels]
    photo = np.stack([((real[i].numpy().transpose(1, 2, 0)[ids[i].numpy() == k] + 1) / 2).mean(0) for i in keep])
    out = {}
    for name, gen in gens.items():
        c = np.stack(
            [region_colours(gen, ids[i].numpy().astype(pal.dtype), ids[i].numpy() == k, args.seeds) for i in keep]
        )
        out[name] = {
            "maps": len(keep),
            "seed_std": round(float(c.std(1).mean()), 4),
            "map_std": round(float(c[:, 0].std(0).mean()), 4),
            "photo_std": round(float(photo.std(0).mean()), 4),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
