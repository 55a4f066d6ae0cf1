"""The web demo's page (Gradio Blocks): paint a label map, get a photograph.

:func:`create_demo` builds the page around a :class:`~synth.ui.protocol.ModelSide` it is given (the
hysts Space pattern); this package imports gradio and the palettes, never the model side, and does no
tensor maths. :mod:`synth.app` wires the two together and launches.

* :mod:`~synth.ui.layout` lays the components out, :mod:`~synth.ui.events` wires what they do,
  :mod:`~synth.ui.http` adds the named HTTP endpoints, :mod:`~synth.ui.widgets` holds small pieces.
* The canvas is Daub's own painter (:mod:`~synth.ui.painter`): exact class ids, brush, fill, an eraser
  that uncovers the starting map, undo/redo, keyboard; one compact PNG per finished stroke.
* The closed *Batch* section (:mod:`~synth.ui.batch`) renders many uploaded maps into a zip of photos
  and, for a sequence, a video.
* Switching model moves the painting by class name, says what it drops, and switching straight back
  restores it.
"""

from __future__ import annotations

import gradio as gr

from synth.ui.batch import wire_batch
from synth.ui.events import wire_model_switch, wire_rendering, wire_sources
from synth.ui.http import wire_http
from synth.ui.layout import layout
from synth.ui.protocol import ModelSide
from synth.ui.widgets import CSS

#: Gradio's cache clean-up, ``(every, older than)`` seconds: the files it keeps for the page and the HTTP
#: API (uploads, photos, downloads) are deleted 10 minutes after they were made (``gr.Blocks(delete_cache=)``).
DELETE_CACHE = (60, 600)


def pick_model(side: ModelSide, default_model: str | None) -> str:
    """``default_model`` checked (known and ready), or the first ready backend."""
    infos = {m.name: m for m in side.models()}
    if default_model is None:
        return next((m.name for m in infos.values() if m.ready), next(iter(infos)))
    if default_model not in infos:
        raise ValueError(f"unknown model {default_model!r}; choose one of: {', '.join(infos)}")
    if not infos[default_model].ready:
        raise ValueError(f"model {default_model!r} is not available: {infos[default_model].reason}")
    return default_model


def create_demo(side: ModelSide, default_model: str | None = None) -> gr.Blocks:
    """The page around ``side`` (the model side, e.g. :class:`synth.studio.Studio`).

    Args:
        side: the calls the page makes (:class:`~synth.ui.protocol.ModelSide`).
        default_model: model selected at start (default: the first ready one).
    """
    model0 = pick_model(side, default_model)
    with gr.Blocks(title="Daub: paint a map, get a photo", delete_cache=DELETE_CACHE) as demo:
        page = layout(side, model0)
        wire_rendering(side, page)  # the painter asks for its first photo itself
        wire_sources(side, page)
        wire_model_switch(side, page)
        wire_batch(side, page.batch, page.model)
        wire_http(side)
    return demo


__all__ = ["CSS", "DELETE_CACHE", "ModelSide", "create_demo", "pick_model"]
