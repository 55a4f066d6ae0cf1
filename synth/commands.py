"""``daub labels`` and ``daub render``: the file-to-file commands.

``daub labels IN.png OUT.png --palette NAME`` turns a painted colour map into an index PNG;
``daub render IN.png OUT.png --backend NAME`` turns a colour map or index PNG into a photo.
Both take ``argv`` (without the command name) and return an exit code; errors are ``ValueError``
with a one-line message, which :mod:`synth.cli` prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from palettes import Palette
from palettes import load as load_palette


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (exit 2), like every daub error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_fill(value: str | None, palette: Palette) -> int | None:
    """``--fill`` value: a class id (``"2"``) or a class name (``"sky"``); ``None`` stays ``None``."""
    if value is None:
        return None
    if value.strip().isdigit():
        fill = int(value)
        if not palette.is_valid_id(np.asarray(fill)):
            raise ValueError(f"--fill {fill} is not an id of palette {palette.name!r}")
        return fill
    return palette.id_of(value)


def parse_size(value: str | None) -> tuple[int, int] | None:
    """``--size WxH`` -> ``(w, h)``."""
    if value is None:
        return None
    try:
        w, h = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 512x384, got {value!r}") from None
    if w <= 0 or h <= 0:
        raise ValueError(f"--size must be positive, got {value!r}")
    return w, h


def add_compare(parser: argparse.ArgumentParser, what: str, example: str) -> None:
    """``--compare NAME=PATH`` (repeatable): other weights measured in the same run as the shipped ones."""
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help=f"also {what} these weights in the same run (repeatable), e.g. {example}",
    )


def parse_compare(items: list[str] | None) -> list[tuple[str, str]]:
    """``["NAME=PATH", ...]`` -> ``[(name, path), ...]``; a malformed item or a missing file is an error."""
    pairs = []
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--compare must look like NAME=PATH, got {item!r}")
        pairs.append((name, path))
    for name, path in pairs:
        if not Path(path).is_file():
            raise FileNotFoundError(f"--compare {name}: no weights at {path}")
    return pairs


def output_paths(out: str | Path, n: int) -> list[Path]:
    """``OUT.png`` for one image; ``OUT-0.png, OUT-1.png, …`` for ``n > 1``."""
    out = Path(out)
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{k}{out.suffix or '.png'}") for k in range(n)]


def _check_output(path: Path) -> None:
    if not path.parent.is_dir():
        raise ValueError(f"output folder {path.parent} does not exist")


# --------------------------------------------------------------------------------------------------
# daub labels


def labels_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="daub labels",
        description="Painted colour map -> index PNG of label ids (the palette's paint colours as the PNG palette).",
    )
    p.add_argument("input", help="painted image (PNG/JPEG/…; RGB, RGBA or an index PNG)")
    p.add_argument("output", help="index PNG to write (8-bit palette PNG; 16-bit when ids exceed 255)")
    p.add_argument(
        "--palette", required=True, help="palette name: ade20k, cocostuff, cityscapes, coco133, facades, landscape"
    )
    p.add_argument("--report", action="store_true", help="print what the conversion did as JSON on stdout")
    p.add_argument(
        "--tolerance",
        type=float,
        default=None,
        help="RGB distance within which off-palette colours snap to the nearest paint colour (default 64)",
    )
    p.add_argument(
        "--off-palette",
        choices=("nearest", "fill", "error"),
        default="nearest",
        help="pixels beyond the tolerance: snap anyway, use the fill class, or fail (default nearest)",
    )
    p.add_argument("--fill", default=None, help="class (id or name) for transparent pixels and --off-palette fill")
    return p


def labels_main(argv: list[str]) -> int:
    """``daub labels IN OUT --palette NAME [--report] [--tolerance T] [--off-palette MODE] [--fill X]``."""
    from synth.labels import DEFAULT_TOLERANCE, open_image, to_labels, write_index_png

    args = labels_parser().parse_args(argv)
    palette = load_palette(args.palette)
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    if not tolerance >= 0:
        raise ValueError(f"--tolerance must be >= 0, got {args.tolerance}")
    out = Path(args.output)
    _check_output(out)
    ids, report = to_labels(
        open_image(args.input),
        palette,
        tolerance=tolerance,
        off_palette=args.off_palette,
        fill=parse_fill(args.fill, palette),
        return_report=True,
    )
    write_index_png(ids, out, palette)
    if args.report:
        print(json.dumps({"input": str(args.input), "output": str(out), "palette": palette.name, **report.to_dict()}))
    return 0


# --------------------------------------------------------------------------------------------------
# daub render

#: CLI option -> the backend option it sets (a backend that does not list it in ``options`` refuses it).
RENDER_OPTIONS = {
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "steps": "steps",
    "guidance": "guidance_scale",
}


def render_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="daub render", description="Label map (colour map or index PNG) -> photo PNG(s) with a backend."
    )
    p.add_argument("input", help="colour map painted with the palette's colours, or an index PNG of ids")
    p.add_argument("output", help="PNG to write; with --num-images N > 1: OUT-0.png, OUT-1.png, …")
    p.add_argument(
        "--backend",
        default="landscape",
        help="landscape (default), facades, spade-ade20k, spade-coco, spade-cityscapes or controlnet-seg",
    )
    p.add_argument("--palette", default=None, help="palette of the input (default: the backend's palette)")
    p.add_argument("--seed", type=int, default=0, help="base seed; image k uses seed + k (default 0)")
    p.add_argument("--prompt", default=None, help="text prompt (text-conditioned backends)")
    p.add_argument("--negative-prompt", default=None, help="negative prompt (text-conditioned backends)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (diffusion backends)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (diffusion backends)")
    p.add_argument(
        "--checkpoint", default=None, help="weights file for spade-* backends (official .pth or safetensors)"
    )
    p.add_argument("--base-model", default=None, help="controlnet-seg: Stable Diffusion 1.5 model id or folder")
    p.add_argument("--controlnet", default=None, help="controlnet-seg: ControlNet-seg model id or folder")
    p.add_argument("--instance", default=None, help="instance map PNG (ids or colours; backends that use instances)")
    p.add_argument(
        "--size", default=None, help="output size WxH (snapped to the backend's multiple); default: input size"
    )
    p.add_argument("--num-images", type=int, default=1, help="how many images (seeds seed..seed+N-1)")
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: best available)")
    return p


def load_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments for ``synth.load(args.backend, ...)`` from the command line."""
    from synth.generators import palette_of

    backend = args.backend.strip().lower()
    kwargs: dict = {}
    if args.device:
        kwargs["device"] = args.device
    if args.checkpoint:
        if not backend.startswith("spade-"):
            raise ValueError(f"--checkpoint applies to spade-* backends, not {backend!r}")
        if not Path(args.checkpoint).is_file():
            raise ValueError(f"--checkpoint: no such file: {args.checkpoint}")
        kwargs["checkpoint"] = args.checkpoint
    for flag in ("base_model", "controlnet"):
        value = getattr(args, flag)
        if value:
            if backend != "controlnet-seg":
                raise ValueError(f"--{flag.replace('_', '-')} applies to controlnet-seg, not {backend!r}")
            kwargs[flag] = value
    if args.palette and load_palette(args.palette).name != palette_of(backend):
        kwargs["palette"] = load_palette(args.palette).name
    return kwargs


