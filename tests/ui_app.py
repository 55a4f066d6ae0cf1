"""Helpers for the web-demo tests: a fake slow backend and an in-process app launch on a free port."""

from __future__ import annotations

import socket
import sys
import time
import types
import urllib.request

import numpy as np
from PIL import Image

from palettes import load as load_palette
from synth.generators import BACKENDS
from synth.generators.base import BaseGenerator, SizeRule

FAKE = "fake-slow"


class FakeSlowGenerator(BaseGenerator):
    """A stand-in for a diffusion backend: takes prompt/steps/callback and reports every step."""

    name = FAKE
    options = ("prompt", "steps", "callback")

    def __init__(self, step_seconds: float = 0.05):
        self.step_seconds = step_seconds
        self.palette = load_palette("landscape")
        self.size_rule = SizeRule(multiple=32, default=(256, 192))
        self.calls: list[dict] = []

    @property
    def device(self):
        return "cpu"

    def _generate(self, ids, seeds, prompt="", steps=8, callback=None):
        self.calls.append({"prompt": prompt, "steps": steps, "shape": ids.shape})
        for k in range(1, int(steps) + 1):
            time.sleep(self.step_seconds)
            if callback is not None:
                callback(k, int(steps), None)
        h, w = ids.shape
        return [Image.new("RGB", (w, h), (seed % 256, 40, 200)) for seed in seeds]


def register_fake(step_seconds: float = 0.05) -> FakeSlowGenerator:
    """Put ``fake-slow`` into ``BACKENDS`` (undo with :func:`unregister_fake`); returns the instance it loads."""
    gen = FakeSlowGenerator(step_seconds)
    mod = types.ModuleType("daub_fake_backend")
    mod.load = lambda **_: gen
    mod.available = lambda key, **_: (True, "")
    sys.modules["daub_fake_backend"] = mod
    BACKENDS[FAKE] = ("daub_fake_backend", "load", "landscape", "fake slow backend for tests")
    return gen


def unregister_fake() -> None:
    BACKENDS.pop(FAKE, None)
    sys.modules.pop("daub_fake_backend", None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo, css: str = "") -> str:
    """Launch ``demo`` on 127.0.0.1 and a free port without blocking; returns its URL once it answers."""
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=css, max_file_size="20mb"
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return url
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def read_ids(path) -> np.ndarray:
    return np.asarray(Image.open(path))
