"""``daub bench batch`` and ``daub bench flicker``: many maps at once, as JSON.

* ``batch``: maps/s of :mod:`synth.batch` on N generated landscape maps: the local path, then Ray with 1
  and 2 actors (a Ray started on this machine; its start-up is timed apart), each into a fresh folder;
  whether the Ray photos are byte-identical to the local ones.
* ``flicker``: a sequence (a tree block moving across a coast) rendered with one seed for every frame
  and with an independent seed per frame (the baseline); the mean change inside unchanged labels of each.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def add_arguments(batch: argparse.ArgumentParser, flick: argparse.ArgumentParser) -> None:
    batch.add_argument("--maps", type=int, default=48, help="label maps to render per path (default 48)")
    batch.add_argument("--size", default="256x192", help="map size WxH (default 256x192)")
    batch.add_argument("--model", default="landscape", help="backend (default landscape)")
    batch.add_argument("--workers", default="1,2", help="Ray actor counts to time (default 1,2; 0: no Ray)")
    flick.add_argument("--frames", type=int, default=24, help="frames of the sequence (default 24)")
    flick.add_argument("--model", default="landscape", help="backend (default landscape)")
    flick.add_argument("--seed", type=int, default=0, help="seed of the same-seed run (default 0)")


def coast(width: int, height: int, shift: int = 0, seed: int = 0) -> np.ndarray:
    """A landscape map: sky, a mountain band, water, and a tree block ``shift`` px from the left."""
    import synth

    pal = synth.palette("landscape")
    ids = np.full((height, width), pal.id_of("sky"), np.uint8)
    ids[height // 3 : height // 2] = pal.id_of("mountain")
    ids[height // 2 :] = pal.id_of("water")
    rng = np.random.default_rng(seed)
    top = int(rng.integers(height // 8, height // 3))
    ids[top : top + height // 3, shift + width // 16 : shift + width // 16 + width // 6] = pal.id_of("tree")
    return ids


def _write_maps(folder: Path, n: int, width: int, height: int) -> None:
    from synth.labels import write_index_png

    for k in range(n):
        write_index_png(
            coast(width, height, shift=(7 * k) % (width // 2), seed=k), folder / f"map{k:03d}.png", "landscape"
        )


def bench_batch(args: argparse.Namespace) -> dict:
    from synth.batch import Settings, plan, render_local, render_ray
    from synth.commands import parse_size

    width, height = parse_size(args.size)
    counts = [int(w) for w in str(args.workers).split(",") if w.strip() and int(w) > 0]
    settings = Settings(args.model, threads=1)
    work = Path(tempfile.mkdtemp(prefix="daub-bench-batch-"))
    result: dict = {
        "unit": "maps per second (wall), one photo per map",
        "model": args.model,
        "maps": args.maps,
        "size": [width, height],
        "torch_threads_per_renderer": 1,
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cpus",
        "load_average_1min_start": round(os.getloadavg()[0], 2),
    }
    try:
        (work / "in").mkdir()
        _write_maps(work / "in", args.maps, width, height)
        local = render_local(plan(work / "in", work / "local", [0]), work / "local", settings, quiet=True)
        result["local"] = {"maps_per_s": round(local.rendered / local.seconds, 2), "seconds": local.seconds}
        reference = {p.name: p.read_bytes() for p in (work / "local").glob("*.png")}
        if counts:
            import ray

            t0 = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            result["ray_start_s"] = round(time.perf_counter() - t0, 2)
            try:
                for n in counts:
                    out = work / f"ray{n}"
                    s = render_ray(plan(work / "in", out, [0]), out, settings, workers=n, quiet=True)
                    same = {p.name: p.read_bytes() for p in out.glob("*.png")} == reference
                    result[f"ray_{n}_workers"] = {
                        "maps_per_s": round(s.rendered / s.seconds, 2),
                        "seconds": s.seconds,
                        "byte_identical_to_local": same,
                    }
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    return result


def bench_flicker(args: argparse.Namespace) -> dict:
    import synth
    from synth.video import flicker, render_frames

    gen = synth.load(args.model)
    w, h = gen.size_rule.default
    ids = [coast(w, h, shift=3 * k) for k in range(args.frames)]
    same = flicker(ids, render_frames(gen, ids, seed=args.seed))
    independent = flicker(ids, render_frames(gen, ids, seed=args.seed, independent=True))
    return {
        "unit": "mean absolute change (0..255) between consecutive frames inside pixels whose label did not change",
        "model": args.model,
        "frames": args.frames,
        "size": [w, h],
        "same_seed": round(same, 3),
        "independent_seeds_baseline": round(independent, 3),
        "ratio": round(same / independent, 3) if independent else None,
    }
