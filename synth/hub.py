"""Where Hugging Face models come from: offline mode, local folders, the cache, how to download once.

One helper for every backend that can load from the Hub (ControlNet-seg, SPADE, UperNet). Nothing
here downloads: these functions look at the environment, the disk and the local HF cache, and
:func:`reachable` opens (and closes) one connection to the Hub's host.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

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


#: Seconds :func:`reachable` waits for the Hub's host (name lookup included) before calling it unreachable.
REACH_TIMEOUT = 1.5
#: Seconds an answer of :func:`reachable` is remembered.
REACH_TTL = 60.0
_REACH: dict[str, tuple[float, bool]] = {}


def endpoint() -> str:
    """The Hub's address (``HF_ENDPOINT``, default https://huggingface.co)."""
    try:
        from huggingface_hub import constants

        return constants.ENDPOINT
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _first_hop(url: str) -> tuple[str, int]:
    """Host and port a request to ``url`` connects to first: the HTTPS proxy when one is set."""
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        if os.environ.get(var):
            proxy = urlsplit(os.environ[var] if "://" in os.environ[var] else "http://" + os.environ[var])
            return proxy.hostname or "", proxy.port or 3128
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def reachable(timeout: float = REACH_TIMEOUT) -> bool:
    """Whether the Hub's host (or the HTTPS proxy) accepts a connection within ``timeout`` seconds.

    Without a network but without ``HF_HUB_OFFLINE`` either, a first download attempt retries for a
    minute and a half; this answers within ``timeout`` (a name lookup that hangs included, as the probe
    runs in a daemon thread) and is remembered for :data:`REACH_TTL` seconds. Downloads nothing.
    """
    url = endpoint()
    now = time.monotonic()
    known = _REACH.get(url)
    if known is not None and now - known[0] < REACH_TTL:
        return known[1]
    host, port = _first_hop(url)
    answer: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answer.append(True)
        except (OSError, UnicodeError):
            answer.append(False)

    thread = threading.Thread(target=probe, name="daub-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    ok = bool(answer and answer[0])
    _REACH[url] = (now, ok)
    return ok


def unreachable_message(what: str, ref: str, hint: str) -> str:
    """The one line for a model that is neither cached nor downloadable because the Hub cannot be reached."""
    return f"{what} {ref!r} is not in the local Hugging Face cache and {endpoint()} cannot be reached; {hint}"


__all__ = ["cached", "download_hint", "endpoint", "is_local", "offline", "reachable", "unreachable_message"]
