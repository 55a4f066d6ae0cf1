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
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in PALETTES:
        shown = repr(name[:40]) if isinstance(name, str) else repr(name)[:40]
        raise ValueError(f"no segmenter for {shown}; choose {', '.join(PALETTES[:-1])} or {PALETTES[-1]}")
    name = key
    if name == "ade20k":
        from synth.segmenters.upernet import UperNetSegmenter

        return UperNetSegmenter(**kwargs)
    from synth.segmenters.small import load_small

    return load_small(name, weights)


__all__ = ["PALETTES", "load_segmenter"]
