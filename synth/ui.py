"""The web demo (Gradio Blocks): paint a label map, get a photograph.

``create_demo(process_fns)`` builds the UI around the model functions it is given
(:meth:`synth.render.Studio.process_fns`); this module never loads a model or does tensor maths.
``daub serve`` (:func:`serve_main`) and ``app.py`` wire the two together and launch.

Choices made here (see the README, "Web demo and HTTP API"):

* the canvas is an ``ImageEditor`` whose *background* holds the starting label map (blank = the
  palette's fill class); brush strokes go on a layer above it, the eraser removes strokes (uncovering
  the starting map; transparent pixels would count as the fill class);
* switching model converts the canvas by class name (a class the new palette also has keeps its
  pixels, anything else becomes the new fill class) and fits it to the new model's canvas size;
* embedded models re-render live on every canvas change (latest wins); the others render on the
  Render button, with a progress bar per step when the backend reports steps;
* a click on the "label map the model saw" image flood-fills that region with the current class.
"""

from __future__ import annotations

import argparse
import functools
import html
from collections.abc import Callable, Mapping

import gradio as gr

from palettes import load as load_palette

#: Upload size limit handed to ``launch(max_file_size=...)``.
MAX_FILE_SIZE = "20mb"
#: Options the UI has controls for (shown when the current backend accepts them).
OPTION_CONTROLS = ("prompt", "negative_prompt", "steps", "guidance_scale", "conditioning_scale", "fast", "style_image")

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


def _safe(fn: Callable) -> Callable:
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


# --------------------------------------------------------------------------------------------------
# palette widgets


def swatch_html(palette: str, selected: int | None = None) -> str:
    """One clickable chip + name per class of ``palette`` (the selected one highlighted)."""
    pal = load_palette(palette)
    rows = []
    for s in pal.swatches:
        cls = "sw sel" if s.id == selected else "sw"
        name = html.escape(s.name)
        rows.append(
            f'<button class="{cls}" data-id="{s.id}" title="{name} (id {s.id})">'
            f'<span class="chip" style="background:{s.hex}"></span>{name}</button>'
        )
    return "".join(rows)


def brush(palette: str, class_id: int | None = None, size: int = 10) -> gr.Brush:
    """The editor's brush for ``palette``: its paint colours only, set to ``class_id``'s colour."""
    pal = load_palette(palette)
    colours = [s.hex for s in pal.swatches]
    current = next((s.hex for s in pal.swatches if s.id == class_id), colours[0])
    return gr.Brush(colors=colours, default_color=current, color_mode="fixed", default_size=size)


def class_choices(palette: str) -> list[tuple[str, int]]:
    pal = load_palette(palette)
    return [(f"{s.name}  ·  {s.id}", s.id) for s in pal.swatches]


def default_class(palette: str) -> int:
    """First class that is not the fill (what a fresh brush paints)."""
    pal = load_palette(palette)
    return next(i for i in range(pal.num_classes) if i != pal.fill)


def _hex_of(palette: str, class_id: int) -> str:
    return next(s.hex for s in load_palette(palette).swatches if s.id == class_id)


# --------------------------------------------------------------------------------------------------
# the demo


