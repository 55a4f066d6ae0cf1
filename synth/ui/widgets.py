"""Small pieces of the page: the page CSS, turning errors into messages, upload paths."""

from __future__ import annotations

import functools
import re
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder
from PIL import Image

CSS = """
#intro p { margin: 0; }
#model-note { align-self: center; font-size: 13px; }
#photo-note { font-size: 13px; color: var(--body-text-color-subdued); }
/* Gradio's translucent loading veils (the page's, fading out after load; a component's while it is
   pending) must never swallow a stroke: the painter is ready as soon as it shows its map */
.wrap.full.translucent { pointer-events: none !important; }
#variation { align-self: stretch; max-height: 64px; }
"""


def safe(fn: Callable) -> Callable:
    """Turn the model side's errors into ``gr.Error`` (a message in the page, never a dead page)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, RuntimeError, FileNotFoundError, OSError, KeyError) as e:
            raise gr.Error(one_line(str(e)) or type(e).__name__) from e

    return wrapper


#: Server temporary folders: error messages show a file's name, never where the server keeps it.
_TEMP_PATH = re.compile(re.escape(tempfile.gettempdir()) + r"/[^\s'\"]*/([^/\s'\"]+)")


def one_line(message: str, limit: int = 300) -> str:
    """The first line of ``message``, temp paths cut to file names, at most ``limit`` characters."""
    line = _TEMP_PATH.sub(r"\1", message.splitlines()[0] if message else "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def upload_path(file) -> str:
    """Path of an uploaded file whatever gradio handed over (str, FileData-like, dict)."""
    if file is None:
        raise ValueError("no file was uploaded")
    if isinstance(file, str):
        return file
    if isinstance(file, dict):
        return file.get("path") or file["name"]
    return getattr(file, "path", None) or file.name


def png_in_cache(image: Image.Image, stem: str = "render") -> str:
    """Write ``image`` as a fast PNG (zlib level 1) into gradio's cache folder and return its path.

    Handing gradio a path inside its cache skips its own encode (level 6, ~4x slower) and copy; the
    file is then one of the app's temp files that ``delete_cache`` removes.
    """
    folder = Path(get_upload_folder())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}-{uuid.uuid4().hex}.png"
    image.save(path, format="PNG", compress_level=1)
    return str(path)
