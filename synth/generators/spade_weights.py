"""Reading SPADE generator checkpoints, finding the official ones on disk or the Hub, converting to safetensors.

Official ``latest_net_G.pth`` files are read with ``torch.load(weights_only=True)`` only; spectral norm is
folded into plain conv weights at load time (``W = weight_orig / (u . W v)`` from the stored ``u``, ``v``,
exactly what ``torch.nn.utils.spectral_norm`` computes in eval mode). :func:`convert` (``daub convert``)
writes the folded weights as safetensors. The official weights are CC BY-NC-SA 4.0 (non-commercial).

Weights are never downloaded implicitly and never made up: see :func:`resolve_checkpoint`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from synth import hub
from synth.nets.spade import CONFIGS, SPADENet
from synth.tagged import load_tensors

#: File names looked for in a checkpoint directory, in this order.
WEIGHT_FILES = ("latest_net_G.safetensors", "latest_net_G.pth")

#: Key of the JSON metadata ``daub convert`` stores in a safetensors file.
METADATA_KEY = "daub_spade"

SPADE_README = "https://github.com/NVlabs/SPADE#generating-images-using-pretrained-model"


# --------------------------------------------------------------------------------------------------
# reading checkpoints


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a generator's tensors and daub metadata from ``.safetensors`` or an official ``.pth``.

    ``.pth`` files are read with ``torch.load(weights_only=True)`` only: anything that is not a plain
    state dict of tensors is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SPADE checkpoint at {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get(METADATA_KEY, "{}"))
                return {k: f.get_tensor(k) for k in f.keys()}, meta
        except Exception as e:  # safetensors raises its own error types
            why = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
            raise ValueError(f"{path} is not a readable safetensors file: {why}") from None
    sd = load_tensors(path, "SPADE checkpoint")
    if not isinstance(sd, dict) or not sd:
        raise ValueError(f"{path} holds a {type(sd).__name__}, not a state dict of tensors")
    odd = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if odd:
        raise ValueError(
            f"{path} is not a state dict of tensors: entries {[str(k)[:40] for k in odd[:4]]} are not tensors"
        )
    return dict(sd), {}


def _infer_shape(sd: dict[str, torch.Tensor], where: str) -> tuple[int, int, bool]:
    """``(semantic_nc, ngf, has_up_4)`` from a state dict's ``fc.weight``."""
    fc = sd.get("fc.weight")
    if fc is None:
        raise ValueError(f"{where} has no 'fc.weight': not a SPADE generator (keys start {list(sd)[:3]})")
    if fc.ndim != 4:
        raise ValueError(
            f"{where}: fc.weight has shape {list(fc.shape)}; only the non-VAE SPADE generator (fc = 3x3 conv) is supported"
        )
    if fc.shape[0] % 16:
        raise ValueError(f"{where}: fc.weight has {fc.shape[0]} output channels, not 16 * ngf")
    return int(fc.shape[1]), int(fc.shape[0]) // 16, any(k.startswith("up_4.") for k in sd)


