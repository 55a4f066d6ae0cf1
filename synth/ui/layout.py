"""The page's components, laid out: :func:`layout` returns them as one :class:`Page`.

At 1280x800 the painter (canvas, tools, classes) sits left and the photo right, both above the fold;
on a phone the columns stack: canvas, classes, photo. Details (the label map the model saw, overlay,
report, downloads), the batch section and the model table wait in closed accordions below.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from synth.ui.batch import BatchPanel, batch_section
from synth.ui.painter import painter, value_for
from synth.ui.protocol import ModelSide

INTRO = (
    "## Daub: paint a semantic map, get a photograph\n"
    "Pick a class, paint on the canvas; live models redraw the photo after every stroke. "
    "Keys: **1–9, 0** classes · **[ ]** brush size · **B F E** brush, fill, eraser · "
    "**O** objects mode · **Ctrl+Z / Ctrl+Shift+Z** undo, redo."
)


@dataclass
class Page:
    """Every component the events read or write."""

    model: gr.Dropdown
    model_state: gr.State
    saved: gr.State
    example_paths: gr.State
    painter: gr.HTML
    upload_map: gr.UploadButton
    upload_photo: gr.UploadButton
    examples: gr.Gallery
    gallery: gr.Gallery
    photo_note: gr.Markdown
    seed: gr.Number
    variation: gr.Button
    region_row: gr.Row
    region_class: gr.Dropdown
    redraw: gr.Button
    region_seeds: gr.State
    num_images: gr.Slider
    render_btn: gr.Button
    diffusion: gr.Accordion
    prompt: gr.Textbox
    negative: gr.Textbox
    steps: gr.Slider
    guidance: gr.Slider
    cond: gr.Slider
    fast: gr.Checkbox
    style: gr.Image
    seen: gr.Image
    overlay: gr.Image
    instances: gr.Image
    heat_state: gr.State
    heat_word: gr.Radio
    heat_image: gr.Image
    heatmaps: gr.Checkbox
    report: gr.JSON
    files: gr.File
    batch: BatchPanel

    @property
    def render_outputs(self) -> list:
        return [
            self.gallery, self.photo_note, self.seen, self.overlay, self.instances, self.report, self.files,
            self.heat_state, self.heat_word, self.heat_image,
        ]  # fmt: skip

    @property
    def live_inputs(self) -> list:
        return [self.painter, self.model_state, self.seed, self.num_images, self.region_seeds]

    @property
    def option_inputs(self) -> list:
        """The diffusion option controls, in the order of :func:`synth.ui.events.collect_options`."""
        return [self.prompt, self.negative, self.steps, self.guidance, self.cond, self.fast, self.style, self.heatmaps]


def model_table(infos) -> str:
    """Markdown table of the backends and what each needs."""
    lines = ["| model | palette | status |", "|---|---|---|"]
    for m in infos:
        status = ("ready, live" if m.live else "ready (Render button)") if m.ready else f"needs: {m.reason}"
        if m.ready and m.reason:
            status += f"; {m.reason}"
        lines.append(f"| `{m.name}` | {m.palette} | {status.replace('|', '/')} |")
    return "\n".join(lines)


def model_note(info) -> str:
    """One line under the model menu: what the model is and how it renders."""
    how = "redraws live after every stroke" if info.live else "renders when you press Render"
    return f"{info.description}; {how}."


def region_menu(side: ModelSide, model: str) -> dict:
    """The Re-draw class menu for ``model``: ``choices`` (``(name, id)`` of the classes one can re-draw on
    their own: every class but don't-care) and ``value`` (the first of them)."""
    pal = side.palette_json(model)
    choices = [(c["name"], c["id"]) for c in pal["classes"] if c["id"] != pal["dontcare"]]
    return {"choices": choices, "value": choices[0][1] if choices else None}


def layout(side: ModelSide, model0: str) -> Page:
    """Create the components inside the current ``gr.Blocks`` with ``model0`` selected."""
    infos, info0, paths0 = side.models(), side.model(model0), side.examples(model0)
    parts = {"model_state": gr.State(model0), "saved": gr.State({}), "example_paths": gr.State(paths0)}
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=340):
            gr.Markdown(INTRO, elem_id="intro")
        with gr.Column(scale=2, min_width=300):
            parts["model"] = gr.Dropdown(
                choices=[(m.label, m.name) for m in infos], value=model0, label="Model", elem_id="model",
                info=model_note(info0),
            )  # fmt: skip
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=340):
            parts["painter"] = painter(value_for(side, side.blank(model0), model0))
            with gr.Row():
                parts["upload_map"] = gr.UploadButton(
                    "Upload label map", file_types=["image"], size="sm", elem_id="upload-map"
                )
                parts["upload_photo"] = gr.UploadButton(
                    "Photo → label map", file_types=["image"], size="sm", elem_id="upload-photo"
                )
        with gr.Column(scale=2, min_width=300):
            parts.update(_photo(info0))
            parts["examples"] = gr.Gallery(
                value=example_pictures(side, model0, paths0), label="Examples (click one to start from it)",
                columns=4, height=150, object_fit="contain", allow_preview=False, format="png",
                elem_id="examples", interactive=False, buttons=[], rows=1,
            )  # fmt: skip
            parts.update(_regions(region_menu(side, model0), side.redraws(model0)))  # below the examples
    parts.update(_details())
    parts["batch"] = batch_section()
    with gr.Accordion("Models and what they need", open=False):
        gr.Markdown(model_table(infos))
    return Page(**parts)


