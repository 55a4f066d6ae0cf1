"""Backends behind one protocol (:mod:`synth.generators.base`), one file each, loaded lazily.

``BACKENDS`` maps a name to ``module:factory``; each backend module also has
``available(**kw) -> (bool, str)`` telling whether it can run here and, if not, what it needs.
"""

from __future__ import annotations

import importlib

from synth.generators.base import BaseGenerator, Generator, SizeRule, pick_device

#: name -> (module, factory, palette, one-line description)
BACKENDS: dict[str, tuple[str, str, str, str]] = {
    "landscape": (
        "synth.generators.embedded",
        "load_landscape",
        "landscape",
        "Daub's own small SPADE-style model (Stanford Background), embedded, live on a CPU",
    ),
    "facades": (
        "synth.generators.embedded",
        "load_facades",
        "facades",
        "Daub's own small SPADE-style model (CMP Facades), embedded, live on a CPU",
    ),
    "spade-ade20k": (
        "synth.generators.spade",
        "load_ade20k",
        "ade20k",
        "official NVlabs SPADE ade20k generator (checkpoint needed)",
    ),
    "spade-coco": (
        "synth.generators.spade",
        "load_coco",
        "cocostuff",
        "official NVlabs SPADE coco generator (checkpoint needed)",
    ),
    "spade-cityscapes": (
        "synth.generators.spade",
        "load_cityscapes",
        "cityscapes",
        "official NVlabs SPADE cityscapes generator (checkpoint needed)",
    ),
    "controlnet-seg": (
        "synth.generators.controlnet",
        "load_controlnet_seg",
        "ade20k",
        "Stable Diffusion 1.5 + ControlNet-seg via diffusers (downloads ~5 GB; GPU advised)",
    ),
}


def _entry(name: str):
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in BACKENDS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(BACKENDS)}")
    return key, BACKENDS[key]


def load(name: str, **kwargs) -> Generator:
    """Build the backend called ``name``; keyword arguments go to its factory."""
    _, (module, factory, _, _) = _entry(name)
    return getattr(importlib.import_module(module), factory)(**kwargs)


def availability(name: str, **kwargs) -> tuple[bool, str]:
    """``(True, "")`` when ``name`` can run here without downloads, else ``(False, what it needs)``."""
    key, (module, _, _, _) = _entry(name)
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        return False, f"missing package: {e.name} (pip install 'daub[diffusion]')"
    return mod.available(key, **kwargs)


def palette_of(name: str) -> str:
    """Palette name a backend consumes."""
    return _entry(name)[1][2]


__all__ = ["BACKENDS", "BaseGenerator", "Generator", "SizeRule", "availability", "load", "palette_of", "pick_device"]