def _load_into(net: SPADENet, sd: dict[str, torch.Tensor], where: str) -> None:
    """Strict load (tensors assigned, so ``net`` may live on the meta device), with a readable message for
    missing / unexpected keys and wrong shapes. Floating tensors become float32."""
    want = net.state_dict()
    missing = [k for k in want if k not in sd]
    unexpected = [k for k in sd if k not in want]
    wrong = [
        f"{k} {list(sd[k].shape)} (want {list(v.shape)})" for k, v in want.items() if k in sd and sd[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys, e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys, e.g. {unexpected[:3]}")
        if wrong:
            parts.append(f"{len(wrong)} wrong shapes, e.g. {wrong[:2]}")
        raise ValueError(
            f"{where} does not match a SPADE generator with semantic_nc={net.semantic_nc}, ngf={net.ngf}, "
            f"num_upsampling_layers={net.num_upsampling_layers!r}: " + "; ".join(parts)
        )
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True, assign=True)


def load_network(path: str | Path, num_upsampling_layers: str | None = None, ngf: int | None = None) -> SPADENet:
    """Build a :class:`SPADENet` from a checkpoint (spectral norm folded), in eval mode on the CPU.

    Args:
        path: official ``latest_net_G.pth`` or a ``.safetensors`` from ``daub convert``.
        num_upsampling_layers: ``normal``/``more``/``most``; ``None``: from the safetensors metadata, else
            ``most`` when the weights have ``up_4``, else ``normal``. ``normal`` and ``more`` have the same
            weights, so for an official ``.pth`` the caller must know (cityscapes is ``more``).
        ngf: expected base width; ``None`` infers it from ``fc.weight``.
    """
    sd, meta = read_state_dict(path)
    return _build_network(sd, meta, str(path), num_upsampling_layers, ngf)


def _build_network(sd: dict, meta: dict, where: str, num_upsampling_layers: str | None, ngf: int | None) -> SPADENet:
    semantic_nc, found_ngf, has_up_4 = _infer_shape(sd, where)
    if ngf is not None and ngf != found_ngf:
        raise ValueError(f"{where} has ngf={found_ngf} (from fc.weight), not ngf={ngf}")
    stored = meta.get("num_upsampling_layers")
    if num_upsampling_layers is None:
        num_upsampling_layers = stored or ("most" if has_up_4 else "normal")
    elif stored and stored != num_upsampling_layers:
        raise ValueError(f"{where} was converted with num_upsampling_layers={stored!r}, not {num_upsampling_layers!r}")
    if has_up_4 != (num_upsampling_layers == "most"):
        raise ValueError(
            f"{where} {'has' if has_up_4 else 'lacks'} up_4 weights, so num_upsampling_layers "
            f"{'must' if has_up_4 else 'cannot'} be 'most' (got {num_upsampling_layers!r})"
        )
    official = any(k.endswith(".weight_orig") for k in sd)
    with torch.device("meta"):  # no random init: every tensor comes from the checkpoint
        net = SPADENet(semantic_nc, found_ngf, num_upsampling_layers, spectral_norm=official)
    _load_into(net, sd, where)
    return net.fold_spectral_norm().eval().requires_grad_(False)


# --------------------------------------------------------------------------------------------------
# where weights come from


def _default_dir(name: str) -> Path:
    return Path.home() / ".cache" / "daub" / "spade" / name


def _env_var(name: str) -> str:
    return f"DAUB_SPADE_{name.upper()}"


def _in_dir(path: Path) -> Path | None:
    """``path`` itself if a file, else the first of :data:`WEIGHT_FILES` inside it."""
    if path.is_file():
        return path
    for fname in WEIGHT_FILES:
        if (path / fname).is_file():
            return path / fname
    return None


def missing_weights_message(name: str) -> str:
    """Where to put the official checkpoint of ``name`` (one line)."""
    return (
        f"no weights for SPADE {name}: download checkpoints.tar.gz from the Google Drive link in the NVlabs SPADE "
        f"README ({SPADE_README}), unpack it and copy {name}_pretrained/latest_net_G.pth to "
        f"{_default_dir(name) / 'latest_net_G.pth'} (or set {_env_var(name)}=/path/to/latest_net_G.pth, "
        f"or pass checkpoint=... or repo_id=...); daub never substitutes random weights"
    )


def resolve_checkpoint(
    name: str, checkpoint: str | Path | None = None, repo_id: str | None = None, filename: str | None = None
) -> Path:
    """Find the weights of official model ``name`` (``ade20k``, ``coco``, ``cityscapes``).

    Order: ``checkpoint`` (file, or directory holding one of :data:`WEIGHT_FILES`); env var
    ``DAUB_SPADE_<NAME>``; ``~/.cache/daub/spade/<name>/``; ``repo_id`` on the Hugging Face Hub
    (``filename`` default ``latest_net_G.pth``; cache only when ``HF_HUB_OFFLINE`` is set).
    Raises ``FileNotFoundError`` saying where to put the official checkpoint when nothing is found.
    """
    for given, what in ((checkpoint, "checkpoint"), (os.environ.get(_env_var(name)) or None, _env_var(name))):
        if given is not None:
            found = _in_dir(Path(given).expanduser())
            if found is None:
                raise FileNotFoundError(
                    f"{what}={str(given)!r}: no such file (or directory with {' / '.join(WEIGHT_FILES)})"
                )
            return found
    found = _in_dir(_default_dir(name))
    if found is not None:
        return found
    if repo_id:
        from huggingface_hub import hf_hub_download

        fname = filename or "latest_net_G.pth"
        offline = hub.offline()
        if not offline and not hub.cached(repo_id, (fname,)) and not hub.reachable():
            raise RuntimeError(
                hub.unreachable_message("SPADE checkpoint", f"{repo_id}/{fname}", hub.download_hint(repo_id))
            )
        try:
            return Path(hf_hub_download(repo_id, fname, local_files_only=offline))
        except Exception as e:
            why = "HF_HUB_OFFLINE is set and it is not in the local cache" if offline else str(e).splitlines()[0]
            raise RuntimeError(f"could not get {fname} from Hub repo {repo_id!r}: {why}") from None
    raise FileNotFoundError(missing_weights_message(name))


# --------------------------------------------------------------------------------------------------
# converting to safetensors (daub convert)


def convert(src: str | Path, dst: str | Path, *, half: bool = False, num_upsampling_layers: str | None = None) -> dict:
    """Official ``.pth`` -> ``.safetensors`` with spectral norm folded; returns the stored metadata.

    ``num_upsampling_layers`` defaults to ``most`` when the weights have ``up_4``, else to the official
    config with the same input channels (151 ade20k, 184 coco: ``normal``; 36 cityscapes: ``more``).
    """
    sd, _ = read_state_dict(src)
    semantic_nc, ngf, has_up_4 = _infer_shape(sd, str(src))
    if num_upsampling_layers is None:
        official = {cfg.num_upsampling_layers for cfg in CONFIGS.values() if cfg.semantic_nc == semantic_nc}
        if has_up_4:
            num_upsampling_layers = "most"
        elif len(official) == 1:
            num_upsampling_layers = official.pop()
        else:
            raise ValueError(
                f"cannot tell num_upsampling_layers of a generator with {semantic_nc} input channels; "
                "pass --num-upsampling-layers normal|more|most"
            )
    net = _build_network(sd, {}, str(src), num_upsampling_layers, ngf)
    tensors = {}
    for k, v in net.state_dict().items():
        tensors[k] = (v.half() if half and v.is_floating_point() else v).contiguous()
    meta = {"semantic_nc": semantic_nc, "ngf": ngf, "num_upsampling_layers": num_upsampling_layers,
            "dtype": "float16" if half else "float32", "source": Path(src).name}  # fmt: skip
    from safetensors.torch import save_file

    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dst), metadata={METADATA_KEY: json.dumps(meta)})
    return meta


__all__ = [
    "METADATA_KEY", "WEIGHT_FILES", "convert", "load_network", "missing_weights_message", "read_state_dict",
    "resolve_checkpoint",
]  # fmt: skip
