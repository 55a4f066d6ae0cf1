"""ZeroGPU plumbing of the demo's model side: the ``spaces.GPU`` function and what it may receive.

On a Hugging Face ZeroGPU Space, ``spaces.GPU`` runs a function in a worker forked from the server and
pickles its arguments into it; CUDA exists only inside. So :func:`run` receives plain data (the
backend's name, ids, seed, options, a Studio token) and finds its generator in :data:`LOADED`, which
:class:`synth.studio.Studio` fills outside; a worker forked before a load loads it itself. Elsewhere
``spaces.GPU`` is absent or returns the function unchanged and :func:`run` is called directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
from PIL import Image


def gpu(fn: Callable, duration: Callable | int | None = None) -> Callable:
    """``spaces.GPU(fn, duration=duration)`` on Hugging Face ZeroGPU Spaces; ``fn`` itself elsewhere (also when
    ``spaces`` is missing, a bare folder, or the real package off ZeroGPU, where ``spaces.GPU`` returns ``fn``)."""
    try:
        import spaces
    except Exception:
        return fn
    decorate = getattr(spaces, "GPU", None)
    if not callable(decorate):
        return fn
    if duration is None:
        return decorate(fn)
    try:
        return decorate(fn, duration=duration)
    except TypeError:  # a spaces.GPU without duration
        return decorate(fn)


#: Generators loaded by the Studios of this process: ``(studio token, backend) -> (generator, load kwargs)``.
#: The ``spaces.GPU`` function (:func:`run`) finds its generator here: ZeroGPU runs it in a worker forked
#: from this process and pickles only its arguments, so they name the generator instead of carrying it.
LOADED: dict[tuple[int, str], tuple[object, dict]] = {}
#: Each Studio's loader, by token (a worker forked before a load loads it itself, see :func:`loaded`).
LOADERS: dict[int, Callable] = {}
TOKENS = itertools.count(1)
#: GPU seconds asked of ZeroGPU per render: a fixed part (worker start, weights to the GPU, LoRA, VAE decode)
#: plus seconds per denoising step per 512x512 image, at most ``GPU_MAX_SECONDS``.
GPU_BASE_SECONDS, GPU_STEP_SECONDS, GPU_MAX_SECONDS = 20, 0.15, 120


def forget(token: int) -> None:
    LOADERS.pop(token, None)
    for key in [k for k in LOADED if k[0] == token]:
        LOADED.pop(key, None)


def covers(have: dict | None, want: dict) -> bool:
    """True when a backend loaded with keyword arguments ``have`` was loaded with every one of ``want``."""
    return have is not None and all(k in have and have[k] == v for k, v in want.items())


def loaded(studio: int, model: str, load: dict):
    """The generator Studio ``studio`` loaded for ``model`` with (at least) ``load``; loaded here when this
    process lacks it (a ZeroGPU worker forked before that load keeps the state it was forked with)."""
    entry = LOADED.get((studio, model))
    if entry is None or not covers(entry[1], load):
        loader = LOADERS.get(studio)
        if loader is None:
            from synth import load as loader
        entry = loader(model, **load), dict(load)
        LOADED[(studio, model)] = entry
    return entry[0]


def run(
    model: str,
    ids: np.ndarray,
    seed: int,
    num_images: int,
    options: dict,
    studio: int = 0,
    load: dict | None = None,
    callback: Callable | None = None,
    progress: str | None = None,
) -> list[Image.Image]:
    """The compute part of a render; :class:`Studio` hands it to ``spaces.GPU`` for non-live backends.

    Every argument is plain picklable data (ZeroGPU pickles them into a forked worker): the backend's name,
    the checked ids, seed, image count, options, the Studio's token and the backend's load arguments. The
    step ``callback`` is never passed through ``spaces.GPU`` (a closure does not pickle); ``progress`` (a
    label) asks for per-step progress from inside instead, through :func:`gradio_steps`. With the option
    ``heatmaps``, each image carries its word heat maps in ``image.info["heatmaps"]`` (the backend's
    ``last_heatmaps``, which stays in a ZeroGPU worker otherwise).
    """
    gen = loaded(studio, model, load or {})
    if callback is None and progress is not None:
        callback = gradio_steps(progress)
    if callback is not None:
        options = {**options, "callback": callback}
    images = gen.generate(ids, seed=seed, num_images=num_images, **options)
    maps = getattr(gen, "last_heatmaps", None) if options.get("heatmaps") else None
    for image, words in zip(images, maps or ()):  # they travel with the images (ZeroGPU pickles PIL info)
        image.info["heatmaps"] = words
    return images


def gradio_steps(label: str) -> Callable | None:
    """A step callback that updates the progress bar of the gradio event being served, from wherever it runs.

    In a ZeroGPU worker this is how progress gets out: the worker is forked inside the event (so gradio's
    context, the app and the event id, comes along), and ``spaces`` replaces the worker's
    ``Queue.set_progress`` by a message to the server, which applies it to the event (spaces 0.51:
    ``zero/gradio.py``, ``patch_gradio_queue``). Outside an event, ``gr.Progress`` does nothing.
    """
    try:
        import gradio as gr
    except ImportError:
        return None
    bar = gr.Progress()

    def step(k: int, total: int, preview=None) -> None:
        bar((int(k), int(total)), desc=f"{label}: step {k}/{total}")

    return step


def duration(model: str, ids: np.ndarray, seed: int, num_images: int, options: dict, *args, **kwargs) -> int:
    """Seconds of GPU to ask ZeroGPU for one :func:`run` call (``spaces.GPU``'s dynamic ``duration``)."""
    steps = options.get("steps") or (4 if options.get("fast") else 25)
    work = int(steps) * int(num_images) * max(1.0, np.asarray(ids).size / 512**2)
    if options.get("style_image") is not None:
        work *= 1.5  # a second ControlNet
    return int(min(GPU_MAX_SECONDS, GPU_BASE_SECONDS + GPU_STEP_SECONDS * work))
