"""The page's components, laid out: :func:`layout` returns them as one :class:`Page`."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from palettes import load as load_palette
from synth.ui.protocol import ModelSide
from synth.ui.widgets import SWATCH_JS, brush, class_choices, default_class, editor_value, swatch_html

INTRO = (
    "# Daub: paint a semantic map, get a photograph\n"
    "Pick a class on the right, paint on the canvas (brush, eraser, sizes, undo/redo in the editor's toolbar). "
    "Embedded models re-render live after every stroke; click the *label map* below to flood-fill a region."
)


@dataclass
class Page:
    """Every component the events read or write."""

    model: gr.Dropdown
    model_state: gr.State
    example_paths: gr.State
    editor: gr.ImageEditor
    blank_btn: gr.Button
    upload_map: gr.UploadButton
    upload_photo: gr.UploadButton
    class_pick: gr.Dropdown
    swatches: gr.HTML
    legend: gr.Image
    examples: gr.Gallery
    seed: gr.Number
    variation: gr.Button
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
    gallery: gr.Gallery
    seen: gr.Image
    overlay: gr.Image
    report: gr.JSON
    files: gr.File

    @property
    def render_outputs(self) -> list:
        return [self.gallery, self.seen, self.overlay, self.report, self.files]

    @property
    def option_inputs(self) -> list:
        """The diffusion option controls, in the order of :func:`synth.ui.events.collect_options`."""
        return [self.prompt, self.negative, self.steps, self.guidance, self.cond, self.fast, self.style]


def model_table(infos) -> str:
    """Markdown table of the backends and what each needs."""
    lines = ["| model | palette | status |", "|---|---|---|"]
    for m in infos:
        status = ("ready, live" if m.live else "ready (Render button)") if m.ready else f"needs: {m.reason}"
        lines.append(f"| `{m.name}` | {m.palette} | {status.replace('|', '/')} |")
    return "\n".join(lines)


def layout(side: ModelSide, model0: str) -> Page:
    """Create the components inside the current ``gr.Blocks`` with ``model0`` selected."""
    infos, info0, paths0 = side.models(), side.model(model0), side.examples(model0)
    gr.Markdown(INTRO)
    parts = {"model_state": gr.State(model0), "example_paths": gr.State(paths0)}
    with gr.Row():
        parts["model"] = gr.Dropdown(
            choices=[(m.label, m.name) for m in infos], value=model0, label="Model", scale=2, elem_id="model"
        )
        with gr.Accordion("Models and what they need", open=False):
            gr.Markdown(model_table(infos))
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            parts.update(_canvas(side, info0))
        with gr.Column(scale=1, min_width=240):
            parts.update(_classes(info0.palette))
            parts["examples"] = gr.Gallery(
                value=example_pictures(side, model0, paths0),
                label="Examples (click one to start from it)",
                columns=2,
                height="auto",
                object_fit="contain",
                allow_preview=False,
                format="png",
                elem_id="examples",
                interactive=False,
            )
    parts.update(_controls(info0))
    parts.update(_outputs())
    return Page(**parts)


def _canvas(side: ModelSide, info) -> dict:
    """The image editor holding the painting, and the buttons that replace it."""
    editor = gr.ImageEditor(
        value=editor_value(side.colours(side.blank(info.name), info.palette)),
        label="Canvas",
        elem_id="canvas",
        type="numpy",
        image_mode="RGBA",
        format="png",
        sources=(),
        transforms=(),
        layers=False,
        brush=brush(info.palette, default_class(info.palette)),
        eraser=gr.Eraser(default_size=10),
        canvas_size=info.size,
        height=max(360, int(info.size[1] * 1.6) + 90),
    )
    with gr.Row():
        blank_btn = gr.Button("Blank canvas", size="sm", elem_id="blank")
        upload_map = gr.UploadButton("Upload label map", file_types=["image"], size="sm", elem_id="upload-map")
        upload_photo = gr.UploadButton("Photo → label map", file_types=["image"], size="sm", elem_id="upload-photo")
    return {"editor": editor, "blank_btn": blank_btn, "upload_map": upload_map, "upload_photo": upload_photo}


def _classes(palette: str) -> dict:
    """The class picker, the clickable swatches and the legend."""
    class0 = default_class(palette)
    class_pick = gr.Dropdown(
        choices=class_choices(palette), value=class0, filterable=True, label="Class (type to search)",
        elem_id="class-pick",
    )  # fmt: skip
    swatches = gr.HTML(swatch_html(palette, class0), js_on_load=SWATCH_JS, elem_id="swatches")
    with gr.Accordion("Legend", open=False):
        legend = gr.Image(
            load_palette(palette).legend(), format="png", show_label=False, interactive=False, buttons=["download"]
        )
    return {"class_pick": class_pick, "swatches": swatches, "legend": legend}


def _controls(info) -> dict:
    """Seed, number of images, the Render button and the diffusion options."""
    c = {}
    with gr.Row():
        c["seed"] = gr.Number(value=0, precision=0, label="Seed", minimum=0, elem_id="seed")
        c["variation"] = gr.Button("New variation (random seed)", elem_id="variation")
        c["num_images"] = gr.Slider(1, 4, value=1, step=1, label="Images", elem_id="num-images")
        c["render_btn"] = gr.Button("Render", variant="primary", elem_id="render")
    with gr.Accordion("Diffusion options", open=True, visible=not info.live) as c["diffusion"]:
        with gr.Row():
            c["prompt"] = gr.Textbox(label="Prompt", placeholder="(backend default)", elem_id="prompt")
            c["negative"] = gr.Textbox(label="Negative prompt", placeholder="(backend default)")
        with gr.Row():
            c["steps"] = gr.Slider(1, 50, value=20, step=1, label="Steps", elem_id="steps")
            c["guidance"] = gr.Slider(0, 15, value=7.5, step=0.5, label="Guidance scale")
            c["cond"] = gr.Slider(0, 2, value=1.0, step=0.05, label="Conditioning scale")
            c["fast"] = gr.Checkbox(value=False, label="Fast mode (LCM-LoRA, 4 steps)")
        c["style"] = gr.Image(type="pil", label="Style reference photo (optional)", format="png", height=160)
    return c


def _outputs() -> dict:
    """The photo, the label map the model saw, the overlay, the report and the downloads."""
    o = {}
    with gr.Row(equal_height=False):
        o["gallery"] = gr.Gallery(
            label="Photo", format="png", columns=2, height=330, elem_id="gallery", type="pil", object_fit="contain"
        )
        with gr.Column():
            o["seen"] = gr.Image(
                label="Label map the model saw (click to fill with the current class)",
                format="png",
                interactive=False,
                elem_id="seen",
                type="numpy",
                height=220,
            )
            o["overlay"] = gr.Image(label="Overlay", format="png", interactive=False, elem_id="overlay", height=220)
    with gr.Row(equal_height=False):
        o["report"] = gr.JSON(
            label="Report (pixels exact / snapped / beyond tolerance / cleaned, classes)", elem_id="report"
        )
        o["files"] = gr.File(label="Downloads: photo, index PNG, colour PNG", file_count="multiple", elem_id="files")
    return o


def example_pictures(side: ModelSide, model: str, paths: list[str]) -> list:
    """The example label maps of ``paths`` in paint colours, as the examples gallery shows them."""
    return [side.colours(side.read_label_map(p, model)[0], model) for p in paths]