def create_demo(process_fns: Mapping[str, Callable], default_model: str | None = None) -> gr.Blocks:
    """Build the Blocks app around ``process_fns`` (see :meth:`synth.render.Studio.process_fns`).

    Args:
        process_fns: model functions by name (models, editor_labels, render, ...).
        default_model: model selected at start (default: the first ready one).
    """
    fns = process_fns
    infos = {m.name: m for m in fns["models"]()}
    ready = [m.name for m in infos.values() if m.ready]
    if default_model is not None:
        if default_model not in infos:
            raise ValueError(f"unknown model {default_model!r}; choose one of: {', '.join(infos)}")
        if not infos[default_model].ready:
            raise ValueError(f"model {default_model!r} is not available: {infos[default_model].reason}")
    model0 = default_model or (ready[0] if ready else next(iter(infos)))
    pal0 = infos[model0].palette
    class0 = default_class(pal0)
    ids0 = fns["blank"](model0)
    w0, h0 = infos[model0].size

    def model_table() -> str:
        lines = ["| model | palette | status |", "|---|---|---|"]
        for m in infos.values():
            status = ("ready, live" if m.live else "ready (Render button)") if m.ready else f"needs: {m.reason}"
            lines.append(f"| `{m.name}` | {m.palette} | {status.replace('|', '/')} |")
        return "\n".join(lines)

    def labels_of(value, model):
        return fns["editor_labels"](value, model)

    def outputs_for(result, report):
        """Gallery, seen map, overlay, report, files of one render."""
        files = fns["export"](result)
        pal = infos[result.model].palette
        report = dict(
            report,
            model=result.model,
            seed=result.seed,
            seconds=result.seconds,
            output_size=[result.images[0].width, result.images[0].height],
        )
        seen = fns["colours"](result.ids, pal)
        return result.images, seen, fns["overlay"](result.images[0], result.ids, pal), report, files

    def collect_options(model, prompt, negative, steps, guidance, cond, fast, style):
        if not infos[model].ready or infos[model].live:
            return {}
        accepted = set(fns["options"](model))
        values = {
            "prompt": prompt or None,
            "negative_prompt": negative or None,
            "steps": int(steps) if steps else None,
            "guidance_scale": guidance,
            "conditioning_scale": cond,
            "fast": bool(fast),
            "style_image": style,
        }
        return {k: v for k, v in values.items() if k in accepted and v is not None}

    with gr.Blocks(title="Daub: paint a map, get a photo") as demo:
        gr.Markdown(
            "# Daub: paint a semantic map, get a photograph\n"
            "Pick a class on the right, paint on the canvas (brush, eraser, sizes, undo/redo in the editor's toolbar). "
            "Embedded models re-render live after every stroke; click the *label map* below to flood-fill a region."
        )
        model_state = gr.State(model0)
        example_paths = gr.State(fns["examples"](model0))
        with gr.Row():
            model = gr.Dropdown(
                choices=[(m.label, m.name) for m in infos.values()],
                value=model0,
                label="Model",
                scale=2,
                elem_id="model",
            )
            with gr.Accordion("Models and what they need", open=False):
                gr.Markdown(model_table())
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                editor = gr.ImageEditor(
                    value=fns["editor_value"](ids0, pal0),
                    label="Canvas",
                    elem_id="canvas",
                    type="numpy",
                    image_mode="RGBA",
                    format="png",
                    sources=(),
                    transforms=(),
                    layers=False,
                    brush=brush(pal0, class0),
                    eraser=gr.Eraser(default_size=10),
                    canvas_size=(w0, h0),
                    height=max(360, int(h0 * 1.6) + 90),
                )
                with gr.Row():
                    blank_btn = gr.Button("Blank canvas", size="sm", elem_id="blank")
                    upload_map = gr.UploadButton(
                        "Upload label map", file_types=["image"], size="sm", elem_id="upload-map"
                    )
                    upload_photo = gr.UploadButton(
                        "Photo → label map", file_types=["image"], size="sm", elem_id="upload-photo"
                    )
            with gr.Column(scale=1, min_width=240):
                class_pick = gr.Dropdown(
                    choices=class_choices(pal0),
                    value=class0,
                    filterable=True,
                    label="Class (type to search)",
                    elem_id="class-pick",
                )
                swatches = gr.HTML(swatch_html(pal0, class0), js_on_load=SWATCH_JS, elem_id="swatches")
                with gr.Accordion("Legend", open=False):
                    legend = gr.Image(
                        load_palette(pal0).legend(),
                        format="png",
                        show_label=False,
                        interactive=False,
                        buttons=["download"],
                    )
                examples = gr.Gallery(
                    value=[fns["colours"](fns["read_label_map"](p, model0)[0], pal0) for p in fns["examples"](model0)],
                    label="Examples (click one to start from it)",
                    columns=2,
                    height="auto",
                    object_fit="contain",
                    allow_preview=False,
                    format="png",
                    elem_id="examples",
                    interactive=False,
                )
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed", minimum=0, elem_id="seed")
            variation = gr.Button("New variation (random seed)", elem_id="variation")
            num_images = gr.Slider(1, 4, value=1, step=1, label="Images", elem_id="num-images")
            render_btn = gr.Button("Render", variant="primary", elem_id="render")
        with gr.Accordion("Diffusion options", open=True, visible=not infos[model0].live) as diffusion:
            with gr.Row():
                prompt = gr.Textbox(label="Prompt", placeholder="(backend default)", elem_id="prompt")
                negative = gr.Textbox(label="Negative prompt", placeholder="(backend default)")
            with gr.Row():
                steps = gr.Slider(1, 50, value=20, step=1, label="Steps", elem_id="steps")
                guidance = gr.Slider(0, 15, value=7.5, step=0.5, label="Guidance scale")
                cond = gr.Slider(0, 2, value=1.0, step=0.05, label="Conditioning scale")
                fast = gr.Checkbox(value=False, label="Fast mode (LCM-LoRA, 4 steps)")
            style = gr.Image(type="pil", label="Style reference photo (optional)", format="png", height=160)
        with gr.Row(equal_height=False):
            gallery = gr.Gallery(
                label="Photo", format="png", columns=2, height=330, elem_id="gallery", type="pil", object_fit="contain"
            )
            with gr.Column():
                seen = gr.Image(
                    label="Label map the model saw (click to fill with the current class)",
                    format="png",
                    interactive=False,
                    elem_id="seen",
                    type="numpy",
                    height=220,
                )
                overlay = gr.Image(label="Overlay", format="png", interactive=False, elem_id="overlay", height=220)
        with gr.Row(equal_height=False):
            report = gr.JSON(
                label="Report (pixels exact / snapped / beyond tolerance / cleaned, classes)", elem_id="report"
            )
            files = gr.File(label="Downloads: photo, index PNG, colour PNG", file_count="multiple", elem_id="files")

        render_outputs = [gallery, seen, overlay, report, files]

        # -- events: rendering ---------------------------------------------------------------------
        @_safe
        def live(value, model, seed_value, n):
            ids, rep = labels_of(value, model)
            if not infos[model].live:
                return gr.skip(), fns["colours"](ids, infos[model].palette), gr.skip(), rep, gr.skip()
            result = fns["render"](ids, model, int(seed_value or 0), int(n))
            return outputs_for(result, rep)

        @_safe
        def render(value, model, seed_value, n, p, ng, st, gd, cd, fs, sty, progress=gr.Progress()):  # noqa: B008
            ids, rep = labels_of(value, model)
            opts = collect_options(model, p, ng, st, gd, cd, fs, sty)
            progress(0, desc=f"{model}: starting")

            def on_step(step, total, preview=None):
                progress((int(step), int(total)), desc=f"{model}: step {step}/{total}")

            result = fns["render"](ids, model, int(seed_value or 0), int(n), opts, on_step)
            return outputs_for(result, rep)

        live_inputs = [editor, model_state, seed, num_images]
        # the Render button reads the model dropdown (so API callers can name a model); switch_model keeps the
        # dropdown on a ready model, equal to model_state once the canvas is converted
        render_inputs = [editor, model, seed, num_images, prompt, negative, steps, guidance, cond, fast, style]
        live_kw = dict(
            outputs=render_outputs,
            trigger_mode="always_last",
            concurrency_limit=2,
            concurrency_id="live",
            show_progress="minimal",
            api_visibility="private",
        )
        editor.change(live, live_inputs, **live_kw)
        render_btn.click(
            render,
            render_inputs,
            render_outputs,
            concurrency_limit=1,
            concurrency_id="render",
            api_name="render_canvas",
            api_visibility="undocumented",
        )
        variation.click(lambda: fns["new_seed"](), None, seed, api_visibility="private").then(
            live, live_inputs, **live_kw
        )

        # -- events: canvas sources ----------------------------------------------------------------
        @_safe
        def blank(model):
            return fns["editor_value"](fns["blank"](model), infos[model].palette)

        @_safe
        def load_map(file, model):
            ids, _ = fns["read_label_map"](_path(file), model)
            return fns["editor_value"](ids, infos[model].palette)

        @_safe
        def load_photo(file, model):
            ids = fns["segment"](_path(file), model)
            gr.Info("Label map predicted from the photo: correct it with the brush.")
            return fns["editor_value"](ids, infos[model].palette)

        @_safe
        def pick_example(paths, model, evt: gr.SelectData):
            ids, _ = fns["read_label_map"](paths[evt.index], model)
            return fns["editor_value"](ids, infos[model].palette)

        @_safe
        def fill(value, model, class_id, evt: gr.SelectData):
            ids, _ = labels_of(value, model)
            x, y = evt.index
            ids = fns["flood_fill"](ids, int(x), int(y), int(class_id), infos[model].palette)
            return fns["editor_value"](ids, infos[model].palette)

        # events that write the canvas: no loading overlay on it (it would swallow strokes while pending)
        private = dict(api_visibility="private", show_progress="hidden")
        for event in (
            blank_btn.click(blank, model_state, editor, **private),
            upload_map.upload(load_map, [upload_map, model_state], editor, **private),
            upload_photo.upload(load_photo, [upload_photo, model_state], editor, **private),
            examples.select(pick_example, [example_paths, model_state], editor, **private),
            seen.select(fill, [editor, model_state, class_pick], editor, **private),
        ):
            event.then(live, live_inputs, **live_kw)

        # -- events: classes -----------------------------------------------------------------------
        def choose_class(class_id, model):
            pal = infos[model].palette
            if class_id is None:
                return gr.skip(), gr.skip()
            return gr.ImageEditor(brush=brush(pal, int(class_id))), swatch_html(pal, int(class_id))

        class_pick.change(choose_class, [class_pick, model_state], [editor, swatches], **private)

        def pick_swatch(evt: gr.EventData):
            return int(evt._data["id"])

        swatches.pick(pick_swatch, None, class_pick, **private)

        # -- events: model switch ------------------------------------------------------------------
        @_safe
        def switch_model(new, old, value):
            info = infos[new]
            if not info.ready:
                gr.Warning(f"{new} is not available here: {info.reason}")
                return (old,) + (gr.skip(),) * 9
            pal = info.palette
            ids, _ = labels_of(value, old)
            ids = fns["convert"](ids, infos[old].palette, pal)
            ids = fns["fit"](ids, new)
            cls = default_class(pal)
            paths = fns["examples"](new)
            gallery_items = [fns["colours"](fns["read_label_map"](p, new)[0], pal) for p in paths]
            editor_update = gr.ImageEditor(
                value=fns["editor_value"](ids, pal), brush=brush(pal, cls), canvas_size=tuple(info.size)
            )
            return (
                new,
                new,
                editor_update,
                gr.Dropdown(choices=class_choices(pal), value=cls),
                swatch_html(pal, cls),
                load_palette(pal).legend(),
                gallery_items,
                paths,
                gr.Accordion(visible=not info.live),
                gr.Button(value="Render" if not info.live else "Render again"),
            )

        model.change(
            switch_model,
            [model, model_state, editor],
            [model, model_state, editor, class_pick, swatches, legend, examples, example_paths, diffusion, render_btn],
            **private,
        ).then(live, live_inputs, **live_kw)

        demo.load(live, live_inputs, **live_kw)

        # -- HTTP API (named endpoints; see the README) -------------------------------------------
        with gr.Group(visible=False):
            api_file = gr.File(label="label map (index or colour PNG)")
            api_model = gr.Textbox(label="model or palette name")
            api_seed = gr.Number(label="seed", precision=0)
            api_image = gr.Image(label="image", format="png", type="pil")
            api_index = gr.File(label="index PNG")
            api_report = gr.JSON(label="report")
            api_json = gr.JSON(label="palette")

        @_safe
        def api_render(file, model_name, seed_value, progress=gr.Progress()):  # noqa: B008
            """Label map (index or colour PNG) + model + seed -> image (PNG)."""
            if model_name not in infos:
                raise ValueError(f"unknown model {model_name!r}; choose one of: {', '.join(infos)}")
            ids, _ = fns["read_label_map"](_path(file), model_name, fit=False)

            def on_step(step, total, preview=None):
                progress((int(step), int(total)), desc=f"step {step}/{total}")

            return fns["render"](ids, model_name, int(seed_value or 0), 1, {}, on_step).images[0]

        @_safe
        def api_labels(file, palette_name):
            """Colour (or index) PNG + palette/model name -> index PNG + conversion report."""
            ids, rep = fns["read_label_map"](_path(file), palette_name, fit=False)
            return fns["save_index"](ids, palette_name), rep

        @_safe
        def api_segment(file, palette_name):
            """Photo + palette/model name -> index PNG of the predicted label map."""
            ids = fns["segment"](_path(file), palette_name, fit=False)
            return fns["save_index"](ids, palette_name, "segmented")

        @_safe
        def api_palette(name):
            """Palette or model name -> its classes (id, name, paint colour) as JSON."""
            return fns["palette_json"](name)

        api_seed.submit(
            api_render,
            [api_file, api_model, api_seed],
            api_image,
            api_name="render",
            concurrency_limit=1,
            concurrency_id="render",
        )
        api_file.upload(api_labels, [api_file, api_model], [api_index, api_report], api_name="labels")
        api_index.upload(api_segment, [api_file, api_model], api_index, api_name="segment")
        api_model.submit(api_palette, api_model, api_json, api_name="palette")
    return demo


