"""The web demo's model side (no gradio here): loaded generators, label maps, fills, exports.

:class:`Studio` owns the loaded generators and segmenters and does every non-UI step of the demo;
:mod:`synth.ui` receives its methods as ``process_fns`` (:meth:`Studio.process_fns`) and never
imports this module, so UI and model stay apart (the hysts Space layout).

Label maps travel between the two as ``[H, W]`` id arrays; the editor's RGBA pictures are turned
into ids here (:meth:`Studio.editor_labels`) with :func:`synth.labels.to_labels`.
"""

from __future__ import annotations

import importlib.util
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from palettes import Palette
from palettes import load as load_palette
from synth.generators import BACKENDS, availability, palette_of
from synth.labels import MAX_PIXELS, open_image, resize_labels, snap_size, to_colors, to_labels, write_index_png

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"

#: Canvas ``(width, height)`` per backend before it is loaded (a loaded one reports ``size_rule.default``).
CANVAS_SIZES = {
    "landscape": (256, 192),
    "facades": (256, 256),
    "spade-ade20k": (256, 256),
    "spade-coco": (256, 256),
    "spade-cityscapes": (512, 256),
    "controlnet-seg": (512, 512),
}
#: Backends fast enough to re-render on every stroke (the embedded CPU models).
LIVE_MODULES = ("synth.generators.embedded",)
#: Photo -> label map models per palette (see :func:`synth.segmenter`).
SEGMENTERS = {"landscape": "landscape", "facades": "facades", "ade20k": "ade20k"}
#: Canvas sides are multiples of this (every backend's multiple divides it).
MULTIPLE = 32


def _gpu(fn: Callable) -> Callable:
    """``spaces.GPU`` on Hugging Face ZeroGPU Spaces; a no-op elsewhere (also when ``spaces`` is a bare folder)."""
    if importlib.util.find_spec("spaces") is None:
        return fn
    try:
        import spaces
    except Exception:
        return fn
    gpu = getattr(spaces, "GPU", None)
    return gpu(fn) if callable(gpu) else fn


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


