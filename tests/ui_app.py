"""Helpers for the web-demo tests: an in-process app launch on a free port, index PNGs, a sample map
and a fake photo segmenter."""

from __future__ import annotations

import numpy as np
from PIL import Image

from palettes import load as load_palette
from synth.bench_serve import free_port, wait_for_page

LAND = load_palette("landscape")
SKY, TREE, WATER = (LAND.id_of(n) for n in ("sky", "tree", "water"))


def launch(demo, css: str = "") -> str:
    """Launch ``demo`` on 127.0.0.1 and a free port without blocking; returns its URL once it answers."""
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=css, max_file_size="20mb"
    )
    return wait_for_page(f"http://127.0.0.1:{port}/", 60)


def read_ids(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def sample_ids(w: int = 256, h: int = 192) -> np.ndarray:
    """A landscape map: sky above water, one tree block."""
    ids = np.full((h, w), SKY, np.uint8)
    ids[h // 2 :, :] = WATER
    ids[20:60, 30:120] = TREE
    return ids


class FakeSegmenter:
    """Photo -> ids: top half sky, bottom half water (whatever the photo)."""

    def __call__(self, photo):
        w, h = photo.size
        ids = np.full((h, w), SKY, np.uint8)
        ids[h // 2 :] = WATER
        return ids


def fake_segmenter(name: str) -> FakeSegmenter:
    """The Studio's segmenter factory in tests: landscape only, a clear error for the others."""
    if name != "landscape":
        raise FileNotFoundError(f"segmenter {name!r} has no weights at /nowhere/seg-{name}.safetensors")
    return FakeSegmenter()
