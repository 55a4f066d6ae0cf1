"""Backends behind one protocol (:mod:`synth.generators.base`), one file each, loaded lazily.

Every backend is a :class:`~synth.generators.registry.Backend` record in one registry. Adding a
backend is one file (a loader returning a :class:`~synth.generators.base.BaseGenerator`, and
optionally ``available(name, **kw) -> (ok, reason)``) plus one :func:`register` call, here for the
built-ins or anywhere in your own code.
"""

from __future__ import annotations

from synth.generators.base import BaseGenerator, Generator, SizeRule, pick_device
from synth.generators.registry import Backend, availability, backends, get, load, names, register, unregister

_EMBEDDED = "synth.generators.embedded"
_SPADE = "synth.generators.spade"
_CONTROLNET = "synth.generators.controlnet"


def _embedded(name: str, dataset: str, canvas: tuple[int, int]) -> Backend:
    desc = f"Daub's own small SPADE-style model ({dataset}), embedded, live on a CPU"
    loader, check = f"{_EMBEDDED}:load_{name}", f"{_EMBEDDED}:available"
    return Backend(name, loader, name, desc, canvas, live=True, check=check, parallel=True)


def _official_spade(name: str, palette: str, canvas: tuple[int, int] = (256, 256)) -> Backend:
    desc = f"official NVlabs SPADE {name} generator (checkpoint needed)"
    return Backend(f"spade-{name}", f"{_SPADE}:load_{name}", palette, desc, canvas, check=f"{_SPADE}:available")


for _record in (
    _embedded("landscape", "Stanford Background", (256, 192)),
    _embedded("facades", "CMP Facades", (256, 256)),
    _official_spade("ade20k", "ade20k"),
    _official_spade("coco", "cocostuff"),
    _official_spade("cityscapes", "cityscapes", (512, 256)),
    Backend(
        "controlnet-seg",
        f"{_CONTROLNET}:load_controlnet_seg",
        "ade20k",
        "Stable Diffusion 1.5 + ControlNet-seg via diffusers (downloads ~5 GB; GPU advised)",
        canvas=(512, 512),
        check=f"{_CONTROLNET}:available",
    ),
):
    register(_record)


def palette_of(name: str) -> str:
    """Palette name a backend consumes."""
    return get(name).palette


__all__ = [
    "Backend",
    "BaseGenerator",
    "Generator",
    "SizeRule",
    "availability",
    "backends",
    "get",
    "load",
    "names",
    "palette_of",
    "pick_device",
    "register",
    "unregister",
]
