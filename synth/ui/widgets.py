"""Small pieces of the page: the class swatches, the brush, class choices, error handling, uploads."""

from __future__ import annotations

import functools
import html
from collections.abc import Callable

import gradio as gr
import numpy as np
from PIL import Image

from palettes import load as load_palette

CSS = """
#swatches { max-height: 340px; overflow-y: auto; }
#swatches .sw { display: flex; align-items: center; gap: 6px; width: 100%; padding: 2px 4px; border: 1px solid transparent;
  border-radius: 4px; background: none; cursor: pointer; font-size: 13px; text-align: left; }
#swatches .sw:hover { border-color: var(--border-color-accent); }
#swatches .sw.sel { border-color: var(--color-accent); background: var(--background-fill-secondary); font-weight: 600; }
#swatches .chip { width: 18px; height: 18px; flex: none; border: 1px solid #555; border-radius: 3px; }
"""

SWATCH_JS = """
element.addEventListener('click', (e) => {
  const b = e.target.closest('[data-id]');
  if (b) trigger('pick', {id: Number(b.dataset.id)});
});
"""


def safe(fn: Callable) -> Callable:
    """Turn the model side's errors into ``gr.Error`` (a message in the page, never a dead page)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, RuntimeError, FileNotFoundError, OSError, KeyError) as e:
            raise gr.Error(str(e).splitlines()[0] if str(e) else type(e).__name__) from e

    return wrapper


def swatch_html(palette: str, selected: int | None = None) -> str:
    """One clickable chip + name per class of ``palette`` (the selected one highlighted)."""
    rows = []
    for s in load_palette(palette).swatches:
        cls = "sw sel" if s.id == selected else "sw"
        name = html.escape(s.name)
        rows.append(
            f'<button class="{cls}" data-id="{s.id}" title="{name} (id {s.id})">'
            f'<span class="chip" style="background:{s.hex}"></span>{name}</button>'
        )
    return "".join(rows)


def brush(palette: str, class_id: int | None = None, size: int = 10) -> gr.Brush:
    """The editor's brush for ``palette``: its paint colours only, set to ``class_id``'s colour."""
    swatches = load_palette(palette).swatches
    colours = [s.hex for s in swatches]
    current = next((s.hex for s in swatches if s.id == class_id), colours[0])
    return gr.Brush(colors=colours, default_color=current, color_mode="fixed", default_size=size)


def class_choices(palette: str) -> list[tuple[str, int]]:
    """``(label, id)`` per class for the class dropdown."""
    return [(f"{s.name}  ·  {s.id}", s.id) for s in load_palette(palette).swatches]


def default_class(palette: str) -> int:
    """First class that is not the fill (what a fresh brush paints)."""
    pal = load_palette(palette)
    return next(i for i in range(pal.num_classes) if i != pal.fill)


def editor_value(colours: np.ndarray) -> dict:
    """An image-editor value showing ``colours`` as the background (no strokes yet)."""
    return {"background": colours, "layers": [], "composite": colours}


def editor_picture(value) -> np.ndarray | None:
    """The painted RGBA picture of an image-editor value (its composite, or background + layers)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        return np.asarray(value)
    if value.get("composite") is not None:
        return np.asarray(value["composite"])
    parts = [p for p in [value.get("background"), *(value.get("layers") or [])] if p is not None]
    if not parts:
        return None
    base = Image.fromarray(np.asarray(parts[0])).convert("RGBA")
    for layer in parts[1:]:
        base.alpha_composite(Image.fromarray(np.asarray(layer)).convert("RGBA").resize(base.size))
    return np.asarray(base)


def upload_path(file) -> str:
    """Path of an uploaded file whatever gradio handed over (str, FileData-like, dict)."""
    if file is None:
        raise ValueError("no file was uploaded")
    if isinstance(file, str):
        return file
    if isinstance(file, dict):
        return file.get("path") or file["name"]
    return getattr(file, "path", None) or file.name
