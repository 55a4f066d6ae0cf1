"""What ``heatmaps=True`` costs per denoising step on ControlNet-seg; prints one JSON object.

Builds the tiny random SD1.5 + ControlNet of ``tests/tiny_diffusion.py`` in a temporary folder (no downloads),
then, in this one process, times ``gen(ids, heatmaps=False)`` and ``gen(ids, heatmaps=True)`` alternately,
``--repeats`` times at each of two step counts, and reports medians. The per-step cost is the slope over the
step counts (so the once-per-call work, tokenising and upsampling the maps, is reported apart as
``per_call_ms``)::

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/bench_heatmaps.py --repeats 9 --size 64 256
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="timed calls per setting (median taken)")
    ap.add_argument("--steps", type=int, nargs=2, default=(4, 16), help="the two step counts")
    ap.add_argument("--size", type=int, nargs="+", default=(64, 256), help="square output sides to time")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default=None, help="cpu / cuda (default: synth's choice)")
    args = ap.parse_args(argv)

    import numpy as np
    import tiny_diffusion as tiny
    import torch

    import synth

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        base = tiny.save_tiny_base(Path(tmp) / "sd15")
        seg = tiny.save_tiny_controlnet(Path(tmp) / "seg")
        gen = synth.load("controlnet-seg", base_model=str(base), controlnet=str(seg), device=args.device)
    pal = gen.palette
    prompt = "a mountain lake under a cloudy sky, pine trees on the shore"
    report: dict = {"device": str(gen.device), "threads": args.threads, "repeats": args.repeats, "prompt": prompt}
    sync = torch.cuda.synchronize if gen.device.type == "cuda" else (lambda: None)
    for side in args.size:
        ids = np.full((side, side), pal.id_of("sky"), np.uint8)
        ids[side // 2 :] = pal.id_of("water")
        times: dict = {}
        for steps in args.steps:
            for heat in (False, True):  # warm-up
                gen(ids, seed=0, steps=steps, prompt=prompt, heatmaps=heat)
            runs: dict = {False: [], True: []}
            for _ in range(args.repeats):
                for heat in (False, True):
                    sync()
                    t0 = time.perf_counter()
                    gen(ids, seed=0, steps=steps, prompt=prompt, heatmaps=heat)
                    sync()
                    runs[heat].append(time.perf_counter() - t0)
            times[steps] = {heat: statistics.median(r) for heat, r in runs.items()}
        (s0, s1) = args.steps
        per_step = {heat: (times[s1][heat] - times[s0][heat]) / (s1 - s0) for heat in (False, True)}
        per_call = {heat: times[s0][heat] - s0 * per_step[heat] for heat in (False, True)}
        report[f"{side}x{side}"] = {
            "median_call_ms": {
                f"{steps}_steps": {"off": round(t[False] * 1e3, 2), "on": round(t[True] * 1e3, 2)}
                for steps, t in times.items()
            },
            "per_step_ms": {"off": round(per_step[False] * 1e3, 3), "on": round(per_step[True] * 1e3, 3)},
            "per_step_extra_ms": round((per_step[True] - per_step[False]) * 1e3, 3),
            "per_step_extra_pct": round(100 * (per_step[True] / per_step[False] - 1), 1),
            "per_call_extra_ms": round((per_call[True] - per_call[False]) * 1e3, 2),
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
