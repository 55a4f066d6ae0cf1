"""Photo -> label map: :func:`load_segmenter` picks the segmenter for a palette (``synth.segmenter``).

``landscape`` and ``facades`` use Daub's small shipped segmenters (:mod:`~synth.segmenters.small`,
trained by :mod:`~synth.segmenters.training`); ``ade20k`` uses UperNet (:mod:`~synth.segmenters.upernet`).
"""

from __future__ import annotations

from pathlib import Path

#: Palettes that have a photo segmenter.
PALETTES: tuple[str, ...] = ("landscape", "facades", "ade20k")


def load_segmenter(name: str, weights: str | Path | None = None, **kwargs):
    """Callable ``seg(photo) -> [H, W] ids`` for palette ``name``.

    ``weights`` picks a small segmenter's file; other keyword arguments go to UperNet (``ade20k``).
    """
    if name == "ade20k":
        from synth.segmenters.upernet import UperNetSegmenter

        return UperNetSegmenter(**kwargs)
    if name not in PALETTES:
        raise ValueError(f"no segmenter for {name!r}; choose {', '.join(PALETTES[:-1])} or {PALETTES[-1]}")
    from synth.segmenters.small import load_small

    return load_small(name, weights)


__all__ = ["PALETTES", "load_segmenter"]
