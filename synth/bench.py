"""``daub bench``: speed figures as JSON.

* ``daub bench labels`` — milliseconds to turn a painted ADE20K map into ids: exact colours,
  5 % blended edge pixels, and the naive per-class ``np.all(img == colour, axis=-1)`` loop for
  comparison, all measured in the same run (warm-up first, then the median of several runs).
* ``daub bench generators`` — ms per image of the embedded models (bf16 and fp32) beside the
  official-size SPADE generator (ngf=64, random weights), measured in the same run; ``--compare
  NAME=PATH`` adds other embedded weights (e.g. a v2 run) to the same run.
* ``daub bench segmenters`` — ms per photo of the "photo -> label map" segmenters (a 320x240 landscape
  and a 256x256 facades photo through ``synth.segmenter(name)``); ``--compare NAME=PATH`` adds other
  segmenter weights (e.g. a stronger judge) to the same run.
* ``daub bench serve`` — the web demo under load: N concurrent clients x renders through ``/render``
  (latency, renders/s, server RSS and drift, temp files left); see :mod:`synth.bench_serve`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from synth.commands import OneLineParser, add_compare, parse_compare


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``runs`` calls, after ``warmup`` calls."""
    return timings(fn, runs, warmup)[0]


def timings(fn: Callable[[], object], runs: int, warmup: int = 1) -> tuple[float, float]:
    """Medians of wall time and of this process's CPU time of ``fn()``, in milliseconds.

    CPU time barely moves when other processes share the cores; wall time is what a user waits.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return round(statistics.median(wall), 3), round(statistics.median(cpu), 3)


def painted_map(palette, size: int = 1024, block: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A ``size x size`` map of ``block``-pixel squares (default ``size // 32``) of random classes.

    Returns ``(ids, exact paint colours)``.
    """
    rng = np.random.default_rng(seed)
    block = block or max(2, size // 32)
    n = -(-size // block)
    small = rng.integers(0, palette.num_classes, (n, n))
    ids = np.repeat(np.repeat(small, block, 0), block, 1)[:size, :size].astype(palette.dtype)
    return ids, palette.to_colors(ids)


def blend_edges(rgb: np.ndarray, ids: np.ndarray, fraction: float = 0.05, seed: int = 0):
    """Blend ``fraction`` of all pixels, taken on class boundaries, with a neighbour, as a soft brush leaves them.

    Each chosen pixel becomes ``a * own + (1 - a) * right-or-lower neighbour`` with ``a`` uniform in
    0.15..0.85. Returns ``(blended rgb copy, partner)``: ``partner`` is ``ids`` except at blended
    pixels, where it is the neighbour's id (either id is a right answer there).
    """
    rng = np.random.default_rng(seed)
    h, w = ids.shape
    right = np.zeros_like(ids, bool)
    right[:, :-1] = ids[:, :-1] != ids[:, 1:]
    down = np.zeros_like(ids, bool)
    down[:-1] = ids[:-1] != ids[1:]
    ys, xs = np.nonzero(right | down)
    want = int(round(fraction * h * w))
    if len(ys) < want:
        raise ValueError(f"only {len(ys)} boundary pixels, need {want}; use smaller blocks")
    pick = rng.choice(len(ys), want, replace=False)
    ys, xs = ys[pick], xs[pick]
    ny = np.where(right[ys, xs], ys, ys + 1)
    nx = np.where(right[ys, xs], xs + 1, xs)
    a = rng.uniform(0.15, 0.85, (len(ys), 1))
    out = rgb.copy()
    out[ys, xs] = np.rint(a * rgb[ys, xs] + (1 - a) * rgb[ny, nx]).astype(np.uint8)
    partner = ids.copy()
    partner[ys, xs] = ids[ny, nx]
    return out, partner


def naive_labels(rgb: np.ndarray, palette) -> np.ndarray:
    """The per-class loop everyone writes first: one full-image comparison per colour."""
    ids = np.zeros(rgb.shape[:2], palette.dtype)
    for i, colour in zip(palette.lut_ids, palette.lut_paint):
        ids[np.all(rgb == colour, axis=-1)] = i
    return ids


def bench_labels(args: argparse.Namespace) -> dict:
    """Median milliseconds of :func:`synth.labels.to_labels` on an ADE20K map, exact and blended, vs. naive."""
    import palettes
    from synth.labels import to_labels

    if args.size < 64 or args.runs < 1 or args.naive_runs < 1:
        raise ValueError("--size must be >= 64 and --runs, --naive-runs >= 1")
    palette = palettes.load("ade20k")
    ids, exact = painted_map(palette, args.size)
    blended, partner = blend_edges(exact, ids, 0.05)
    # Same answers first: the fast path must agree with the naive loop on exact paint.
    if not np.array_equal(to_labels(exact, palette), naive_labels(exact, palette)):
        raise RuntimeError("to_labels disagrees with the naive loop on exact colours")
    out, report = to_labels(blended, palette, return_report=True)
    soft = partner != ids
    result = {"palette": palette.name, "size": [args.size, args.size], "runs": args.runs}
    for key, fn, runs in (
        ("exact", lambda: to_labels(exact, palette), args.runs),
        ("blended", lambda: to_labels(blended, palette), args.runs),
        ("naive", lambda: naive_labels(exact, palette), args.naive_runs),
    ):
        result[f"{key}_ms"], result[f"{key}_cpu_ms"] = timings(fn, runs)
    result["blended_pixels"] = report.snapped
    # blended pixels labelled as one of the two classes they mix; every other pixel must stay exact
    result["blended_as_either"] = round(float(np.mean((out == ids)[soft] | (out == partner)[soft])), 4)
    result["unblended_exact"] = bool(np.array_equal(out[~soft], ids[~soft]))
    result["machine"] = f"{platform.machine()} {platform.system()}, {os.cpu_count()} cpus"
    result["load_average_1min"] = round(os.getloadavg()[0], 2)  # other work on the machine slows wall times
    result["numpy"] = np.__version__
    return result


def bench_generators(args: argparse.Namespace) -> dict:
    """Median ms per image of the embedded models beside official-size SPADE, in the same run.

    Embedded models: the default path (bfloat16 autocast + channels_last on CPU) and plain fp32, at
    256x256 (and 256x192 for landscape). Baseline: the official SPADE ade20k architecture at ngf=64 with
    random weights (same cost as the NVlabs checkpoint, which cannot be downloaded here), fp32, 256x256.
    """
    import torch

    import synth
    from synth.generators import availability
    from synth.generators.embedded import EmbeddedGenerator
    from synth.generators.spade import random_spade

    if args.runs < 1 or args.spade_runs < 1:
        raise ValueError("--runs and --spade-runs must be >= 1")
    result: dict = {
        "unit": "median wall ms per image (cpu ms beside it)",
        "torch_threads": torch.get_num_threads(),
        "models": {},
    }
    runs = [(name, name, None) for name in ("landscape", "facades")]
    runs += [(label, None, path) for label, path in parse_compare(getattr(args, "compare", None))]
    for label, name, path in runs:
        if path is not None:
            from synth.generators.embedded import load_weights

            name = load_weights(path).config.palette
        ok, why = availability(name, **({"weights": path} if path else {}))
        if not ok:
            result["models"][label] = {"skipped": why}
            continue
        fast = synth.load(name, **({"weights": path} if path else {}))
        plain = EmbeddedGenerator(name, fast.model, fast=False)
        figures = {}
        for w, h in [(256, 256)] + ([(256, 192)] if name == "landscape" else []):
            ids = np.zeros((h, w), fast.palette.dtype)
            ids[h // 2 :] = 1
            for key, gen in (("bf16_channels_last", fast), ("fp32", plain)):
                wall, cpu = timings(lambda g=gen, i=ids: g(i, seed=0), args.runs, warmup=2)
                figures[f"{w}x{h}_{key}"] = {"ms": wall, "cpu_ms": cpu}
        result["models"][label] = figures
    spade = random_spade("ade20k", ngf=64)
    ids = np.zeros((256, 256), np.uint8)
    ids[128:] = 3
    wall, cpu = timings(lambda: spade(ids), args.spade_runs, warmup=1)
    result["models"]["spade-ade20k ngf=64 (random weights)"] = {"256x256_fp32": {"ms": wall, "cpu_ms": cpu}}
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    return result


def bench_segmenters(args: argparse.Namespace) -> dict:
    """Median ms per photo of the small segmenters (the demo's photo -> label map path), in one run.

    Each times ``segmenter(photo)`` on a random photo at its dataset's size (``synth.data.BASE_SIZES``:
    landscape 320x240, facades 256x256); ``args.compare`` adds ``NAME=PATH`` weights (their palette is
    read from the file).
    """
    import torch

    from synth.data import BASE_SIZES
    from synth.segmenters.small import load_small, read_segmenter

    if args.runs < 1:
        raise ValueError("--runs must be >= 1")
    result: dict = {"unit": "median wall ms per photo (cpu ms beside it)", "torch_threads": torch.get_num_threads()}
    runs = [(name, load_small(name)) for name in BASE_SIZES]
    runs += [(label, read_segmenter(path)) for label, path in parse_compare(getattr(args, "compare", None))]
    models = {}
    for label, seg in runs:
        w, h = BASE_SIZES[seg.palette.name]
        photo = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
        wall, cpu = timings(lambda s=seg, x=photo: s(x), args.runs, warmup=2)
        params = sum(p.numel() for p in seg.model.parameters())
        models[label] = {
            "photo": f"{w}x{h}",
            "input": "x".join(map(str, seg.size)),
            "ms": wall,
            "cpu_ms": cpu,
            "parameters": params,
        }
    result["models"] = models
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    return result


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="daub bench", description="Print speed figures as JSON.")
    sub = p.add_subparsers(dest="what", required=True, metavar="WHAT", parser_class=OneLineParser)
    lab = sub.add_parser("labels", help="paint -> ids speed: exact, 5 %% blended edges, naive loop")
    lab.add_argument("--size", type=int, default=1024, help="side of the square ADE20K map (default 1024)")
    lab.add_argument("--runs", type=int, default=7, help="timed runs per figure (median reported; default 7)")
    lab.add_argument("--naive-runs", type=int, default=3, help="timed runs of the slow naive loop (default 3)")
    gen = sub.add_parser("generators", help="ms per image: embedded models beside official-size SPADE")
    gen.add_argument("--runs", type=int, default=9, help="timed runs per embedded figure (default 9)")
    gen.add_argument("--spade-runs", type=int, default=3, help="timed runs of official-size SPADE (default 3)")
    add_compare(gen, "time", "v2=runs/x/landscape.safetensors")
    segs = sub.add_parser("segmenters", help="ms per photo: the photo -> label map segmenters")
    segs.add_argument("--runs", type=int, default=9, help="timed runs per segmenter (default 9)")
    add_compare(segs, "time", "judge=runs/seg-landscape.safetensors")
    from synth import bench_batch, bench_serve

    serve = sub.add_parser("serve", help="the web demo under load: N clients x renders through /render")
    bench_serve.add_arguments(serve)
    batch = sub.add_parser("batch", help="maps/s of render-batch: local, Ray with 1 and 2 actors")
    flick = sub.add_parser("flicker", help="a sequence with one seed vs. independent seeds per frame")
    bench_batch.add_arguments(batch, flick)
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.what == "serve":
        from synth import bench_serve

        result = bench_serve.run(args)
    elif args.what in ("batch", "flicker"):
        from synth import bench_batch

        result = bench_batch.bench_batch(args) if args.what == "batch" else bench_batch.bench_flicker(args)
    elif args.what == "segmenters":
        result = bench_segmenters(args)
    else:
        result = bench_labels(args) if args.what == "labels" else bench_generators(args)
    text = json.dumps(result, indent=1)
    print(text)
    if getattr(args, "out", None):
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0
