"""What the page needs from the model side: :class:`ModelSide` (``synth.studio.Studio`` is one).

The UI only calls these methods; it never imports the model side. Tests pass a Studio with fake
backends, or any object with these methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np


class ModelSide(Protocol):
    """The calls the page makes. Ids are ``[H, W]`` integer arrays; ``model`` is a backend name."""

    def models(self) -> list[Any]:
        """Backends as records with ``name, palette, description, ready, reason, live, size, label``."""

    def model(self, name: str) -> Any:
        """One backend's record (as in :meth:`models`)."""

    def options(self, name: str) -> list[str]:
        """Options the backend takes (``prompt``, ``steps``, ...)."""

    def palette_json(self, name: str) -> dict:
        """A palette's classes as plain data (by palette or backend name)."""

    def colours(self, ids: np.ndarray, name: str) -> np.ndarray:
        """Ids -> ``[H, W, 3]`` paint colours."""

    def overlay(self, image, ids: np.ndarray, name: str) -> Any:
        """The photo blended with the label colours."""

    def blank(self, model: str) -> np.ndarray:
        """A fresh canvas of the model's size and fill class."""

    def labels(self, image, model: str) -> tuple[np.ndarray, dict]:
        """Painted RGB(A) picture -> ids and a report."""

    def read_label_map(self, path: str, model: str, fit: bool = True) -> tuple[np.ndarray, dict]:
        """An index or colour PNG -> ids and a report."""

    def segment(self, path: str, model: str, fit: bool = True) -> np.ndarray:
        """A photo -> predicted ids."""

    def switch(self, ids: np.ndarray, old: str, new: str) -> tuple[np.ndarray, dict[str, int]]:
        """Ids of model ``old`` -> model ``new`` and the classes dropped on the way."""

    def new_seed(self) -> int:
        """A random seed."""

    def render(
        self,
        ids: np.ndarray,
        model: str,
        seed: int | None = 0,
        num_images: int = 1,
        options: dict | None = None,
        callback: Callable | None = None,
    ) -> Any:
        """Images for ``ids``: a record with ``images, ids, model, seed, seconds``."""

    def redraws(self, model: str) -> bool:
        """Whether the backend re-draws one class's region with its own seed (option ``region_seeds``)."""

    def instances(self, ids: np.ndarray, model: str, objects: np.ndarray | None = None) -> np.ndarray | None:
        """The instance map the backend gets for ``ids`` (painted ``objects`` or the default), ``None``
        when the backend takes none."""

    def read_instances(self, path: str, shape: tuple[int, int]) -> np.ndarray:
        """An uploaded instance map for a label map of ``shape``."""

    def layout_agreement(self, heatmaps: dict, ids: np.ndarray, model: str) -> dict[str, float]:
        """Per prompt word naming a class, the share of its heat map inside that class's paint."""

    def heatmap_overlay(self, image, heatmap: np.ndarray) -> np.ndarray:
        """The photo with one word's heat map over it."""

    def instance_colours(self, instance: np.ndarray) -> np.ndarray:
        """An instance map -> ``[H, W, 3]`` colours, one per object."""

    def export(self, result: Any) -> list[str]:
        """Write a render's PNGs; returns their paths."""

    def render_batch(
        self,
        paths: list[str],
        model: str,
        seed: int = 0,
        video: bool = False,
        fps: float = 12.0,
        callback: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Uploaded PNG label maps and zips of them -> a record with ``zip`` (photos and manifest), ``video``
        (an MP4 path or ``None``) and ``summary`` (dict); ``callback(done, total)`` after each map."""

    def save_index(self, ids: np.ndarray, palette: str, name: str = "labels") -> str:
        """Write ids as an index PNG; returns its path."""

    def examples(self, model: str) -> list[str]:
        """Example label-map files for the model's palette."""
