"""One registry of backends: a :class:`Backend` record per name, filled by :func:`register`.

A record says everything the rest of Daub needs to know about a backend before loading it: how to
load it, which palette it consumes, its canvas size, whether it re-renders live on a CPU, and how to
ask whether it can run here. Built-ins register themselves in :mod:`synth.generators`; tests and users
register their own the same way::

    register(Backend("mine", loader="mypkg.mine:load", palette="landscape", description="my model"))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

#: A loader or availability check: a callable, or ``"module:function"`` imported on first use.
Ref = str | Callable


@dataclass(frozen=True)
class Backend:
    """What Daub knows about one backend before loading it.

    Attributes:
        name: the name users pass to :func:`synth.load` (lower case).
        loader: ``loader(**kwargs) -> Generator``, or ``"module:function"`` (imported lazily).
        palette: name of the palette whose ids the backend consumes.
        description: one line for users (what it is, what it needs).
        canvas: ``(width, height)`` of a fresh canvas before the backend is loaded.
        live: fast enough on a CPU to re-render on every brush stroke.
        parallel: renders may run at once from several threads (a stateless model: the Studio then takes no
            per-model lock, and a 2-core server renders on both cores). Pipelines with state (a diffusers
            scheduler) or one GPU to share keep the default, one render at a time.
        check: ``check(name, **kwargs) -> (ok, reason)`` telling whether it can run here without
            downloads (``"module:function"`` allowed); ``None``: always available.
    """

    name: str
    loader: Ref
    palette: str
    description: str
    canvas: tuple[int, int] = (256, 256)
    live: bool = False
    check: Ref | None = None
    parallel: bool = False


_REGISTRY: dict[str, Backend] = {}


def _resolve(ref: Ref) -> Callable:
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def register(backend: Backend, replace: bool = False) -> Backend:
    """Add ``backend`` to the registry (``replace=True`` to overwrite a name); returns it."""
    if not isinstance(backend, Backend):
        raise TypeError(f"register() takes a Backend record, got {type(backend).__name__}")
    name = backend.name.strip().lower()
    if name != backend.name or not name:
        raise ValueError(f"backend name must be non-empty lower case without spaces around it, got {backend.name!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"backend {name!r} is already registered (pass replace=True to overwrite it)")
    _REGISTRY[name] = backend
    return backend


def unregister(name: str) -> None:
    """Remove ``name`` from the registry (no error when it is not there)."""
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    """Registered backend names, in registration order."""
    return list(_REGISTRY)


def backends() -> list[Backend]:
    """Registered backend records, in registration order."""
    return list(_REGISTRY.values())


def get(name: str) -> Backend:
    """The record of ``name`` (case-insensitive); ``ValueError`` listing the choices when unknown."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {str(name)[:40]!r}; choose one of: {', '.join(_REGISTRY)}")
    return _REGISTRY[key]


def load(name: str, **kwargs):
    """Build the backend called ``name``; keyword arguments go to its loader (an unknown one is a
    ``ValueError`` naming it)."""
    record = get(name)
    loader = _resolve(record.loader)
    try:
        return loader(**kwargs)
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        bad = str(e).split("unexpected keyword argument", 1)[1].strip()[:42]
        raise ValueError(f"model {record.name!r} does not take the option {bad}") from None


def availability(name: str, **kwargs) -> tuple[bool, str]:
    """``(True, "")`` when ``name`` can run here without downloads, else ``(False, what it needs)``."""
    record = get(name)
    if record.check is None:
        return True, ""
    try:
        check = _resolve(record.check)
    except ImportError as e:
        return False, f"missing package: {e.name} (pip install 'daub[diffusion]')"
    return check(record.name, **kwargs)


__all__ = ["Backend", "availability", "backends", "get", "load", "names", "register", "unregister"]
