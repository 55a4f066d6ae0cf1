"""Label-map sequences: ``daub render-video IN OUT.mp4`` and the flicker figure.

``IN`` is a folder of label maps (index PNGs, or colour PNGs of ``--palette``) taken in name order, or a
video of colour-coded maps (MP4, WebM, MKV, MOV, AVI through PyAV, which ships its own FFmpeg; GIF and
animated WebP through Pillow). Every frame is rendered with the same seed, so the style code and, for
models with spatial noise, the noise maps are the same in every frame: regions whose labels do not
change do not flicker. ``OUT`` is an MP4 (H.264 when the FFmpeg build has it, else MPEG-4 Part 2), a
GIF or an animated WebP, by its suffix.

:func:`flicker` is the figure: the mean absolute change (0..255) between consecutive output frames
inside the pixels whose label did not change, which ``daub bench flicker`` compares with independent
seeds per frame.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from palettes import Palette
from synth.batch import written_whole

#: Video containers read and written with PyAV; GIF and WebP go through Pillow.
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v")
PILLOW_ANIMATIONS = (".gif", ".webp")


def require_av():
    try:
        import av
    except ImportError:
        raise ValueError("video files need PyAV: pip install 'daub[video]'") from None
    return av


def read_frames(source: str | Path) -> list[np.ndarray]:
    """The frames of ``source`` as arrays: a folder's PNGs in name order (ids or colours, as stored), or
    the RGB frames of a video or an animated GIF/WebP."""
    from synth.labels import open_image

    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith("."))
        if not paths:
            raise ValueError(f"IN: no PNG label maps in {source}")
        return [np.asarray(open_image(p)) for p in paths]
    if not source.is_file():
        raise ValueError(f"IN: no such file or folder: {source}")
    suffix = source.suffix.lower()
    if suffix in PILLOW_ANIMATIONS:
        with Image.open(source) as anim:
            return [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(anim)]
    if suffix in VIDEO_SUFFIXES:
        av = require_av()
        try:
            with av.open(str(source)) as container:
                return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        except av.FFmpegError as e:
            raise ValueError(f"IN: cannot decode {source.name}: {e}") from None
    raise ValueError(f"IN must be a folder of PNGs or a video ({', '.join(VIDEO_SUFFIXES + PILLOW_ANIMATIONS)})")


def to_id_frames(frames: Iterable[np.ndarray], palette: Palette) -> list[np.ndarray]:
    """Label ids of every frame (colours snapped to the palette; lossy video edges cleaned up), all one size."""
    from synth.labels import to_labels

    ids = [to_labels(f, palette) for f in frames]
    sizes = {i.shape for i in ids}
    if len(sizes) != 1:
        raise ValueError(f"frames differ in size: {sorted(s[::-1] for s in sizes)} (W, H)")
    return ids


def render_frames(
    gen, ids: list[np.ndarray], seed: int, independent: bool = False, on_frame: Callable | None = None, **options
) -> list[Image.Image]:
    """One photo per frame, all with ``seed`` (``independent``: frame k with ``seed + k``, the baseline)."""
    out = []
    for k, frame in enumerate(ids):
        out.append(gen.generate(frame, seed=seed + k if independent else seed, num_images=1, **options)[0])
        if on_frame is not None:
            on_frame(k)
    return out


def write_video(frames: list[Image.Image], path: str | Path, fps: float = 12.0) -> None:
    """Write ``frames`` to ``path`` (MP4/WebM/MKV/MOV/AVI with PyAV, GIF/WebP with Pillow), through a
    temporary name and a rename."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not frames:
        raise ValueError("no frames to write")
    if not fps > 0:
        raise ValueError(f"--fps must be > 0, got {fps}")
    if suffix not in PILLOW_ANIMATIONS + VIDEO_SUFFIXES:
        raise ValueError(f"OUT must end in one of {', '.join(VIDEO_SUFFIXES + PILLOW_ANIMATIONS)}")
    with written_whole(path) as tmp:
        if suffix in PILLOW_ANIMATIONS:
            rgb = [f.convert("RGB") for f in frames]
            extra = {"lossless": True} if suffix == ".webp" else {}
            rgb[0].save(tmp, save_all=True, append_images=rgb[1:], duration=round(1000 / fps), loop=0, **extra)
        else:
            _encode(frames, tmp, fps)


