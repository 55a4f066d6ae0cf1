"""Daub: paint a semantic map, get a photograph.

Public interface::

    import synth
    pal = synth.palette("ade20k")     # also cocostuff, cityscapes, coco133, facades, landscape
    ids = pal.to_labels(image)        # painted RGB/RGBA/PIL/ndarray -> [H, W] ids
    gen = synth.load("landscape")     # also facades, spade-ade20k, spade-coco, spade-cityscapes, controlnet-seg
    img = gen(ids, seed=0)            # -> PIL.Image
"""

from __future__ import annotations

from palettes import NAMES as PALETTES
from palettes import Palette
from synth.labels import palette

__version__ = "0.1.0"


def load(name: str, **kwargs):
    """Build the generator called ``name`` (see :func:`synth.generators.names`)."""
    from synth.generators import load as _load

    return _load(name, **kwargs)


def segmenter(name: str, **kwargs):
    """Photo -> label map model for palette ``name`` (``landscape``, ``facades``, ``ade20k``)."""
    from synth.segmenters import load_segmenter

    return load_segmenter(name, **kwargs)


__all__ = ["PALETTES", "Palette", "load", "palette", "segmenter", "__version__"]
