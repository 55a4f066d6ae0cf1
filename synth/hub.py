"""Where Hugging Face models come from: offline mode, local folders, the cache, how to download once.

One helper for every backend that can load from the Hub (ControlNet-seg, SPADE, UperNet). Nothing
here downloads: these functions only look at the environment, the disk and the local HF cache.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = ("1", "on", "yes", "true")


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (read from the environment now, and from huggingface_hub)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def is_local(ref: str | os.PathLike) -> bool:
    """True when ``ref`` names a folder or file on disk rather than a Hub repo id (``owner/name``)."""
    ref = str(ref)
    return Path(ref).expanduser().exists() or ref.startswith(("/", "./", "../", "~")) or ref.count("/") > 1


def cached(repo: str, filenames: tuple[str, ...], cache_dir=None) -> bool:
    """True if any of ``filenames`` of Hub repo ``repo`` is in the local HF cache (never downloads)."""
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, f, cache_dir=cache_dir), str) for f in filenames)


def download_hint(ref: str, include: tuple[str, ...] = ()) -> str:
    """One sentence telling how to fetch ``ref`` once (``include``: ``hf download --include`` patterns)."""
    patterns = "".join(f' --include "{p}"' for p in include)
    return (
        f"download it first (with internet): `hf download {ref}{patterns}` or load it once online, "
        "then run with HF_HUB_OFFLINE=1"
    )


__all__ = ["cached", "download_hint", "is_local", "offline"]