class Studio:
    """Loaded generators and segmenters plus the demo's label-map operations.

    Args:
        loader: ``loader(name) -> Generator`` (default :func:`synth.load`); tests pass their own.
        segmenter: ``segmenter(palette) -> callable(photo) -> ids`` (default :func:`synth.segmenter`).
        out_dir: where exported PNGs are written (default: a fresh temporary folder).
    """

    def __init__(self, loader: Callable | None = None, segmenter: Callable | None = None, out_dir: str | None = None):
        if loader is None:
            from synth import load as loader
        if segmenter is None:
            from synth import segmenter
        self._loader = loader
        self._segmenter_factory = segmenter
        self._generators: dict[str, object] = {}
        self._segmenters: dict[str, object] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._available: dict[str, tuple[bool, str]] = {}
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="daub-"))
        self.out_dir.mkdir(parents=True, exist_ok=True)

    # -- backends ------------------------------------------------------------------------------
    def availability(self, name: str) -> tuple[bool, str]:
        """:func:`synth.generators.availability`, asked once per backend (see :meth:`refresh`)."""
        if name not in self._available:
            self._available[name] = availability(name)
        return self._available[name]

    def refresh(self) -> None:
        """Forget cached availability (e.g. after downloading a checkpoint)."""
        self._available.clear()

    def models(self) -> list[ModelInfo]:
        """Every registered backend with its palette, readiness and canvas size."""
        out = []
        for name, (module, _, pal, desc) in BACKENDS.items():
            ok, reason = self.availability(name)
            gen = self._generators.get(name)
            size = tuple(gen.size_rule.default) if gen is not None else CANVAS_SIZES.get(name, (256, 256))
            out.append(ModelInfo(name, pal, desc, bool(ok), reason, module in LIVE_MODULES, size))
        return out

    def model(self, name: str) -> ModelInfo:
        for info in self.models():
            if info.name == name:
                return info
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(BACKENDS)}")

    def generator(self, name: str):
        """The loaded backend ``name`` (loaded once, on first use); clear error when it is unavailable."""
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._generators:
                ok, reason = self.availability(name)
                if not ok:
                    raise RuntimeError(f"model {name!r} is not available here: {reason}")
                self._generators[name] = self._loader(name)
            return self._generators[name]

    def options(self, name: str) -> list[str]:
        """Options the backend accepts (loads it)."""
        return list(getattr(self.generator(name), "options", ()))

    # -- palettes ------------------------------------------------------------------------------
    @staticmethod
    def palette(name: str) -> Palette:
        """A palette by its own name or by a backend's name."""
        return load_palette(palette_of(name) if name in BACKENDS else name)

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
        }

    # -- label maps ----------------------------------------------------------------------------
    def canvas_size(self, model: str) -> tuple[int, int]:
        return self.model(model).size

    def blank(self, model: str) -> np.ndarray:
        """A canvas of the model's size filled with its palette's fill class."""
        pal = self.palette(model)
        w, h = self.canvas_size(model)
        return np.full((h, w), pal.fill, pal.dtype)

    def fit(self, ids: np.ndarray, model: str) -> np.ndarray:
        """Resize ids (nearest) so they fit the model's canvas box, keeping the aspect, sides multiples of 32."""
        h, w = ids.shape
        bw, bh = self.canvas_size(model)
        s = min(bw / w, bh / h)
        size = snap_size(max(1, round(w * s)), max(1, round(h * s)), MULTIPLE, max_side=max(bw, bh))
        return resize_labels(ids, size)

    def editor_labels(self, value, model: str) -> tuple[np.ndarray, dict]:
        """Image-editor value (``{"background", "layers", "composite"}`` RGBA arrays) -> ids and report.

        Transparent pixels become the palette's fill class; off-palette colours snap (see the report).
        """
        pal = self.palette(model)
        if value is None:
            return self.blank(model), self._report(None, self.blank(model), pal)
        image = value.get("composite") if isinstance(value, dict) else value
        if image is None:
            image = self._flatten(value)
        if image is None:
            ids = self.blank(model)
            return ids, self._report(None, ids, pal)
        ids, report = to_labels(np.asarray(image), pal, return_report=True)
        return ids, self._report(report, ids, pal)

    @staticmethod
    def _flatten(value: dict):
        """Composite background and layers ourselves when the editor sent no composite."""
        parts = [p for p in [value.get("background"), *value.get("layers", [])] if p is not None]
        if not parts:
            return None
        base = Image.fromarray(np.asarray(parts[0])).convert("RGBA")
        for layer in parts[1:]:
            base.alpha_composite(Image.fromarray(np.asarray(layer)).convert("RGBA").resize(base.size))
        return np.asarray(base)

    @staticmethod
    def _report(report, ids: np.ndarray, pal: Palette) -> dict:
        counts = np.bincount(ids.ravel().astype(np.int64), minlength=pal.max_id + 1)
        classes = {pal.name_of(int(i)): int(counts[i]) for i in np.flatnonzero(counts)}
        out = report.to_dict() if report is not None else {"pixels": int(ids.size)}
        out.update({"palette": pal.name, "size": [int(ids.shape[1]), int(ids.shape[0])], "classes": classes})
        return out

    def read_label_map(self, path: str | Path, model: str, fit: bool = True) -> tuple[np.ndarray, dict]:
        """An uploaded index PNG (ids) or colour PNG (paint or trained colours) -> ids (fitted to the
        model's canvas when ``fit``; ``model`` may also be a palette name when not fitting)."""
        pal = self.palette(model)
        img = open_image(str(path))
        ids, report = to_labels(img, pal, return_report=True)
        if fit:
            ids = self.fit(ids, model)
        return ids, self._report(report, ids, pal)

    def segment(self, path: str | Path, model: str, fit: bool = True) -> np.ndarray:
        """Photo -> label map with the palette's segmenter (fitted to the model's canvas when ``fit``)."""
        pal = self.palette(model)
        if pal.name not in SEGMENTERS:
            raise ValueError(f"no photo segmenter for palette {pal.name!r} (have: {', '.join(SEGMENTERS)})")
        photo = open_image(str(path)).convert("RGB")
        if pal.name not in self._segmenters:
            try:
                self._segmenters[pal.name] = self._segmenter_factory(SEGMENTERS[pal.name])
            except (FileNotFoundError, ImportError, OSError) as e:
                raise RuntimeError(f"the {pal.name} photo segmenter is not available: {e}") from None
        ids = np.asarray(self._segmenters[pal.name](photo)).astype(pal.dtype)
        return self.fit(ids, model) if fit else ids

    @staticmethod
    def convert(ids: np.ndarray, src: str, dst: str) -> np.ndarray:
        """Ids of palette ``src`` -> ``dst``: a class keeps its pixels when ``dst`` has a class of the same
        (case-insensitive) name, don't-care stays don't-care when ``dst`` has one; everything else becomes
        ``dst``'s fill class."""
        a, b = Studio.palette(src), Studio.palette(dst)
        table = np.full(a.max_id + 1, b.fill, np.int64)
        for i in range(a.max_id + 1):
            if not a.is_valid_id(np.asarray(i)):
                continue
            if i == a.dontcare and b.dontcare is not None:
                table[i] = b.dontcare
                continue
            try:
                table[i] = b.id_of(a.name_of(i))
            except ValueError:
                pass
        return table[np.asarray(ids, np.int64)].astype(b.dtype)

    @staticmethod
    def flood_fill(ids: np.ndarray, x: int, y: int, class_id: int, palette: str) -> np.ndarray:
        """Give the 4-connected region of equal ids around ``(x, y)`` the id ``class_id``."""
        from scipy import ndimage

        pal = Studio.palette(palette)
        ids = np.asarray(ids)
        h, w = ids.shape
        if not (0 <= int(x) < w and 0 <= int(y) < h):
            raise ValueError(f"point ({x}, {y}) is outside the {w}x{h} label map")
        if not pal.is_valid_id(np.asarray(class_id)):
            raise ValueError(f"{class_id} is not a class of palette {pal.name!r}")
        regions, _ = ndimage.label(ids == ids[int(y), int(x)])
        out = ids.copy()
        out[regions == regions[int(y), int(x)]] = class_id
        return out

    @staticmethod
    def colours(ids: np.ndarray, palette: str) -> np.ndarray:
        """Ids -> ``[H, W, 3]`` paint colours."""
        return to_colors(ids, Studio.palette(palette))

    def editor_value(self, ids: np.ndarray, palette: str) -> dict:
        """An image-editor value showing ``ids`` as the background (no strokes yet)."""
        rgb = self.colours(ids, palette)
        return {"background": rgb, "layers": [], "composite": rgb}

    @staticmethod
    def overlay(image: Image.Image, ids: np.ndarray, palette: str, alpha: float = 0.45) -> Image.Image:
        """The photo blended with the label colours (``alpha`` = weight of the colours)."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in 0..1, got {alpha}")
        colours = Image.fromarray(Studio.colours(ids, palette)).resize(image.size, Image.Resampling.NEAREST)
        return Image.blend(image.convert("RGB"), colours, alpha)

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
        """Generate images for ``ids`` with backend ``model``; one call per backend at a time.

        Args:
            ids: ``[H, W]`` ids of the backend's palette.
            seed: base seed (``None``: random); image ``k`` uses ``seed + k``.
            num_images: number of images.
            options: backend options; ``None`` values and options the backend does not take are dropped.
            callback: ``callback(step, total, preview)`` per step, passed on when the backend takes one.
        """
        gen = self.generator(model)
        seed = self.new_seed() if seed is None else int(seed)
        accepted = set(getattr(gen, "options", ()))
        opts = {k: v for k, v in (options or {}).items() if v is not None and k in accepted}
        if callback is not None and "callback" in accepted:
            opts["callback"] = callback
        ids = np.asarray(ids)
        w, h = gen.size_rule.snap(ids.shape[1], ids.shape[0])
        seen = resize_labels(ids, (w, h))
        t0 = time.perf_counter()
        with self._locks.setdefault(model, threading.Lock()):
            images = _run(gen, seen, seed, int(num_images), opts)
        return RenderResult(images, seen, model, seed, round(time.perf_counter() - t0, 3))

    def export(self, result: RenderResult) -> list[str]:
        """Write image PNG(s), the index PNG and the colour PNG of a render; returns their paths."""
        pal = self.palette(result.model)
        folder = Path(tempfile.mkdtemp(prefix="render-", dir=self.out_dir))
        stem = f"{result.model}-seed{result.seed}"
        paths = []
        for k, img in enumerate(result.images):
            p = folder / (f"{stem}.png" if len(result.images) == 1 else f"{stem}-{k}.png")
            img.save(p, format="PNG")
            paths.append(str(p))
        index = folder / f"{stem}-labels-index.png"
        write_index_png(result.ids, index, pal)
        colour = folder / f"{stem}-labels-colour.png"
        Image.fromarray(self.colours(result.ids, pal.name)).save(colour, format="PNG")
        result.files = paths + [str(index), str(colour)]
        return result.files

    def save_index(self, ids: np.ndarray, palette: str, name: str = "labels") -> str:
        """Write ids as an index PNG in a fresh folder; returns the path."""
        folder = Path(tempfile.mkdtemp(prefix="labels-", dir=self.out_dir))
        path = folder / f"{name}-index.png"
        write_index_png(np.asarray(ids), path, self.palette(palette))
        return str(path)

    # -- examples ------------------------------------------------------------------------------
    def examples(self, model: str) -> list[str]:
        """Example label maps (index PNGs) for the model's palette."""
        folder = EXAMPLES_DIR / self.palette(model).name
        return [str(p) for p in sorted(folder.glob("*.png"))]

    def process_fns(self) -> dict[str, Callable]:
        """The functions :func:`synth.ui.create_demo` needs, by name."""
        names = (
            "models",
            "model",
            "options",
            "fit",
            "palette_json",
            "canvas_size",
            "blank",
            "editor_labels",
            "read_label_map",
            "segment",
            "convert",
            "flood_fill",
            "colours",
            "editor_value",
            "overlay",
            "new_seed",
            "render",
            "export",
            "save_index",
            "examples",
        )
        fns = {n: getattr(self, n) for n in names}
        fns["max_pixels"] = lambda: MAX_PIXELS
        return fns

    def summary(self) -> str:
        return json.dumps([asdict(m) for m in self.models()], indent=1)


@_gpu
def _run(gen, ids: np.ndarray, seed: int, num_images: int, options: dict) -> list[Image.Image]:
    """The GPU part of a render (decorated with ``spaces.GPU`` on ZeroGPU Spaces)."""
    return gen.generate(ids, seed=seed, num_images=num_images, **options)


__all__ = ["CANVAS_SIZES", "ModelInfo", "RenderResult", "Studio"]
