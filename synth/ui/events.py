"""What the page does: each ``wire_*`` function connects one group of events of a :class:`Page`.

Every change of the painter (a stroke, fill, clear, undo, an upload, an example, a model switch)
re-renders live models, latest wins; so do the seed and the number of images. Other models render
on the Render button, with a progress bar per step when the backend reports steps.
"""

from __future__ import annotations

import gradio as gr
from PIL import Image

from synth.ui.layout import Page, example_pictures, model_note, region_menu
from synth.ui.painter import objects, picture, value_for
from synth.ui.protocol import ModelSide
from synth.ui.widgets import png_in_cache, safe, upload_path

#: Events that only change the page (no API endpoint, no loading overlay over the painter).
PRIVATE = dict(api_visibility="private", show_progress="hidden")
#: Below this mean difference (0..255) between the images of one render, the page says they look alike.
ALIKE = 12.0


def live_settings(page: Page) -> dict:
    """Keyword arguments of every live re-render event."""
    return dict(
        outputs=page.render_outputs,
        trigger_mode="always_last",
        concurrency_limit=2,
        concurrency_id="live",
        show_progress="hidden",
        api_visibility="private",
    )


def collect_options(
    side: ModelSide, model, prompt, negative, steps, guidance, cond, fast, style, heatmaps=False
) -> dict:
    """The diffusion controls' values the backend takes (none for live or unavailable backends).

    In fast mode the Steps and Guidance sliders are left out: the backend's fast defaults apply (LCM-LoRA:
    4 steps, guidance 1.5), not the sliders' values for normal sampling.
    """
    info = side.model(model)
    if not info.ready or info.live:
        return {}
    values = {
        "prompt": prompt or None,
        "negative_prompt": negative or None,
        "steps": int(steps) if steps and not fast else None,
        "guidance_scale": guidance if not fast else None,
        "conditioning_scale": cond,
        "fast": bool(fast),
        "style_image": style,
        "heatmaps": bool(heatmaps) or None,
    }
    accepted = set(side.options(model))
    return {k: v for k, v in values.items() if k in accepted and v is not None}


def photo_note(result) -> str:
    """Says so when the images of one render barely differ (the model varies little with the seed)."""
    if len(result.images) < 2 or result.spread >= ALIKE:
        return ""
    return (
        f"These {len(result.images)} images differ by only {result.spread:.0f}/255 on average: "
        f"`{result.model}` changes little with the seed."
    )


def with_objects(side: ModelSide, value, ids, model: str, rep: dict) -> dict:
    """The options that give the backend its instance map: the objects painted in objects mode, else one
    object per connected part of each thing class. A backend without instances ignores them; the report
    says so when objects were painted."""
    painted = objects(value)
    inst = side.instances(ids, model, painted)
    if inst is not None:
        return {"instance": inst}
    if painted is not None:
        rep["objects"] = f"ignored: {model} takes no instance map (spade-coco and spade-cityscapes do)"
    return {}


def with_regions(side: ModelSide, regions: dict | None, model: str, rep: dict) -> dict:
    """The options that re-draw classes with their own seeds (``{class id: seed}`` from Re-draw), for models
    that can; the report names them."""
    if not regions or not side.redraws(model):
        return {}
    names = {cid: name for name, cid in region_menu(side, model)["choices"]}
    seeds = {int(k): int(v) for k, v in regions.items() if int(k) in names}
    if seeds:
        rep["region_seeds"] = {names[k]: v for k, v in seeds.items()}
    return {"region_seeds": seeds} if seeds else {}


def heat_outputs(side: ModelSide, result, report: dict) -> tuple:
    """The word heat maps of a render's first image: state, word picker, overlay (hidden without maps);
    the layout agreement of words naming a class goes into the report."""
    maps = (getattr(result, "heatmaps", None) or [None])[0]
    if not maps:
        return None, gr.Radio(choices=[], value=None, visible=False), gr.Image(value=None, visible=False)
    agreement = side.layout_agreement(maps, result.ids, result.model)
    if agreement:
        report["layout_agreement"] = agreement
    words = list(maps)
    state = {"maps": maps, "photo": result.images[0]}
    picture = side.heatmap_overlay(result.images[0], maps[words[0]])
    return state, gr.Radio(choices=words, value=words[0], visible=True), gr.Image(value=picture, visible=True)


def render_outputs(side: ModelSide, result, report: dict) -> tuple:
    """Gallery, photo note, seen map, overlay, instance view, report, files and word heat maps of one render."""
    files = side.export(result)
    report = dict(
        report,
        model=result.model,
        seed=result.seed,
        seconds=result.seconds,
        output_size=[result.images[0].width, result.images[0].height],
    )
    # pictures go out as fast PNGs: the exported photos themselves, the rest written once at zlib level 1
    # (gradio would encode each again at level 6: ~30 ms of every live stroke)
    photos = files[: len(result.images)]
    seen = png_in_cache(Image.fromarray(side.colours(result.ids, result.model)), "seen")
    overlay = png_in_cache(side.overlay(result.images[0], result.ids, result.model), "overlay")
    inst = getattr(result, "instance", None)
    view = None if inst is None else png_in_cache(Image.fromarray(side.instance_colours(inst)), "objects")
    heat = heat_outputs(side, result, report)
    return (photos, photo_note(result), seen, overlay, view, report, files, *heat)


