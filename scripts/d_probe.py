"""Which classes can a training run's discriminator tell from the generator's? Per class, on the val split:
p(own class) and p(fake) on the real photos, p(fake) on the generated images, the gap between the two, and
the class (not itself, not fake) its real pixels are most taken for.

    python scripts/d_probe.py landscape runs/x/resume-D.safetensors [--weights G] [--seeds 3] [--out d.json]
        [--split train --limit 72]

``--split train`` asks the same of the training photos: a class whose p(own class) is high there and low on
val is one the discriminator has memorised (the landscape mountains: `daub train --diffaug`).

A class whose gap stays near zero gets no push from the discriminator towards its real look (the grey
landscape mountains: `daub train --balance-fake`).
"""

from __future__ import annotations

import argparse
import json

import torch

from palettes import load as load_palette
from synth.data import BASE_SIZES, load_split, to_model_size
from synth.discriminator import SegDiscriminator, class_verdicts, real_confusion
from synth.evaluate import default_dataset
from synth.generators.embedded import load_weights, seed_inputs, weights_path
from synth.labels import one_hot
from synth.train import _load_fp16


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=["landscape", "facades"])
    p.add_argument("discriminator", help="a resume-D.safetensors of daub train")
    p.add_argument("--weights", default=None, help="generator weights (default: the shipped ones)")
    p.add_argument("--dataset", default=None, help="default ../shared/datasets/<name> next to the repo")
    p.add_argument("--d-channels", default="32,64,128,256,256", help="the run's --d-channels")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default=None, help="also write the figures here (JSON)")
    p.add_argument("--split", default="val", choices=["val", "train"], help="which photos and maps (default val)")
    p.add_argument("--limit", type=int, default=None, help="only the split's first N pairs (default all)")
    args = p.parse_args()
    pal = load_palette(args.model)
    G = load_weights(args.weights or weights_path(args.model)).eval()
    D = SegDiscriminator(pal.num_classes, tuple(int(c) for c in args.d_channels.split(",")))
    _load_fp16(D, args.discriminator)
    D.eval()
    photos, labels, _ = load_split(
        args.dataset or default_dataset(args.model), args.split, BASE_SIZES[args.model], args.limit
    )
    w, h = G.config.default_size
    real, lab = to_model_size(photos, labels, (w, h))
    sums, counts = torch.zeros(pal.num_classes, 3), torch.zeros(pal.num_classes)
    confusion = torch.zeros(pal.num_classes, pal.num_classes + 1)
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16):
        for i in range(0, len(real), 8):
            seg = one_hot(lab[i : i + 8], pal)
            classes = seg.argmax(1)  # don't-care: its own channel, past the classes
            real_logits = D(real[i : i + 8])
            confusion += real_confusion(real_logits, classes, pal.num_classes)
            for seed in range(args.seeds):  # seeds as synth.load(...)(ids, seed=k) draws them
                z, noise = seed_inputs(G, seed, h, w)
                fake = G(seg, z.expand(len(seg), -1), [n.expand(len(seg), -1, -1, -1) for n in noise])
                s, c = class_verdicts(real_logits, D(fake), classes, pal.num_classes)
                sums, counts = sums + s, counts + c
    rows = {}
    for k, name in enumerate(pal.names):
        if counts[k]:
            own, fake_real, fake_fake = (sums[k] / counts[k]).tolist()
            figures = {
                "p_own_real": own,
                "p_fake_real": fake_real,
                "p_fake_generated": fake_fake,
                "gap": fake_fake - fake_real,
            }
            rows[name] = {key: round(v, 3) for key, v in figures.items()}
            others = confusion[k, 1:] / confusion[k].sum()
            others[k] = -1.0
            rows[name]["taken_for"] = pal.names[int(others.argmax())]
            rows[name]["p_taken_for"] = round(float(others.max()), 3)
            print(f"{name:18s} " + "  ".join(f"{key} {v}" for key, v in rows[name].items()))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
