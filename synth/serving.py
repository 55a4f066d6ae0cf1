"""How the demo's server runs (measured with ``daub bench serve``, see the README's "Load test").

* every event runs with :data:`THREADS` torch intra-op threads: two 1-thread renders of a ``parallel``
  backend use both cores of a small machine, while a 2-thread render fights the server's other work for
  the cores (and loses badly); other backends are serialised per model;
* an expected error (the ``gr.Error`` our handlers raise for bad input) is logged as one line on the
  ``daub.serve`` logger instead of gradio's full traceback; anything else (a bug) keeps its traceback;
* generated files do not pile up: :func:`clean_up` deletes gradio's cache files ``cache_age`` seconds
  after they were made (gradio's own ``delete_cache`` loop dies under load), plus what gradio never
  deletes (the empty ``tmp*`` file ``gr.File`` leaves per upload it hands over, emptied folders).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import sys
import time

import gradio as gr

#: Torch intra-op threads in the server's events (``daub serve --threads``).
THREADS = 1

log = logging.getLogger("daub.serve")


def serve_quietly(demo: gr.Blocks, threads: int | None = THREADS) -> None:
    """Wrap every Python event of ``demo``: torch threads set, expected errors logged as one line."""
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if fn is None or getattr(fn, "_daub_event", False):
            continue
        if inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            continue  # none in the demo; gradio treats these differently
        block_fn.fn = _event(fn, f"/{block_fn.api_name}" if block_fn.api_name else block_fn.name, threads)


def _event(fn, name: str, threads: int | None):
    @functools.wraps(fn)
    def event(*args, **kwargs):
        if threads is not None and "torch" in sys.modules:
            torch = sys.modules["torch"]
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)  # this worker thread's OpenMP setting (and the default)
        try:
            return fn(*args, **kwargs)
        except gr.Error as e:
            e.print_exception = False  # expected: the message went to the caller; one line here
            log.warning("%s: %s", name, " ".join(str(e.message).split())[:300])
            raise

    event._daub_event = True
    return event


def clean_up(demo: gr.Blocks, age: float) -> int:
    """Delete the files ``demo`` made more than ``age`` seconds ago, and :func:`sweep_cache`; returns how many went.

    The same step as gradio's ``delete_cache`` loop, safe while events run: gradio's own loop iterates the
    live file sets and dies for good ("Set changed size during iteration") when an event adds a file
    meanwhile, which happens within seconds under load. This one works on a snapshot of each set.
    """
    keep: set[str] = set()
    for block in list(demo.blocks.values()):
        keep.update(getattr(block, "keep_in_cache", ()))
    gone, now = 0, time.time()
    for files in list(demo.temp_file_sets):
        old = []
        for path in list(files):  # a snapshot: list(set) runs in C, no event thread can change it meanwhile
            if path in keep:
                continue
            try:
                if now - os.lstat(path).st_ctime > age:
                    os.remove(path)
                    old.append(path)
            except FileNotFoundError:
                old.append(path)
            except OSError:
                continue
        files.difference_update(old)
        gone += len(old)
    return gone + sweep_cache(demo.GRADIO_CACHE, age)


def sweep_cache(folder: str, age: float) -> int:
    """Delete what gradio's clean-up leaves in its cache ``folder`` once older than ``age`` seconds.

    That is: the empty ``tmp*`` files ``gr.File`` makes for each upload it passes to an event, and folders
    left empty. Returns how many entries went.
    """
    gone, now = 0, time.time()
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if now - st.st_mtime < age:
                continue
            if entry.is_file(follow_symlinks=False) and entry.name.startswith("tmp") and st.st_size == 0:
                os.remove(entry.path)
                gone += 1
            elif entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as inside:
                    if next(inside, None) is not None:
                        continue
                os.rmdir(entry.path)  # fails (and is skipped) if a file arrived meanwhile
                gone += 1
        except OSError:
            continue
    return gone


def cleaner(demo: gr.Blocks, every: float, age: float):
    """A lifespan that runs :func:`clean_up` every ``every`` seconds while the server runs."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def loop():
            while True:
                await asyncio.sleep(every)
                try:
                    await asyncio.to_thread(clean_up, demo, age)
                except Exception:  # noqa: BLE001 - a bug here must not stop the clean-up for good
                    log.exception("cache clean-up failed")

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()

    return lifespan


__all__ = ["THREADS", "clean_up", "cleaner", "serve_quietly", "sweep_cache"]
