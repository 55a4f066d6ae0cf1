"""Weight files: safetensors files tagged with a ``format`` in their metadata (Daub's generators and
segmenters), and PyTorch checkpoints read safely (:func:`load_tensors`)."""

from __future__ import annotations

import pickle
import re
import warnings
from pathlib import Path


def read_tagged(path: str | Path, fmt: str, what: str, tensors: bool = True):
    """Read ``(metadata, fp32 state dict)`` from ``path``, refusing files whose ``format`` is not ``fmt``.

    ``what`` names the expected content in the error, e.g. ``"a Daub generator"``. With ``tensors`` False
    only the header is read (the state dict comes back empty).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != fmt:
                raise ValueError(f"{path} is not {what} (format {str(meta.get('format'))[:40]!r})")
            sd = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except ValueError:
        raise
    except Exception as e:  # safetensors' own error types: a text file, a pickle, a truncated file
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path} is not {what}: not a readable safetensors file ({why[:120]})") from None
    return meta, {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def write_tagged(path: str | Path, state_dict: dict, fmt: str, metadata: dict[str, str], half: bool = True) -> None:
    """Write ``state_dict`` (floats as fp16 when ``half``) to ``path`` with ``format = fmt`` in its metadata."""
    from safetensors.torch import save_file

    sd = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state_dict.items()}
    save_file(sd, str(path), metadata={**metadata, "format": fmt})


#: The function or class a refused pickle names (torch's weights-only unpickler quotes it as ``GLOBAL x.y``).
_GLOBAL = re.compile(r"GLOBAL\s+([\w.]+)")


def load_tensors(path: str | Path, what: str = "checkpoint", map_location="cpu"):
    """``torch.load(path, weights_only=True)`` (tensors onto ``map_location``), every failure a one-line ``ValueError``.

    A file that would run code or build Python objects when unpickled (a malicious or non-tensor
    checkpoint) is refused and nothing of it runs; a file that is not a PyTorch checkpoint at all (text,
    truncated, empty) is named as such. The message never suggests loading the file unsafely.
    """
    import torch

    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch's advice about a hostile file's pickle protocol is noise here
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, MemoryError):
        raise
    except Exception as e:  # pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ...: torch raises many
        text = str(e)
        found = _GLOBAL.search(text)
        if isinstance(e, pickle.UnpicklingError) and "weights only" in text.lower() and (found or _pickled(path)):
            detail = f" (it would call or build {found.group(1)[:60]})" if found else ""
            raise ValueError(
                f"{path} was refused: it holds Python objects or code, not only tensors{detail}; "
                f"a {what} must be a plain state dict of tensors (or a .safetensors file)"
            ) from None
        raise ValueError(
            f"{path} is not a readable {what} (torch.load failed: {type(e).__name__}); "
            "expected a PyTorch state dict (.pth/.pt) or a .safetensors file"
        ) from None


def _pickled(path: Path) -> bool:
    """Whether ``path`` starts like a pickle (protocol 2+) or a torch zip checkpoint, not like text or junk."""
    with path.open("rb") as f:
        head = f.read(2)
    return head[:1] == b"\x80" or head == b"PK"
