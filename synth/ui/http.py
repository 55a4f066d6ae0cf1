"""The named HTTP endpoints (``/render``, ``/labels``, ``/segment``, ``/palette``; see the README).

They live on hidden components of the page so that ``gradio_client`` and plain HTTP can call them.
"""

from __future__ import annotations

import math
import re

import gradio as gr

from synth.ui.protocol import ModelSide
from synth.ui.widgets import png_in_cache, safe, upload_path

#: Seeds the generators take (``synth.generators.base.MAX_SEED``: unsigned 32-bit).
MAX_SEED = 2**32 - 1


def parse_seed(value) -> int:
    """The ``seed`` argument of ``/render`` as an int in ``0..MAX_SEED`` (missing: 0); one clear line otherwise.

    JSON clients may send a whole number as ``3``, ``3.0`` or ``"3"``.
    """
    if value is None:
        return 0
    seed = None
    if isinstance(value, int) and not isinstance(value, bool):
        seed = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        seed = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,20}\s*", value):
        seed = int(value)
    if seed is None or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be a whole number in 0..{MAX_SEED}, got {str(value)[:40]!r}")
    return seed


def wire_http(side: ModelSide) -> None:
    """Add the four named endpoints to the current ``gr.Blocks``."""
    models = [m.name for m in side.models()]
    with gr.Group(visible=False):
        api_file = gr.File(label="label map (index or colour PNG)")
        api_model = gr.Textbox(label="model or palette name")
        api_seed = gr.Number(label="seed", precision=None)  # passed through as sent: parse_seed checks it
        api_instance = gr.File(label="instance map (16-bit PNG of object ids; optional)")
        api_image = gr.Image(label="image", format="png", type="filepath")
        api_index = gr.File(label="index PNG")
        api_report = gr.JSON(label="report")
        api_json = gr.JSON(label="palette")

    @safe
    def api_render(file, model_name, seed_value, instance_file=None, progress=gr.Progress()):  # noqa: B008
        """Label map (index or colour PNG) + model + seed (+ optional instance map) -> image (PNG).

        Backends that take instances (spade-coco) get the instance map, or by default one object per
        connected part of each thing class; the others ignore it."""
        model_name = str(model_name or "").strip().lower()
        seed = parse_seed(seed_value)
        if model_name not in models:
            raise ValueError(f"unknown model {model_name[:40]!r}; choose one of: {', '.join(models)}")
        ids, _ = side.read_label_map(upload_path(file), model_name, fit=False)
        options = {}
        if instance_file is not None:
            options["instance"] = side.read_instances(upload_path(instance_file), ids.shape)

        def on_step(step, total, preview=None):
            progress((int(step), int(total)), desc=f"step {step}/{total}")

        return png_in_cache(side.render(ids, model_name, seed, 1, options, on_step).images[0])

    @safe
    def api_labels(file, palette_name):
        """Colour (or index) PNG + palette/model name -> index PNG + conversion report."""
        ids, rep = side.read_label_map(upload_path(file), palette_name, fit=False)
        return side.save_index(ids, palette_name), rep

    @safe
    def api_segment(file, palette_name):
        """Photo + palette/model name -> index PNG of the predicted label map."""
        ids = side.segment(upload_path(file), palette_name, fit=False)
        return side.save_index(ids, palette_name, "segmented")

    @safe
    def api_palette(name):
        """Palette or model name -> its classes (id, name, paint colour) as JSON."""
        return side.palette_json(name)

    # two at once: a parallel (embedded) backend renders on both cores of a small server, while the
    # Studio still serialises the others per model (README, "Load test")
    api_seed.submit(
        api_render, [api_file, api_model, api_seed, api_instance], api_image, api_name="render", concurrency_limit=2,
        concurrency_id="api-render",
    )  # fmt: skip
    api_file.upload(api_labels, [api_file, api_model], [api_index, api_report], api_name="labels")
    api_index.upload(api_segment, [api_file, api_model], api_index, api_name="segment")
    api_model.submit(api_palette, api_model, api_json, api_name="palette")
