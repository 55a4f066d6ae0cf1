"""Where a generator's spectral energy lies against the val photos': on the horizontal/vertical axes or off them.

    python scripts/axis_bands.py facades synth/weights/facades.safetensors runs/fv3/facades.safetensors

For each weights file: `daub eval`'s axis-energy share (all val maps x ``--seeds``; no judge, so seconds,
not minutes) and, per band of frequency rings, the power on the axes and off them in dB against the real
photos' (0 = as much as the photos). Straight edges (frames, sills) put energy on the axes; grain puts
it everywhere. Prints JSON.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import synth
from synth.data import BASE_SIZES, load_split, to_model_size
from synth.evaluate import default_dataset
from synth.generators.base import to_uint8
from synth.metrics import axis_band_db, axis_energy_share


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=["landscape", "facades"])
    p.add_argument("weights", nargs="+")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--limit", type=int, default=None)
    a = p.parse_args()
    photos, labels, _ = load_split(default_dataset(a.model), "val", BASE_SIZES[a.model], limit=a.limit)
    size = synth.load(a.model, weights=a.weights[0]).size_rule.default
    real_t, lab = to_model_size(photos, labels, size)
    real = to_uint8(real_t)
    pal = synth.palette(a.model)
    report: dict = {"real_axis_share": round(axis_energy_share(real), 4)}
    for path in a.weights:
        gen = synth.load(a.model, weights=path)
        fake = np.stack(
            [np.array(im) for ids in lab.numpy() for im in gen.generate(ids.astype(pal.dtype), num_images=a.seeds)]
        )
        report[path] = {
            "axis_share": round(axis_energy_share(fake), 4),
            "bands_db_on_off_axis": axis_band_db(fake, real),
        }
    print("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in report.items()) + "\n}")


if __name__ == "__main__":
    main()
