"""What the page does: each ``wire_*`` function connects one group of events of a :class:`Page`.

Embedded (live) models re-render on every canvas change, latest wins; the others on the Render button,
with a progress bar per step when the backend reports steps.
"""

from __future__ import annotations

import gradio as gr

from palettes import load as load_palette
from synth.ui.layout import Page, example_pictures
from synth.ui.protocol import ModelSide
from synth.ui.widgets import (
    brush,
    class_choices,
    default_class,
    editor_picture,
    editor_value,
    safe,
    swatch_html,
    upload_path,
)

#: Events that write the canvas: no loading overlay on it (it would swallow strokes while pending).
PRIVATE = dict(api_visibility="private", show_progress="hidden")


def live_settings(page: Page) -> dict:
    """Keyword arguments of every live re-render event."""
    return dict(
        outputs=page.render_outputs,
        trigger_mode="always_last",
        concurrency_limit=2,
        concurrency_id="live",
        show_progress="minimal",
        api_visibility="private",
    )


def collect_options(side: ModelSide, model, prompt, negative, steps, guidance, cond, fast, style) -> dict:
    """The diffusion controls' values the backend takes (none for live or unavailable backends)."""
    info = side.model(model)
    if not info.ready or info.live:
        return {}
    values = {
        "prompt": prompt or None,
        "negative_prompt": negative or None,
        "steps": int(steps) if steps else None,
        "guidance_scale": guidance,
        "conditioning_scale": cond,
        "fast": bool(fast),
        "style_image": style,
    }
    accepted = set(side.options(model))
    return {k: v for k, v in values.items() if k in accepted and v is not None}


def render_outputs(side: ModelSide, result, report: dict) -> tuple:
    """Gallery, seen map, overlay, report and files of one render."""
    files = side.export(result)
    report = dict(
        report,
        model=result.model,
        seed=result.seed,
        seconds=result.seconds,
        output_size=[result.images[0].width, result.images[0].height],
    )
    seen = side.colours(result.ids, result.model)
    return result.images, seen, side.overlay(result.images[0], result.ids, result.model), report, files


def wire_rendering(side: ModelSide, page: Page):
    """Live re-render on canvas changes; the Render button; New variation. Returns the live handler."""

    @safe
    def live(value, model, seed_value, n):
        ids, rep = side.labels(editor_picture(value), model)
        if not side.model(model).live:
            return gr.skip(), side.colours(ids, model), gr.skip(), rep, gr.skip()
        return render_outputs(side, side.render(ids, model, int(seed_value or 0), int(n)), rep)

    @safe
    def render(value, model, seed_value, n, *option_values, progress=gr.Progress()):  # noqa: B008
        ids, rep = side.labels(editor_picture(value), model)
        opts = collect_options(side, model, *option_values)
        progress(0, desc=f"{model}: starting")

        def on_step(step, total, preview=None):
            progress((int(step), int(total)), desc=f"{model}: step {step}/{total}")

        return render_outputs(side, side.render(ids, model, int(seed_value or 0), int(n), opts, on_step), rep)

    live_inputs = [page.editor, page.model_state, page.seed, page.num_images]
    page.editor.change(live, live_inputs, **live_settings(page))
    # the Render button reads the model dropdown (so API callers can name a model); the model switch keeps
    # the dropdown on a ready model, equal to model_state once the canvas is converted
    page.render_btn.click(
        render,
        [page.editor, page.model, page.seed, page.num_images, *page.option_inputs],
        page.render_outputs,
        concurrency_limit=1,
        concurrency_id="render",
        api_name="render_canvas",
        api_visibility="undocumented",
    )
    page.variation.click(side.new_seed, None, page.seed, api_visibility="private").then(
        live, live_inputs, **live_settings(page)
    )
    return live


def wire_sources(side: ModelSide, page: Page, live) -> None:
    """Blank canvas, label-map and photo uploads, examples, and flood fill on the seen map."""

    def show(ids, model):
        return editor_value(side.colours(ids, model))

    @safe
    def blank(model):
        return show(side.blank(model), model)

    @safe
    def load_map(file, model):
        return show(side.read_label_map(upload_path(file), model)[0], model)

    @safe
    def load_photo(file, model):
        ids = side.segment(upload_path(file), model)
        gr.Info("Label map predicted from the photo: correct it with the brush.")
        return show(ids, model)

    @safe
    def pick_example(paths, model, evt: gr.SelectData):
        return show(side.read_label_map(paths[evt.index], model)[0], model)

    @safe
    def fill(value, model, class_id, evt: gr.SelectData):
        ids, _ = side.labels(editor_picture(value), model)
        x, y = evt.index
        return show(side.flood_fill(ids, int(x), int(y), int(class_id), model), model)

    live_inputs = [page.editor, page.model_state, page.seed, page.num_images]
    for event in (
        page.blank_btn.click(blank, page.model_state, page.editor, **PRIVATE),
        page.upload_map.upload(load_map, [page.upload_map, page.model_state], page.editor, **PRIVATE),
        page.upload_photo.upload(load_photo, [page.upload_photo, page.model_state], page.editor, **PRIVATE),
        page.examples.select(pick_example, [page.example_paths, page.model_state], page.editor, **PRIVATE),
        page.seen.select(fill, [page.editor, page.model_state, page.class_pick], page.editor, **PRIVATE),
    ):
        event.then(live, live_inputs, **live_settings(page))


def wire_classes(side: ModelSide, page: Page) -> None:
    """The class dropdown and the swatches pick the brush colour."""

    def choose_class(class_id, model):
        if class_id is None:
            return gr.skip(), gr.skip()
        pal = side.model(model).palette
        return gr.ImageEditor(brush=brush(pal, int(class_id))), swatch_html(pal, int(class_id))

    def pick_swatch(evt: gr.EventData):
        return int(evt._data["id"])

    page.class_pick.change(choose_class, [page.class_pick, page.model_state], [page.editor, page.swatches], **PRIVATE)
    page.swatches.pick(pick_swatch, None, page.class_pick, **PRIVATE)


def wire_model_switch(side: ModelSide, page: Page, live) -> None:
    """Switching model converts the canvas by class name and fits it to the new model's canvas."""

    @safe
    def switch_model(new, old, value):
        info = side.model(new)
        if not info.ready:
            gr.Warning(f"{new} is not available here: {info.reason}")
            return (old,) + (gr.skip(),) * 9
        pal = info.palette
        ids, _ = side.labels(editor_picture(value), old)
        ids, _ = side.switch(ids, old, new)
        cls = default_class(pal)
        paths = side.examples(new)
        canvas = gr.ImageEditor(
            value=editor_value(side.colours(ids, new)), brush=brush(pal, cls), canvas_size=tuple(info.size)
        )
        return (
            new,
            new,
            canvas,
            gr.Dropdown(choices=class_choices(pal), value=cls),
            swatch_html(pal, cls),
            load_palette(pal).legend(),
            example_pictures(side, new, paths),
            paths,
            gr.Accordion(visible=not info.live),
            gr.Button(value="Render" if not info.live else "Render again"),
        )

    outputs = [page.model, page.model_state, page.editor, page.class_pick, page.swatches, page.legend]
    outputs += [page.examples, page.example_paths, page.diffusion, page.render_btn]
    page.model.change(switch_model, [page.model, page.model_state, page.editor], outputs, **PRIVATE).then(
        live, [page.editor, page.model_state, page.seed, page.num_images], **live_settings(page)
    )
