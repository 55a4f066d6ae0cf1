"""The batch section: many label maps (PNGs, zips of PNGs) -> a zip of photos and, for a sequence, a video.

It renders with the model selected in the page's menu; ``/render_batch`` is its HTTP endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from synth.ui.http import parse_seed
from synth.ui.protocol import ModelSide
from synth.ui.widgets import safe, upload_path

NOTE = (
    "Upload PNG label maps (index or colour) or `.zip` files of them (at most 500 maps, 200 MB unpacked). "
    "Each map becomes a photo with the model selected above and this seed; the zip keeps the maps' names "
    "and holds `manifest.jsonl`. Bad files are listed in the summary and skipped."
)


@dataclass
class BatchPanel:
    """The batch section's components."""

    files: gr.File
    video: gr.Checkbox
    seed: gr.Number
    run: gr.Button
    archive: gr.File
    film: gr.Video
    summary: gr.JSON


def batch_section() -> BatchPanel:
    """The closed "Batch" accordion, created inside the current ``gr.Blocks``."""
    with gr.Accordion("Batch: many maps at once", open=False, elem_id="batch"):
        gr.Markdown(NOTE)
        files = gr.File(
            label="Label maps (.png) or zips of them", file_count="multiple", file_types=[".png", ".zip"],
            type="filepath", elem_id="batch-files",
        )  # fmt: skip
        with gr.Row(equal_height=True):
            video = gr.Checkbox(value=False, label="Also a video from the maps in name order", elem_id="batch-video")
            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", elem_id="batch-seed", min_width=90)
            run = gr.Button("Render batch", variant="primary", elem_id="batch-run")
        with gr.Row(equal_height=False):
            archive = gr.File(label="Photos (zip)", interactive=False, elem_id="batch-zip")
            summary = gr.JSON(label="Summary", elem_id="batch-summary")
        film = gr.Video(label="Video", format="mp4", interactive=False, visible=False, height=320, elem_id="batch-film")
    return BatchPanel(files, video, seed, run, archive, film, summary)


def wire_batch(side: ModelSide, panel: BatchPanel, model: gr.Dropdown) -> None:
    """The Render batch button (``/render_batch``): one batch at a time, a progress bar per map; the video
    shows only when one was made (a private follow-up event, so API callers get a plain path or ``None``)."""

    @safe
    def render_batch(files, model_name, seed_value, video, progress=gr.Progress()):  # noqa: B008
        """Label maps (PNGs, zips of PNGs) + model + seed + video? -> zip of photos, MP4 or None, summary."""
        if not files:
            raise ValueError("upload PNG label maps or .zip files of them first")
        paths = [upload_path(f) for f in (files if isinstance(files, list) else [files])]
        seed = parse_seed(seed_value)
        progress(0, desc=f"{model_name}: unpacking")

        def on_map(done: int, total: int) -> None:
            progress((done, total), desc=f"{model_name}: map {done}/{total}", unit="maps")

        result = side.render_batch(paths, model_name, seed, bool(video), callback=on_map)
        return result.zip, result.video, result.summary

    def show_film(path):
        return gr.Video(visible=path is not None)

    panel.run.click(
        render_batch,
        [panel.files, model, panel.seed, panel.video],
        [panel.archive, panel.film, panel.summary],
        api_name="render_batch",
        concurrency_limit=1,
        concurrency_id="batch",
    ).then(show_film, panel.film, panel.film, api_visibility="private", show_progress="hidden")


__all__ = ["BatchPanel", "batch_section", "wire_batch"]