def wire_rendering(side: ModelSide, page: Page):
    """Live re-render on painter, seed and image-count changes; the Render button; New variation."""

    @safe
    def live(value, model, seed_value, n, regions=None):
        ids, rep = side.labels(picture(value), model)
        if not side.model(model).live:  # only the map the model will see and the report; the rest stays
            return {page.seen: side.colours(ids, model), page.report: rep}
        opts = {**with_objects(side, value, ids, model, rep), **with_regions(side, regions, model, rep)}
        return render_outputs(side, side.render(ids, model, int(seed_value or 0), int(n), opts), rep)

    @safe
    def render(value, model, seed_value, n, *option_values, progress=gr.Progress()):  # noqa: B008
        ids, rep = side.labels(picture(value), model)
        opts = {**collect_options(side, model, *option_values), **with_objects(side, value, ids, model, rep)}
        progress(0, desc=f"{model}: starting")

        def on_step(step, total, preview=None):
            progress((int(step), int(total)), desc=f"{model}: step {step}/{total}")

        return render_outputs(side, side.render(ids, model, int(seed_value or 0), int(n), opts, on_step), rep)

    for trigger in (page.painter.change, page.seed.change, page.num_images.release):
        trigger(live, page.live_inputs, **live_settings(page))
    # the Render button reads the model dropdown (so API callers can name a model); the model switch keeps
    # the dropdown on a ready model, equal to model_state once the painting is converted
    page.render_btn.click(
        render,
        [page.painter, page.model, page.seed, page.num_images, *page.option_inputs],
        page.render_outputs,
        concurrency_limit=1,
        concurrency_id="render",
        api_name="render_canvas",
        api_visibility="undocumented",
    )
    # a new variation is a new picture: the classes re-drawn on their own go back to the photo's seed
    page.variation.click(lambda: (side.new_seed(), {}), None, [page.seed, page.region_seeds], **PRIVATE)

    @safe
    def redraw(cls, regions):
        if cls is None:
            raise gr.Error("Pick the class to re-draw first.")
        return {**(regions or {}), int(cls): side.new_seed()}

    page.redraw.click(redraw, [page.region_class, page.region_seeds], page.region_seeds, **PRIVATE).success(
        live, page.live_inputs, **live_settings(page)
    )

    @safe
    def show_word(word, state):
        if not state or word not in state["maps"]:
            return gr.skip()
        return side.heatmap_overlay(state["photo"], state["maps"][word])

    page.heat_word.change(show_word, [page.heat_word, page.heat_state], page.heat_image, **PRIVATE)
    return live


def wire_sources(side: ModelSide, page: Page) -> None:
    """Label-map and photo uploads and examples replace the painting (undo brings it back)."""

    @safe
    def load_map(file, model):
        ids, _ = side.read_label_map(upload_path(file), model)
        return value_for(side, ids, model)

    @safe
    def load_photo(file, model):
        ids = side.segment(upload_path(file), model)
        return value_for(side, ids, model, note="Label map predicted from the photo: correct it with the brush.")

    @safe
    def pick_example(paths, model, evt: gr.SelectData):
        return value_for(side, side.read_label_map(paths[evt.index], model)[0], model)

    page.upload_map.upload(load_map, [page.upload_map, page.model_state], page.painter, **PRIVATE)
    page.upload_photo.upload(load_photo, [page.upload_photo, page.model_state], page.painter, **PRIVATE)
    page.examples.select(pick_example, [page.example_paths, page.model_state], page.painter, **PRIVATE)


def wire_model_switch(side: ModelSide, page: Page) -> None:
    """A model switch moves the painting to the new palette by class name, says which classes it drops,
    and keeps the old painting: switching straight back restores it exactly."""

    @safe
    def switch_model(new, old, value, saved):
        info = side.model(new)
        if new == old:
            return (gr.skip(),) * 11
        if not info.ready:
            gr.Warning(f"{new} is not available here: {info.reason}")
            return (old,) + (gr.skip(),) * 10
        ids, _ = side.labels(picture(value), old)
        back = saved.get(new)
        if back is not None and back["to"] == old and (back["left_as"] == ids).all():
            moved, note = back["ids"], f"Your {new} painting is back as you left it."
        else:
            moved, dropped = side.switch(ids, old, new)
            note = _dropped_note(side, old, new, dropped)
            if dropped:
                gr.Warning(note)
        saved = {**saved, old: {"ids": ids, "left_as": moved, "to": new}}
        paths = side.examples(new)
        return (
            gr.Dropdown(value=new, info=model_note(info)),
            new,
            value_for(side, moved, new, note=note),
            saved,
            example_pictures(side, new, paths),
            paths,
            gr.Accordion(visible=not info.live),
            gr.Button(visible=not info.live),
            gr.Row(visible=side.redraws(new)),
            gr.Dropdown(**region_menu(side, new)),
            {},
        )

    outputs = [page.model, page.model_state, page.painter, page.saved, page.examples, page.example_paths]
    outputs += [page.diffusion, page.render_btn, page.region_row, page.region_class, page.region_seeds]
    page.model.change(switch_model, [page.model, page.model_state, page.painter, page.saved], outputs, **PRIVATE)


def _dropped_note(side: ModelSide, old: str, new: str, dropped: dict[str, int]) -> str:
    if not dropped:
        return ""
    fill = side.palette_json(new)
    fill_name = next(c["name"] for c in fill["classes"] if c["id"] == fill["fill"])
    names = ", ".join(f"{name} ({pixels} px)" for name, pixels in dropped.items())
    return (
        f"{new} has no class for {names}: painted as {fill_name} now. "
        f"Switch back to {old} before painting to get your painting back unchanged."
    )