def _encode(frames: list[Image.Image], path: Path, fps: float) -> None:
    av = require_av()
    w, h = frames[0].size
    even = (w + w % 2, h + h % 2)  # yuv420p needs even sides
    with av.open(str(path), mode="w") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height, stream.pix_fmt = even[0], even[1], "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "medium"}
        else:
            stream.bit_rate = 8_000_000
        for img in frames:
            if img.size != (w, h):
                raise ValueError(f"frames differ in size: {img.size} vs {(w, h)}")
            canvas = Image.new("RGB", even)
            canvas.paste(img.convert("RGB"))
            for packet in stream.encode(av.VideoFrame.from_image(canvas)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def flicker(ids: list[np.ndarray], photos: list[Image.Image]) -> float:
    """Mean absolute change (0..255) between consecutive photos inside the pixels whose label did not change."""
    if len(ids) != len(photos) or len(ids) < 2:
        raise ValueError("flicker needs at least two frames and one photo per frame")
    total, count = 0.0, 0
    for k in range(1, len(ids)):
        same = ids[k] == ids[k - 1]
        a = np.asarray(photos[k - 1].convert("RGB"), np.int16)
        b = np.asarray(photos[k].convert("RGB"), np.int16)
        if a.shape[:2] != same.shape:
            raise ValueError("photos and label maps differ in size")
        diff = np.abs(a - b).mean(-1)
        total += float(diff[same].sum())
        count += int(same.sum())
    return total / max(count, 1)


def parser() -> argparse.ArgumentParser:
    from synth.commands import OneLineParser

    p = OneLineParser(
        prog="daub render-video",
        description="Label-map frames (a folder of PNGs in name order, or a colour-coded video) -> a video of "
        "photos, every frame with the same seed.",
    )
    p.add_argument("input", help="folder of label-map PNGs, or a video / animated GIF or WebP of colour-coded maps")
    p.add_argument("output", help="video to write: .mp4 (also .webm .mkv .mov .avi) or .gif / .webp")
    p.add_argument("--backend", default="landscape", help="backend name (default landscape)")
    p.add_argument("--palette", default=None, help="palette of the maps (default: the backend's)")
    p.add_argument("--seed", type=int, default=0, help="seed of every frame (default 0)")
    p.add_argument("--fps", type=float, default=12.0, help="frames per second of the output (default 12)")
    p.add_argument("--prompt", default=None, help="text prompt (text-conditioned backends)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (diffusion backends)")
    p.add_argument("--report", action="store_true", help="print frames, size and the flicker figure as JSON")
    return p


def main(argv: list[str]) -> int:
    import synth
    from synth.generators import palette_of
    from synth.generators.base import check_seed

    args = parser().parse_args(argv)
    check_seed(args.seed, "--seed")
    out = Path(args.output)
    if out.suffix.lower() not in VIDEO_SUFFIXES + PILLOW_ANIMATIONS:
        raise ValueError(f"OUT must end in one of {', '.join(VIDEO_SUFFIXES + PILLOW_ANIMATIONS)}")
    palette = synth.palette(args.palette or palette_of(args.backend))
    ids = to_id_frames(read_frames(args.input), palette)
    gen = synth.load(args.backend)
    if gen.palette.name != palette.name:
        raise ValueError(f"backend {gen.name!r} takes palette {gen.palette.name!r}, not {palette.name!r}")
    options = {k: v for k, v in (("prompt", args.prompt), ("steps", args.steps)) if v is not None}
    from tqdm.auto import tqdm

    with tqdm(total=len(ids), unit="frame", file=sys.stderr, desc="render-video") as bar:
        photos = render_frames(gen, ids, args.seed, on_frame=lambda k: bar.update(1), **options)
    write_video(photos, out, args.fps)
    if args.report:
        figure = round(flicker(ids, photos), 3) if len(ids) > 1 else None
        print(json.dumps({"frames": len(photos), "size": list(photos[0].size), "flicker": figure}))
    else:
        print(out)
    return 0


__all__ = ["flicker", "read_frames", "render_frames", "to_id_frames", "write_video"]