def generate_options(args: argparse.Namespace, gen) -> dict:
    """Backend options from the command line, named as ``gen.options`` names them."""
    accepted = tuple(getattr(gen, "options", ()))
    options: dict = {}
    for cli_name, name in RENDER_OPTIONS.items():
        value = getattr(args, cli_name)
        if value is None:
            continue
        if name not in accepted:
            raise ValueError(f"backend {gen.name!r} does not take --{cli_name.replace('_', '-')}")
        options[name] = value
    if args.instance:
        if "instance" not in accepted:
            raise ValueError(f"backend {gen.name!r} does not use instance maps (--instance)")
        from synth.labels import read_instance_map

        options["instance"] = read_instance_map(args.instance)
    return options


class _Progress:
    """``callback(step, total, preview)`` for backends that report steps: a tqdm bar on stderr, opened at the first step."""

    def __init__(self, desc: str):
        self.desc = desc
        self.bar = None

    def __call__(self, step: int, total: int, preview=None) -> None:
        from tqdm.auto import tqdm

        if self.bar is None or self.bar.total != total or step < self.bar.n:  # a new image starts
            self.close()
            self.bar = tqdm(total=total, desc=self.desc, file=sys.stderr, unit="step")
        self.bar.update(int(step) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def render_main(argv: list[str]) -> int:
    """``daub render IN OUT --backend NAME [--palette] [--seed] [--prompt] … [--num-images N]``."""
    import synth
    from synth.generators import palette_of
    from synth.labels import to_labels

    args = render_parser().parse_args(argv)
    palette = load_palette(args.palette or palette_of(args.backend))
    if args.num_images < 1:
        raise ValueError(f"--num-images must be >= 1, got {args.num_images}")
    size = parse_size(args.size)
    paths = output_paths(args.output, args.num_images)
    _check_output(paths[0])
    ids = to_labels(args.input, palette)  # index PNGs are taken as ids, colour maps converted
    kwargs = load_kwargs(args)
    try:
        gen = synth.load(args.backend, **kwargs)
    except TypeError as e:
        raise ValueError(f"backend {args.backend!r} does not accept {sorted(kwargs)}: {e}") from None
    if gen.palette.name != palette.name:
        raise ValueError(f"backend {gen.name!r} takes palette {gen.palette.name!r}, not {palette.name!r}")
    options = generate_options(args, gen)
    if "instance" in options and options["instance"].shape != ids.shape:
        raise ValueError(f"instance map is {options['instance'].shape[::-1]}, label map is {ids.shape[::-1]} (W, H)")
    progress = _Progress(gen.name)
    if "callback" in getattr(gen, "options", ()):
        options["callback"] = progress
    try:
        images = gen.generate(ids, seed=args.seed, num_images=args.num_images, size=size, **options)
    finally:
        progress.close()
    if len(images) != len(paths):
        raise RuntimeError(f"backend {gen.name!r} returned {len(images)} images for --num-images {len(paths)}")
    for image, path in zip(images, paths):
        if not isinstance(image, Image.Image):
            raise RuntimeError(f"backend {gen.name!r} returned {type(image).__name__}, not a PIL image")
        image.save(path)
        print(path)
    return 0


__all__ = ["OneLineParser", "labels_main", "render_main", "output_paths", "parse_fill", "parse_size"]
