"""The app layer: the model side (:class:`synth.studio.Studio`) wired into the page (:mod:`synth.ui`).

``app.py``, ``spaces/app.py`` and ``daub serve`` all start the demo through :func:`build` and :func:`launch`;
how the server runs its events and cleans its files is :mod:`synth.serving`.
"""

from __future__ import annotations

import argparse

import gradio as gr

from synth.serving import THREADS, cleaner, serve_quietly
from synth.studio import Studio
from synth.ui import CSS, DELETE_CACHE, create_demo

#: Upload size limit handed to ``launch(max_file_size=...)``.
MAX_FILE_SIZE = "20mb"


def build(
    model: str | None = None,
    studio: Studio | None = None,
    threads: int | None = THREADS,
    cache_age: int | None = None,
) -> gr.Blocks:
    """The queued demo around ``studio`` (default: a fresh :class:`Studio` with the real backends).

    Args:
        threads: torch intra-op threads for every event (``None``: leave torch's setting alone).
        cache_age: seconds gradio keeps the files it made (default: :data:`synth.ui.DELETE_CACHE`'s).
    """
    if threads is not None and int(threads) < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    if cache_age is not None and int(cache_age) < 1:
        raise ValueError(f"--cache-age must be >= 1 second, got {cache_age}")
    studio = studio or Studio()
    demo = create_demo(studio, default_model=model)
    if cache_age is not None:
        demo.delete_cache = (min(DELETE_CACHE[0], int(cache_age)), int(cache_age))
    serve_quietly(demo, threads)
    ready = [m for m in studio.models() if m.ready]
    limit = 2 if all(m.live for m in ready) else 1  # embedded: 2 at once; diffusion: 1
    return demo.queue(default_concurrency_limit=limit, max_size=64)


def launch(demo: gr.Blocks, host: str | None = "127.0.0.1", port: int | None = None, share: bool = False, **kwargs):
    """``demo.launch`` with the demo's CSS and upload limit (``host``/``port`` None: gradio's defaults and the
    GRADIO_SERVER_NAME / GRADIO_SERVER_PORT environment, as on Hugging Face Spaces), and :func:`clean_up`
    on the demo's ``delete_cache`` schedule."""
    if demo.delete_cache and "app_kwargs" not in kwargs:
        every, age = demo.delete_cache
        kwargs["app_kwargs"] = {"lifespan": cleaner(demo, every, age)}
    return demo.launch(server_name=host, server_port=port, share=share, css=CSS, max_file_size=MAX_FILE_SIZE, **kwargs)


def parser(prog: str = "daub serve") -> argparse.ArgumentParser:
    """Arguments of ``daub serve`` and ``python app.py``."""
    p = argparse.ArgumentParser(prog=prog, description="Start the Daub web demo (paint a label map, get a photo).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=None, help="port (default: 7860 or the next free one)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live share link (needs internet)")
    p.add_argument("--model", default=None, help="model selected at start (default: the first ready one)")
    p.add_argument(
        "--threads", type=int, default=THREADS, help=f"torch threads per render (default {THREADS}; see the README)"
    )
    p.add_argument(
        "--cache-age",
        type=int,
        default=DELETE_CACHE[1],
        metavar="SECONDS",
        help=f"delete generated and uploaded files this long after they were made (default {DELETE_CACHE[1]})",
    )
    return p


def main(argv: list[str] | None = None, prog: str = "daub serve") -> int:
    """``daub serve [--host H] [--port P] [--share] [--model NAME] [--threads N] [--cache-age SECONDS]``."""
    args = parser(prog).parse_args(argv)
    demo = build(args.model, threads=args.threads, cache_age=args.cache_age)
    launch(demo, host=args.host, port=args.port, share=args.share)
    return 0


__all__ = ["MAX_FILE_SIZE", "build", "launch", "main", "parser"]
