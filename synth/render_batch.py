"""``daub render-batch IN OUT --backend NAME [--seeds 0,1,2] [--ray [ADDRESS]]``: see :mod:`synth.batch`."""

from __future__ import annotations

import argparse
import json
import sys

from synth.batch import MANIFEST, Settings, parse_seeds, run_batch
from synth.commands import RENDER_OPTIONS, OneLineParser, load_kwargs


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="daub render-batch",
        description="Every label map under IN (index PNGs, or colour PNGs of --palette) -> a photo under OUT with "
        f"the same relative path. Resumable; OUT/{MANIFEST} traces every photo and failure. Exit status: 0 when "
        "every map rendered, 1 when some failed (the summary says how many), 2 for a bad command line.",
    )
    p.add_argument("input", help="folder of label maps (searched recursively)")
    p.add_argument("output", help="folder for the photos (created; finished photos are skipped on a rerun)")
    p.add_argument("--backend", default="landscape", help="backend name (default landscape)")
    p.add_argument("--palette", default=None, help="palette of colour maps (default: the backend's)")
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0,1,2 or 0-3; several: NAME-seedS.png (default 0)")
    p.add_argument("--prompt", default=None, help="text prompt (text-conditioned backends)")
    p.add_argument("--negative-prompt", default=None, help="negative prompt (text-conditioned backends)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (diffusion backends)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (diffusion backends)")
    p.add_argument("--checkpoint", default=None, help="weights file for spade-* backends")
    p.add_argument("--base-model", default=None, help="controlnet-seg: Stable Diffusion 1.5 model id or folder")
    p.add_argument("--controlnet", default=None, help="controlnet-seg: ControlNet-seg model id or folder")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per renderer (default: torch's)")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="render on Ray Data (pip install 'daub[scale]'): a cluster address (ray://host:10001, auto), "
        "or none for RAY_ADDRESS if set, else a Ray started on this machine",
    )
    p.add_argument("--workers", type=int, default=2, help="Ray actors, one loaded generator each (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    options = {name: getattr(args, flag) for flag, name in RENDER_OPTIONS.items() if getattr(args, flag) is not None}
    settings = Settings(args.backend.strip().lower(), args.palette, load_kwargs(args), options, args.threads)
    if args.ray is not None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError("--ray needs Ray Data: pip install 'daub[scale]'") from None
    summary = run_batch(
        args.input,
        args.output,
        settings,
        parse_seeds(args.seeds),
        ray_address=args.ray or None,
        use_ray=args.ray is not None,
        workers=args.workers,
        quiet=args.quiet,
    )
    print(json.dumps(summary.to_dict()))
    if summary.failed:
        print(f"daub render-batch: {summary.failed} of {summary.total} maps failed (see {MANIFEST})", file=sys.stderr)
        return 1
    return 0
