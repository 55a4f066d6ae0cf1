"""The label-map painter: an HTML5 canvas in a ``gr.HTML`` that paints exact class ids.

Its value is a dict: ``image`` (a lossless colour PNG data URL of the whole map in paint colours),
``base`` (the starting map the eraser uncovers), ``classes`` (``id, name, hex``), ``fill``, ``things``
(the thing classes' ids, for objects mode), ``key`` (new for every map the server sends) and, from the
browser, ``stroke`` (a counter) and ``objects`` (the painted object ids as a PNG, id = G * 256 + B; only
when objects were painted). The browser keeps the undo history and sends the map once per finished
stroke, fill, clear, undo or redo.
"""

from __future__ import annotations

import base64
import io
import uuid
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from synth.ui.protocol import ModelSide

HERE = Path(__file__).resolve().parent
JS = (HERE / "painter.js").read_text()
CSS = (HERE / "painter.css").read_text()


def png_data_url(colours: np.ndarray) -> str:
    """``[H, W, 3]`` uint8 -> ``data:image/png;base64,...`` (lossless)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(colours, np.uint8)).save(buf, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _png(url) -> Image.Image:
    url = str(url)
    if not url.startswith("data:image/png;base64,"):
        raise ValueError("the painter sent something other than a PNG data URL")
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1], validate=True)))
    img.load()
    return img


def picture(value) -> np.ndarray | None:
    """The painted picture (``[H, W, 3|4]`` uint8) of a painter value, ``None`` when it holds none."""
    if not isinstance(value, dict) or not value.get("image"):
        return None
    with _png(value["image"]) as img:
        return np.asarray(img.convert("RGBA") if img.mode in ("RGBA", "LA", "P") else img.convert("RGB"))


def objects(value) -> np.ndarray | None:
    """The object ids (``[H, W]`` int32, 0 = none) painted in objects mode, ``None`` when there are none."""
    if not isinstance(value, dict) or not value.get("objects"):
        return None
    with _png(value["objects"]) as img:
        rgb = np.asarray(img.convert("RGB")).astype(np.int32)
    return rgb[..., 1] * 256 + rgb[..., 2]


def painter_value(
    colours: np.ndarray,
    classes: list[dict],
    fill: int,
    base: np.ndarray | None = None,
    note: str = "",
    things: list[int] | tuple[int, ...] = (),
) -> dict:
    """A value that makes the painter show ``colours`` (and remember ``base`` for its eraser)."""
    image = png_data_url(colours)
    return {
        "image": image,
        "base": image if base is None else png_data_url(base),
        "classes": classes,
        "fill": int(fill),
        "things": [int(t) for t in things],
        "key": uuid.uuid4().hex,
        "note": note,
    }


def value_for(side: ModelSide, ids: np.ndarray, model: str, note: str = "") -> dict:
    """The painter value showing ``ids`` of ``model``'s palette (also the map its eraser uncovers)."""
    pal = side.palette_json(model)
    classes = [{"id": c["id"], "name": c["name"], "hex": c["paint"]} for c in pal["classes"]]
    return painter_value(side.colours(ids, model), classes, pal["fill"], note=note, things=pal.get("things", ()))


def painter(value: dict) -> gr.HTML:
    """The painter component showing ``value`` (see :func:`painter_value`)."""
    return gr.HTML(
        value=value,
        html_template='<div class="daub-painter"></div>',
        css_template=CSS,
        js_on_load=JS,
        elem_id="painter",
        apply_default_css=False,
    )