def _path(file) -> str:
    """Path of an uploaded file whatever gradio handed over (str, FileData-like, dict)."""
    if file is None:
        raise ValueError("no file was uploaded")
    if isinstance(file, str):
        return file
    if isinstance(file, dict):
        return file.get("path") or file["name"]
    return getattr(file, "path", None) or file.name


# --------------------------------------------------------------------------------------------------
# launching


def build(model: str | None = None, studio=None) -> gr.Blocks:
    """The queued demo with the real model functions (:class:`synth.render.Studio`)."""
    if studio is None:
        from synth.render import Studio  # the one place the UI meets the model side

        studio = Studio()
    demo = create_demo(studio.process_fns(), default_model=model)
    ready = [m for m in studio.models() if m.ready]
    limit = 2 if all(m.live for m in ready) else 1  # embedded: 2 at once; diffusion: 1
    return demo.queue(default_concurrency_limit=limit, max_size=64)


def launch(demo: gr.Blocks, host: str | None = "127.0.0.1", port: int | None = None, share: bool = False, **kwargs):
    """``demo.launch`` with the demo's CSS and upload limit (``host``/``port`` None: gradio's defaults and the
    GRADIO_SERVER_NAME / GRADIO_SERVER_PORT environment, as on Hugging Face Spaces)."""
    return demo.launch(server_name=host, server_port=port, share=share, css=CSS, max_file_size=MAX_FILE_SIZE, **kwargs)


def parser(prog: str = "daub serve") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Start the Daub web demo (paint a label map, get a photo).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860 or the next free one)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live share link (needs internet)")
    p.add_argument("--model", default=None, help="model selected at start (default: the first ready one)")
    return p


def serve_main(argv: list[str] | None = None) -> int:
    """``daub serve [--host H] [--port P] [--share] [--model NAME]``."""
    args = parser().parse_args(argv)
    launch(build(args.model), host=args.host, port=args.port, share=args.share)
    return 0


__all__ = ["CSS", "build", "create_demo", "launch", "serve_main", "swatch_html", "brush"]
