"""The web demo's batch: uploaded label maps (PNGs, zips of PNGs) -> a zip of photos, a manifest and an MP4.

The model side of the page's *Batch* section (:meth:`synth.studio.Studio.render_batch`): unpacks the uploads
safely (:mod:`synth.uploads`), renders them with :func:`synth.batch.render_local` through the Studio's own
render (its locks, ZeroGPU's ``spaces.GPU``), zips the photos with the manifest and makes the video.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from synth import batch, generators, uploads
from synth.generators.base import check_seed
from synth.video import require_av, write_video

if TYPE_CHECKING:
    from synth.studio import Studio


@dataclass
class BatchResult:
    """A web batch: the zip of photos (and ``manifest.jsonl``), the video (or ``None``), a summary."""

    zip: str
    video: str | None
    summary: dict


class _StudioGenerator:
    """A loaded backend as :class:`synth.batch.Renderer` sees it, rendering through :meth:`Studio.render`
    (its per-model locks; ZeroGPU's ``spaces.GPU`` for non-live backends)."""

    def __init__(self, studio: Studio, model: str):
        gen = studio.generator(model)
        self.studio, self.name, self.palette = studio, generators.get(model).name, gen.palette
        self.options = tuple(getattr(gen, "options", ()))

    def generate(self, ids, seed: int | None = 0, num_images: int = 1, **options) -> list[Image.Image]:
        return self.studio.render(ids, self.name, seed, num_images, options).images


def render_batch(
    studio: Studio,
    paths: list[str],
    model: str,
    seed: int = 0,
    video: bool = False,
    fps: float = 12.0,
    callback: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Uploaded label maps (PNGs and ``.zip`` files of PNGs, see :func:`synth.uploads.unpack`) -> a zip of
    photos with ``seed`` (same relative paths) and ``manifest.jsonl``; bad maps are reported and skipped.

    ``video``: also an MP4 of the photos in the maps' name order (all maps one size; every frame has the
    same seed, as ``daub render-video``). ``callback(done, total)`` after each map.
    """
    seed = check_seed(int(seed))  # whole numbers as before (the page sends ints)
    if video:
        require_av()  # PyAV missing: said before rendering, not after
    gen = _StudioGenerator(studio, model)  # unavailable: refused before unpacking anything
    folder = studio._new_folder("batch-")
    maps, photos = folder / "maps", folder / "photos"
    try:
        uploads.unpack(paths, maps)
        tasks = batch.plan(maps, photos, [seed])
        if not tasks:
            raise ValueError("no label maps (.png) in the uploads")
        if video:
            _one_size(tasks)
    except ValueError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    done = batch.render_local(tasks, photos, batch.Settings(gen.name), quiet=True, gen=gen, on_task=callback)
    hide = f"{maps}{os.sep}"
    summary = {"model": gen.name, "seed": seed, **done.to_dict()}
    summary.pop("skipped")
    summary["errors"] = [e.replace(hide, "") for e in done.errors]
    stem = f"{gen.name}-seed{seed}"
    archive = _zip_photos(photos, hide, folder / f"{stem}-photos.zip")
    film = None
    if video and done.failed:
        summary["video"] = f"not made: {done.failed} of {done.total} maps failed"
    elif video:
        film = folder / f"{stem}.mp4"
        write_video([_rgb(t.output) for t in tasks], film, fps)
        summary["video"] = f"{len(tasks)} frames at {fps:g} fps"
    shutil.rmtree(maps, ignore_errors=True)
    shutil.rmtree(photos, ignore_errors=True)
    return BatchResult(str(archive), str(film) if film else None, summary)


def _one_size(tasks: list[batch.Task]) -> None:
    """A video needs maps of one size: a one-line ``ValueError`` naming the sizes otherwise (unreadable maps
    are left to the batch, which reports them)."""
    sizes = set()
    for task in tasks:
        try:
            with Image.open(task.input) as img:
                sizes.add(img.size)
        except (OSError, ValueError):
            continue
    if len(sizes) > 1:
        named = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:4])
        raise ValueError(f"a video needs label maps of one size; these differ: {named}")


def _rgb(path: str) -> Image.Image:
    with Image.open(path) as img:
        return img.convert("RGB")


def _zip_photos(photos: Path, hide: str, path: Path) -> Path:
    """The photos under ``photos`` and their manifest (outputs relative, server paths cut) as one zip."""
    rows = batch.Manifest(photos).rows()
    with zipfile.ZipFile(path, "w") as zf:
        for row in rows:
            if "output" in row:
                row["output"] = Path(row["output"]).relative_to(photos).as_posix()
                zf.write(photos / row["output"], row["output"], compress_type=zipfile.ZIP_STORED)
            if "error" in row:
                row["error"] = row["error"].replace(hide, "")
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        zf.writestr(batch.MANIFEST, lines, compress_type=zipfile.ZIP_DEFLATED)
    return path
