"""The app layer: the model side (:class:`synth.studio.Studio`) wired into the page (:mod:`synth.ui`).

``app.py``, ``spaces/app.py`` and ``daub serve`` all start the demo through :func:`build` and :func:`launch`.
"""

from __future__ import annotations

import argparse

import gradio as gr

from synth.studio import Studio
from synth.ui import CSS, create_demo

#: Upload size limit handed to ``launch(max_file_size=...)``.
MAX_FILE_SIZE = "20mb"


def build(model: str | None = None, studio: Studio | None = None) -> gr.Blocks:
    """The queued demo around ``studio`` (default: a fresh :class:`Studio` with the real backends)."""
    studio = studio or Studio()
    demo = create_demo(studio, default_model=model)
    ready = [m for m in studio.models() if m.ready]
    limit = 2 if all(m.live for m in ready) else 1  # embedded: 2 at once; diffusion: 1
    return demo.queue(default_concurrency_limit=limit, max_size=64)


def launch(demo: gr.Blocks, host: str | None = "127.0.0.1", port: int | None = None, share: bool = False, **kwargs):
    """``demo.launch`` with the demo's CSS and upload limit (``host``/``port`` None: gradio's defaults and the
    GRADIO_SERVER_NAME / GRADIO_SERVER_PORT environment, as on Hugging Face Spaces)."""
    return demo.launch(server_name=host, server_port=port, share=share, css=CSS, max_file_size=MAX_FILE_SIZE, **kwargs)


def parser(prog: str = "daub serve") -> argparse.ArgumentParser:
    """Arguments of ``daub serve`` and ``python app.py``."""
    p = argparse.ArgumentParser(prog=prog, description="Start the Daub web demo (paint a label map, get a photo).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860 or the next free one)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live share link (needs internet)")
    p.add_argument("--model", default=None, help="model selected at start (default: the first ready one)")
    return p


def main(argv: list[str] | None = None) -> int:
    """``daub serve [--host H] [--port P] [--share] [--model NAME]``."""
    args = parser().parse_args(argv)
    launch(build(args.model), host=args.host, port=args.port, share=args.share)
    return 0


__all__ = ["MAX_FILE_SIZE", "build", "launch", "main", "parser"]
