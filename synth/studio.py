"""The web demo's model side (no gradio here): loaded generators and segmenters, renders, files.

:class:`Studio` is what :func:`synth.ui.create_demo` receives: the UI calls its methods and never
imports this module (the hysts Space layout; :mod:`synth.app` wires the two). Label maps travel
between them as ``[H, W]`` id arrays; pictures as RGB(A) arrays or PIL images.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from palettes import Palette
from palettes import load as load_palette
from synth import generators, labelmaps, studio_batch, zerogpu
from synth.labels import open_image, read_instance_map, resize_labels, to_labels, write_index_png, write_instance_png

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
#: Canvas sides are multiples of this (every backend's multiple divides it).
MULTIPLE = 32
#: Options that need the backend loaded with extra keyword arguments (a style photo: the style ControlNet).
LOAD_FOR_OPTION: dict[str, dict] = {"style_image": {"style": True}}
#: At most this many file folders (one per export or saved map) stay in a Studio's ``out_dir``; older go.
KEEP_FOLDERS = 256


@dataclass
class ModelInfo:
    """What the UI shows about one backend."""

    name: str
    palette: str
    description: str
    ready: bool
    reason: str
    live: bool
    size: tuple[int, int]

    @property
    def label(self) -> str:
        return self.name if self.ready else f"{self.name} (unavailable)"


@dataclass
class RenderResult:
    """One render: the images, the ids the model saw (at the output size), timings and files."""

    images: list[Image.Image]
    ids: np.ndarray
    model: str
    seed: int
    seconds: float
    files: list[str] = field(default_factory=list)
    instance: np.ndarray | None = None  # the instance map the model received (at the size of ``ids``)
    heatmaps: list[dict] | None = None  # per image ``{word: [H, W] in 0..1}`` when asked for (ControlNet-seg)

    @property
    def spread(self) -> float:
        """Mean absolute difference (0..255) between the first image and the others (0 for one image)."""
        if len(self.images) < 2:
            return 0.0
        first = np.asarray(self.images[0].convert("RGB"), np.float32)
        rest = [np.abs(np.asarray(im.convert("RGB"), np.float32) - first).mean() for im in self.images[1:]]
        return float(np.mean(rest))


class Studio:
    """Loaded generators and segmenters, and every non-UI step of the demo.

    Args:
        loader: ``loader(name) -> Generator`` (default :func:`synth.load`).
        segmenter: ``segmenter(palette) -> callable(photo) -> ids`` (default :func:`synth.segmenter`).
        out_dir: where exported PNGs are written (default: a fresh temporary folder, removed when the
            Studio goes or the process ends). Each export or saved map gets a folder there; only the newest
            ``keep`` folders stay (the page and gradio copy what they show at once).
        keep: folders kept in ``out_dir`` (default :data:`KEEP_FOLDERS`).
    """

    def __init__(
        self,
        loader: Callable | None = None,
        segmenter: Callable | None = None,
        out_dir: str | None = None,
        keep: int = KEEP_FOLDERS,
    ):
        if loader is None:
            from synth import load as loader
        if segmenter is None:
            from synth import segmenter
        self._loader = loader
        self._segmenter_factory = segmenter
        self._generators: dict[str, object] = {}
        self._load_kwargs: dict[str, dict] = {}
        self._token = next(zerogpu.TOKENS)
        zerogpu.LOADERS[self._token] = loader
        weakref.finalize(self, zerogpu.forget, self._token)
        #: :func:`synth.zerogpu.run` as ``spaces.GPU`` wraps it on ZeroGPU (decorated when the Studio is made, before launch).
        self._gpu_run = zerogpu.gpu(zerogpu.run, duration=zerogpu.duration)
        #: True on ZeroGPU: non-live renders go through ``spaces.GPU``; live backends load on the CPU.
        self.zero_gpu = self._gpu_run is not zerogpu.run
        self._segmenters: dict[str, object] = {}
        self._segmenter_errors: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._available: dict[str, tuple[bool, str]] = {}
        if int(keep) < 1:
            raise ValueError(f"keep must be >= 1 folder, got {keep}")
        self.keep = int(keep)
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="daub-"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if out_dir is None:  # our own temp folder: gone with the Studio (never from a forked worker's exit)
            weakref.finalize(self, _remove_own_folder, str(self.out_dir), os.getpid())

    # -- backends ------------------------------------------------------------------------------
    def models(self) -> list[ModelInfo]:
        """Every registered backend with its palette, readiness and canvas size."""
        return [self.model(b.name) for b in generators.backends()]

    def model(self, name: str) -> ModelInfo:
        """One backend's :class:`ModelInfo`; ``ValueError`` naming the choices when unknown."""
        record = generators.get(name)
        if record.name not in self._available:
            self._available[record.name] = generators.availability(record.name)
        ok, reason = self._available[record.name]
        gen = self._generators.get(record.name)
        size = tuple(gen.size_rule.default) if gen is not None else tuple(record.canvas)
        return ModelInfo(record.name, record.palette, record.description, bool(ok), reason, record.live, size)

    def generator(self, name: str, **load):
        """The loaded backend ``name`` (loaded once, on first use); clear error when it is unavailable.

        ``load``: keyword arguments the backend must have been loaded with (e.g. ``style=True``); a backend
        loaded without them is loaded again with them added (that generator serves the earlier uses too).
        On ZeroGPU, live backends load on the CPU: CUDA is attached only inside ``spaces.GPU`` functions.
        """
        record = generators.get(name)
        name = record.name
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            have = self._load_kwargs.get(name)
            if not zerogpu.covers(have, load):
                info = self.model(name)
                if not info.ready:
                    raise RuntimeError(f"model {name!r} is not available here: {info.reason}")
                kwargs = {**(have or {}), **load}
                if self.zero_gpu and record.live:
                    kwargs["device"] = "cpu"
                self._generators[name] = self._loader(name, **kwargs)
                self._load_kwargs[name] = kwargs
                zerogpu.LOADED[(self._token, name)] = (self._generators[name], kwargs)
            return self._generators[name]

    def options(self, name: str) -> list[str]:
        """Options the backend accepts (loads it)."""
        return list(getattr(self.generator(name), "options", ()))

    # -- palettes ------------------------------------------------------------------------------
    @staticmethod
    def palette(name: str) -> Palette:
        """A palette by its own name or by a backend's name."""
        return load_palette(generators.palette_of(name) if name in generators.names() else name)

    def palette_json(self, name: str) -> dict:
        """Classes of a palette (or of a backend's palette) as plain data."""
        pal = self.palette(name)
        return {
            "name": pal.name,
            "title": pal.title,
            "num_classes": pal.num_classes,
            "fill": pal.fill,
            "dontcare": pal.dontcare,
            "classes": [{"id": s.id, "name": s.name, "paint": s.hex} for s in pal.swatches],
            "trained_rgb": pal.rgb.tolist(),
            "backends": list(pal.backends),
            "things": list(pal.things),
        }

    def colours(self, ids: np.ndarray, name: str) -> np.ndarray:
        """Ids -> ``[H, W, 3]`` paint colours of a palette (or of a backend's palette)."""
        return self.palette(name).to_colors(ids)

    def overlay(self, image: Image.Image, ids: np.ndarray, name: str, alpha: float = 0.45) -> Image.Image:
        """The photo blended with the label colours (see :func:`synth.labelmaps.overlay`)."""
        return labelmaps.overlay(image, ids, self.palette(name), alpha)

    # -- label maps ----------------------------------------------------------------------------
    def blank(self, model: str) -> np.ndarray:
        """A canvas of the model's size filled with its palette's fill class."""
        pal = self.palette(model)
        w, h = self.model(model).size
        return np.full((h, w), pal.fill, pal.dtype)

    def fit(self, ids: np.ndarray, model: str) -> np.ndarray:
        """Ids resized (nearest) to fit the model's canvas, aspect kept (see :func:`synth.labelmaps.fit_canvas`)."""
        return labelmaps.fit_canvas(ids, self.model(model).size, MULTIPLE)

    def labels(self, image, model: str) -> tuple[np.ndarray, dict]:
        """Painted RGB(A) picture -> ids of the model's palette and a report (``None``: a blank canvas).

        Transparent pixels become the palette's fill class; off-palette colours snap (see the report).
        """
        pal = self.palette(model)
        if image is None:
            ids = self.blank(model)
            return ids, self.report(None, ids, pal)
        ids, report = to_labels(np.asarray(image), pal, return_report=True)
        return ids, self.report(report, ids, pal)

    @staticmethod
    def report(report, ids: np.ndarray, pal: Palette) -> dict:
        """A :class:`~synth.labels.LabelReport` (or ``None``) plus palette, size and class counts."""
        out = report.to_dict() if report is not None else {"pixels": int(ids.size)}
        out.update({"palette": pal.name, "size": [int(ids.shape[1]), int(ids.shape[0])]})
        if out.get("frames", 1) > 1:
            out["note"] = f"animated image: the first of its {out['frames']} frames was used"
        out["classes"] = labelmaps.class_counts(ids, pal)
        return out

    def read_label_map(self, path: str | Path, model: str, fit: bool = True) -> tuple[np.ndarray, dict]:
        """An uploaded index PNG (ids) or colour PNG (paint or trained colours) -> ids (fitted to the
        model's canvas when ``fit``; ``model`` may also be a palette name when not fitting).

        A map painted in another palette's colours is refused with its palette's name, never re-read."""
        pal = self.palette(model)
        image = open_image(str(path))
        labelmaps.check_palette(image, pal)
        ids, report = to_labels(image, pal, return_report=True)
        if fit:
            ids = self.fit(ids, model)
        return ids, self.report(report, ids, pal)

    def segment(self, path: str | Path, model: str, fit: bool = True) -> np.ndarray:
        """Photo -> label map with the palette's segmenter (fitted to the model's canvas when ``fit``)."""
        from synth.segmenters import PALETTES

        pal = self.palette(model)
        if pal.name not in PALETTES:
            raise ValueError(f"no photo segmenter for palette {pal.name!r} (have: {', '.join(PALETTES)})")
        photo = open_image(str(path)).convert("RGB")
        if pal.name not in self._segmenters:
            if pal.name in self._segmenter_errors:  # refused before: say so at once, never retry the Hub
                raise RuntimeError(self._segmenter_errors[pal.name])
            try:
                # on ZeroGPU, CUDA exists only inside spaces.GPU functions: UperNet runs on the CPU there
                on_cpu = {"device": "cpu"} if self.zero_gpu and pal.name == "ade20k" else {}
                self._segmenters[pal.name] = self._segmenter_factory(pal.name, **on_cpu)
            except (FileNotFoundError, ImportError, OSError, RuntimeError) as e:
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                why = f"the {pal.name} photo segmenter is not available: {reason}"
                self._segmenter_errors[pal.name] = why
                raise RuntimeError(why) from None
        ids = np.asarray(self._segmenters[pal.name](photo)).astype(pal.dtype)
        return self.fit(ids, model) if fit else ids

    def switch(self, ids: np.ndarray, old: str, new: str) -> tuple[np.ndarray, dict[str, int]]:
        """Ids painted for model ``old`` -> model ``new``'s palette and canvas, and the classes that
        were dropped on the way (``{name: pixels}``, they became the new fill class)."""
        src, dst = self.palette(old), self.palette(new)
        dropped = labelmaps.dropped_classes(ids, src, dst)
        return self.fit(labelmaps.to_palette(ids, src, dst), new), dropped

    # -- rendering -----------------------------------------------------------------------------
    @staticmethod
    def new_seed() -> int:
        return random.randint(0, 2**31 - 1)

    def render(
        self,
        ids: np.ndarray,
        model: str,
        seed: int | None = 0,
        num_images: int = 1,
        options: dict | None = None,
        callback: Callable | None = None,
    ) -> RenderResult:
        """Generate images for ``ids`` with backend ``model``; one call per backend at a time unless its
        record is ``parallel`` (and it runs here, not in a ZeroGPU worker).

        Args:
            ids: ``[H, W]`` ids of the backend's palette.
            seed: base seed (``None``: random); image ``k`` uses ``seed + k``.
            num_images: number of images.
            options: backend options; ``None`` values and options the backend does not take are dropped.
                A ``style_image`` loads the backend with ``style=True`` first (:data:`LOAD_FOR_OPTION`).
            callback: ``callback(step, total, preview)`` per step, passed on when the backend takes one.
                On ZeroGPU, where non-live renders run in a forked worker through ``spaces.GPU``, the worker
                updates the gradio event's progress bar itself instead (:func:`zerogpu.gradio_steps`).
        """
        options = {k: v for k, v in (options or {}).items() if v is not None}
        gen = self.generator(model)
        accepted = set(getattr(gen, "options", ()))
        opts = {k: v for k, v in options.items() if k in accepted}
        load = {k: v for opt, extra in LOAD_FOR_OPTION.items() if opt in opts for k, v in extra.items()}
        if load:
            gen = self.generator(model, **load)
        record = generators.get(model)
        model = record.name
        seed = self.new_seed() if seed is None else int(seed)
        if opts.get("instance") is None and _uses_instances(gen):  # default: one object per part
            opts["instance"] = labelmaps.default_instances(ids, gen.palette)
        on_gpu = self.zero_gpu and not record.live
        # a step callback cannot cross ZeroGPU's pickling into its worker: there the worker reports each
        # step to gradio itself (zerogpu.gradio_steps), asked for by a label
        wants_steps = callback is not None and "callback" in accepted
        step = callback if wants_steps and not on_gpu else None
        seen = gen.check_inputs(ids, num_images=int(num_images), options={**opts, "callback": step} if step else opts)
        if opts.get("instance") is not None:  # the instance map follows the ids to the size the model sees
            opts["instance"] = resize_labels(np.asarray(opts["instance"]), (seen.shape[1], seen.shape[0]))
        args = (model, seen, seed, int(num_images), opts, self._token, self._load_kwargs[model])
        t0 = time.perf_counter()
        one_at_a_time = on_gpu or not record.parallel
        with self._locks.setdefault(model, threading.Lock()) if one_at_a_time else contextlib.nullcontext():
            if on_gpu:
                images = self._gpu_run(*args, progress=model if wants_steps else None)
            else:
                images = zerogpu.run(*args, callback=step)
        seconds = round(time.perf_counter() - t0, 3)
        maps = [img.info.pop("heatmaps", None) for img in images]
        return RenderResult(
            images, seen, model, seed, seconds, instance=opts.get("instance"), heatmaps=maps if any(maps) else None
        )

    def redraws(self, model: str) -> bool:
        """Whether backend ``model`` re-draws one class's region with its own seed (``region_seeds``:
        the v2 embedded models); ``False`` for the others and for models not available here. Only live
        backends are asked (loaded): Re-draw re-renders live, and a page build or a model switch must
        never load a diffusion model."""
        info = self.model(model)
        if not (info.ready and info.live):
            return False
        gen = self.generator(model)
        return "region_seeds" in getattr(gen, "options", ()) and bool(getattr(gen, "regions", False))

    def takes_instances(self, model: str) -> bool:
        """Whether backend ``model`` uses instance maps (``spade-coco``, ``spade-cityscapes``); others ignore them."""
        return _uses_instances(self.generator(model))

    def instances(self, ids: np.ndarray, model: str, objects: np.ndarray | None = None) -> np.ndarray | None:
        """The instance map for ``ids`` (:func:`synth.labelmaps.default_instances`: painted ``objects``, else
        one object per connected part of each thing class), or ``None`` when the backend takes none."""
        if not self.takes_instances(model):
            return None
        return labelmaps.default_instances(ids, self.palette(model), objects)

    def read_instances(self, path: str | Path, shape: tuple[int, int]) -> np.ndarray:
        """An uploaded instance map (16-bit PNG of object ids) for a label map of ``shape`` (H, W)."""
        inst = read_instance_map(str(path))
        if inst.shape != tuple(shape):
            raise ValueError(
                f"the instance map is {inst.shape[1]}x{inst.shape[0]}, the label map {shape[1]}x{shape[0]}"
            )
        return inst

    def layout_agreement(self, heatmaps: dict, ids: np.ndarray, model: str) -> dict[str, float]:
        """Per prompt word naming a class, the share of its heat map inside that class's paint."""
        from synth.generators.heatmaps import layout_agreement

        shares = layout_agreement(heatmaps, ids, self.palette(model))
        return {w: round(v, 3) for w, v in shares.items() if not math.isnan(v)}  # NaN: a map without mass

    @staticmethod
    def heatmap_overlay(image, heatmap: np.ndarray) -> np.ndarray:
        """The photo, dimmed, with one word's heat map over it (``[H, W, 3]`` uint8)."""
        from synth.generators.heatmaps import overlay

        return overlay(image, heatmap)

    @staticmethod
    def instance_colours(instance: np.ndarray) -> np.ndarray:
        """An instance map as ``[H, W, 3]`` colours: one vivid colour per object, greys for stuff."""
        return labelmaps.instance_colours(instance)

    def export(self, result: RenderResult) -> list[str]:
        """Write image PNG(s), the index PNG and the colour PNG of a render (and its instance map as a
        16-bit PNG when the model received one); returns their paths."""
        pal = self.palette(result.model)
        folder = self._new_folder("render-")
        stem = f"{result.model}-seed{result.seed}"
        paths = []
        for k, img in enumerate(result.images):
            p = folder / (f"{stem}.png" if len(result.images) == 1 else f"{stem}-{k}.png")
            img.save(p, format="PNG", compress_level=1)  # 4x faster than the default; a live stroke waits on it
            paths.append(str(p))
        index = folder / f"{stem}-labels-index.png"
        write_index_png(result.ids, index, pal)
        colour = folder / f"{stem}-labels-colour.png"
        Image.fromarray(pal.to_colors(result.ids)).save(colour, format="PNG", compress_level=1)
        result.files = paths + [str(index), str(colour)]
        if result.instance is not None:
            instances = folder / f"{stem}-labels-instances.png"
            write_instance_png(result.instance, instances)
            result.files.append(str(instances))
        return result.files

    #: Uploaded label maps (PNGs, zips of them) -> a zip of photos, an optional MP4 and a summary.
    render_batch = studio_batch.render_batch

    def save_index(self, ids: np.ndarray, palette: str, name: str = "labels") -> str:
        """Write ids as an index PNG in a fresh folder; returns the path."""
        folder = self._new_folder("labels-")
        path = folder / f"{name}-index.png"
        write_index_png(np.asarray(ids), path, self.palette(palette))
        return str(path)

    def _new_folder(self, prefix: str) -> Path:
        """A fresh folder ``PREFIX<ns>-XXXX`` in ``out_dir`` (``<ns>``: creation time, hex), after pruning to make room."""
        self.prune(self.keep - 1)
        return Path(tempfile.mkdtemp(prefix=f"{prefix}{time.time_ns():x}-", dir=self.out_dir))

    def prune(self, keep: int | None = None) -> int:
        """Delete all but the newest ``keep`` (default ``self.keep``) folders in ``out_dir``; returns how many went.

        Only folders this class makes (``render-*``, ``labels-*``, ``batch-*``) are touched, newest by creation time.
        """
        keep = self.keep if keep is None else max(0, int(keep))
        folders = []
        with os.scandir(self.out_dir) as it:
            for entry in it:
                if entry.name.startswith(_OURS) and entry.is_dir(follow_symlinks=False):
                    folders.append((_created_ns(entry), entry.path))
        if len(folders) <= keep:
            return 0
        folders.sort(reverse=True)
        for _, path in folders[keep:]:
            shutil.rmtree(path, ignore_errors=True)
        return len(folders) - keep

    # -- examples ------------------------------------------------------------------------------
    def examples(self, model: str) -> list[str]:
        """Example label maps (index PNGs) for the model's palette."""
        folder = EXAMPLES_DIR / self.palette(model).name
        return [str(p) for p in sorted(folder.glob("*.png"))]


_OURS = ("render-", "labels-", "batch-")


def _uses_instances(gen) -> bool:
    """Whether a loaded generator takes instance maps (the SPADE models trained with them)."""
    return "instance" in getattr(gen, "options", ()) and bool(getattr(gen, "use_instance", True))


def _created_ns(entry: os.DirEntry) -> int:
    """A folder's creation time from its name (``render-<ns hex>-…``), else its modification time (0: gone)."""
    stamp = entry.name.split("-")[1] if entry.name.count("-") >= 2 else ""
    try:
        return int(stamp, 16)
    except ValueError:
        try:
            return entry.stat(follow_symlinks=False).st_mtime_ns
        except OSError:
            return 0


def _remove_own_folder(path: str, pid: int) -> None:
    if os.getpid() == pid:
        shutil.rmtree(path, ignore_errors=True)


__all__ = ["KEEP_FOLDERS", "ModelInfo", "RenderResult", "Studio"]
