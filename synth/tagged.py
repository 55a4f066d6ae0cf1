"""Safetensors files tagged with a ``format`` in their metadata (Daub's generators and segmenters)."""

from __future__ import annotations

from pathlib import Path


def read_tagged(path: str | Path, fmt: str, what: str):
    """Read ``(metadata, fp32 state dict)`` from ``path``, refusing files whose ``format`` is not ``fmt``.

    ``what`` names the expected content in the error, e.g. ``"a Daub generator"``.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights at {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != fmt:
            raise ValueError(f"{path} is not {what} (format {meta.get('format')!r})")
        sd = {k: f.get_tensor(k) for k in f.keys()}
    return meta, {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def write_tagged(path: str | Path, state_dict: dict, fmt: str, metadata: dict[str, str], half: bool = True) -> None:
    """Write ``state_dict`` (floats as fp16 when ``half``) to ``path`` with ``format = fmt`` in its metadata."""
    from safetensors.torch import save_file

    sd = {k: (v.half() if half and v.is_floating_point() else v).contiguous() for k, v in state_dict.items()}
    save_file(sd, str(path), metadata={**metadata, "format": fmt})