def _photo(info) -> dict:
    """The photo, its seed and image count, the Render button and the diffusion options."""
    c = {}
    c["gallery"] = gr.Gallery(
        label="Photo", format="png", columns=1, height="auto", elem_id="gallery", type="pil", object_fit="contain",
        buttons=["download", "fullscreen"], preview=False, allow_preview=True,
    )  # fmt: skip
    c["photo_note"] = gr.Markdown("", elem_id="photo-note")
    c["heat_state"] = gr.State(None)
    c["heat_word"] = gr.Radio(
        [], label="Where each word of the prompt acted (word heat map over the photo)", visible=False,
        elem_id="heat-word",
    )  # fmt: skip
    c["heat_image"] = gr.Image(
        label="Word heat map", format="png", type="numpy", interactive=False, visible=False, elem_id="heat-image"
    )
    with gr.Row(equal_height=True):
        c["seed"] = gr.Number(value=0, precision=0, label="Seed", minimum=0, elem_id="seed", min_width=90)
        c["num_images"] = gr.Slider(1, 4, value=1, step=1, label="Images", elem_id="num-images", min_width=120)
        c["variation"] = gr.Button("New variation", elem_id="variation", min_width=90)
    c["render_btn"] = gr.Button("Render", variant="primary", elem_id="render", visible=not info.live)
    with gr.Accordion("Diffusion options", open=False, visible=not info.live) as c["diffusion"]:
        c["prompt"] = gr.Textbox(label="Prompt", placeholder="(backend default)", elem_id="prompt")
        c["negative"] = gr.Textbox(label="Negative prompt", placeholder="(backend default)")
        with gr.Row():
            c["steps"] = gr.Slider(1, 50, value=20, step=1, label="Steps", elem_id="steps")
            c["guidance"] = gr.Slider(0, 15, value=7.5, step=0.5, label="Guidance scale")
        with gr.Row():
            c["cond"] = gr.Slider(0, 2, value=1.0, step=0.05, label="Conditioning scale")
            c["fast"] = gr.Checkbox(value=False, label="Fast mode (LCM-LoRA, 4 steps)")
            c["heatmaps"] = gr.Checkbox(value=True, label="Word heat maps (where each prompt word acted)")
        c["style"] = gr.Image(type="pil", label="Style reference photo (optional)", format="png", height=160)
    return c


def _regions(menu: dict, visible: bool) -> dict:
    """Re-draw one class: a new seed for that class's region only, the rest of the photo kept (models
    with 3D noise). The region seeds stay through strokes; New variation and a model switch clear them."""
    r = {"region_seeds": gr.State({})}
    with gr.Row(equal_height=True, visible=visible, elem_id="region-row") as r["region_row"]:
        r["region_class"] = gr.Dropdown(
            **menu, label="Re-draw one class", elem_id="region-class", min_width=140, scale=2
        )
        r["redraw"] = gr.Button("Re-draw it", elem_id="redraw", min_width=90, scale=1)
    return r


def _details() -> dict:
    """The label map the model saw, the overlay, the report and the downloads (closed by default)."""
    o = {}
    with gr.Accordion("What the model saw, report, downloads", open=False, elem_id="details"):
        with gr.Row(equal_height=False):
            o["seen"] = gr.Image(
                label="Label map the model saw", format="png", interactive=False, elem_id="seen", type="numpy",
                buttons=["download"],
            )  # fmt: skip
            o["overlay"] = gr.Image(
                label="Overlay", format="png", interactive=False, elem_id="overlay", buttons=["download"]
            )
            o["instances"] = gr.Image(
                label="Objects the model saw (instance map; models that take one)", format="png", type="numpy",
                interactive=False, elem_id="instances", buttons=["download"],
            )  # fmt: skip
        with gr.Row(equal_height=False):
            o["report"] = gr.JSON(label="Report (pixels exact / snapped, classes)", elem_id="report")
            o["files"] = gr.File(
                label="Downloads: photo, index PNG, colour PNG (instance PNG)", file_count="multiple", elem_id="files",
                interactive=False,
            )  # fmt: skip
    return o


def example_pictures(side: ModelSide, model: str, paths: list[str]) -> list:
    """The example label maps of ``paths`` in paint colours, as the examples gallery shows them."""
    return [side.colours(side.read_label_map(p, model)[0], model) for p in paths]
