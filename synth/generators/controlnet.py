"""Stable Diffusion 1.5 + ControlNet-seg through diffusers: label ids -> trained colours -> photograph.

::

    gen = synth.load("controlnet-seg")                            # SD1.5 + control_v11p_sd15_seg
    img = gen(ids, seed=0, prompt="a mountain lake at dawn")
    gen = synth.load("controlnet-seg", fast=True)                 # + LCM-LoRA: 4 steps
    gen = synth.load("controlnet-seg", style=True)                # + shuffle ControlNet for a style photo
    img = gen(ids, style_image=Image.open("photo.jpg"), style_scale=0.6)

The pipeline is built when the generator is loaded (so a missing model fails at ``synth.load``); the
LCM-LoRA is loaded then if ``fast=True``, else the first time a call asks for ``fast=True``.

ControlNet-seg never sees painted colours: ids become the palette's *trained* colours
(:meth:`palettes.Palette.to_colors` with ``trained=True``) at exactly the output size, passed to diffusers
as an NCHW float tensor in [0, 1]. For tensors diffusers' control-image processor only resizes (nearest)
when the size differs and does not normalise, so the ControlNet receives exactly those colours — a PIL
image would be Lanczos-resized, blending label colours at region borders.

Models come from the Hugging Face Hub (or local folders); with ``HF_HUB_OFFLINE=1`` only the local cache
is used, and a model that is not there raises a :class:`RuntimeError` naming it and how to download it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from palettes import load as load_palette
from synth import hub
from synth.generators.base import BaseGenerator, SizeRule, StepCallback, pick_device
from synth.generators.heatmaps import prompt_words, trace

DEFAULT_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"
#: ControlNet-seg checkpoints by version; v1.1 understands ADE20K and COCO colours, v1.0 only ADE20K.
CONTROLNETS = {"v1.1": "lllyasviel/control_v11p_sd15_seg", "v1.0": "lllyasviel/sd-controlnet-seg"}
STYLE_CONTROLNET = "lllyasviel/control_v11e_sd15_shuffle"
LCM_LORA = "latent-consistency/lcm-lora-sdv1-5"
PALETTES = {"v1.1": ("ade20k", "coco133"), "v1.0": ("ade20k",)}

#: scheduler option -> diffusers class name (extra config).
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "unipc": ("UniPCMultistepScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "lcm": ("LCMScheduler", {}),
}

DEFAULT_PROMPT = "a photograph, best quality, highly detailed, natural light"
DEFAULT_NEGATIVE = "lowres, worst quality, low quality, blurry, jpeg artifacts, cartoon, drawing, painting, text"
#: (steps, guidance_scale) defaults for the normal and the fast (LCM-LoRA) mode.
DEFAULTS = {False: (20, 7.5), True: (4, 1.5)}

#: Linear map from SD1.x latents to RGB for cheap previews (no VAE decode), from ComfyUI's SD15 format.
LATENT_RGB = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)

#: LoRA file names diffusers writes (``save_lora_weights``), preferred first; the LCM-LoRA repos hold the first.
LORA_WEIGHTS = ("pytorch_lora_weights.safetensors", "pytorch_lora_weights.bin")

#: Files a GPU load of each default Hub repo reads (diffusers layout, fp16 weights as loaded on a GPU), and
#: roughly how many GB they are: what a Space preloads (``preload_from_hub``) and what a first use downloads.
_SD_COMPONENTS = ("text_encoder/model", "unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model")
HUB_FILES: dict[str, tuple[tuple[str, ...], float]] = {
    DEFAULT_BASE: (
        (
            "model_index.json",
            "scheduler/scheduler_config.json",
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
            "text_encoder/config.json",
            "unet/config.json",
            "vae/config.json",
            *(f"{c}.fp16.safetensors" for c in _SD_COMPONENTS),
            "safety_checker/config.json",
            "safety_checker/model.fp16.safetensors",
            "feature_extractor/preprocessor_config.json",
        ),
        2.7,
    ),
    CONTROLNETS["v1.1"]: (("config.json", "diffusion_pytorch_model.fp16.safetensors"), 0.7),
    STYLE_CONTROLNET: (("config.json", "diffusion_pytorch_model.fp16.safetensors"), 0.7),
    LCM_LORA: ((LORA_WEIGHTS[0],), 0.14),
}

_WEIGHTS = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.fp16.bin",
)

#: ``hf download --include`` patterns per model kind: only the diffusers files.
_INCLUDE: dict[str, tuple[str, ...]] = {
    "base": ("*.json", "*.txt", "*/*.safetensors"),
    "controlnet": ("*.json", "*.safetensors"),
    "lora": (),
}


# --------------------------------------------------------------------------------------------------
# where models come from


def _present(ref: str, kind: str, cache_dir=None) -> bool:
    """Whether model ``ref`` (repo id or folder) of ``kind`` ("base", "controlnet", "lora") is usable offline."""
    if hub.is_local(ref):
        return Path(ref).expanduser().exists()
    if kind == "base":
        return hub.cached(ref, ("model_index.json",), cache_dir) and hub.cached(
            ref, tuple(f"unet/{w}" for w in _WEIGHTS), cache_dir
        )
    if kind == "lora":
        return hub.cached(ref, LORA_WEIGHTS, cache_dir)
    return hub.cached(ref, ("config.json",), cache_dir) and hub.cached(ref, _WEIGHTS, cache_dir)


def _download_hint(ref: str, kind: str = "controlnet") -> str:
    """How to fetch ``ref`` once (only the diffusers files: Hub repos may also hold multi-GB single-file checkpoints)."""
    return hub.download_hint(ref, include=_INCLUDE[kind])


def _require(ref: str, kind: str, cache_dir=None) -> None:
    """Fail early and clearly when ``ref`` cannot be loaded without a download we may not make."""
    if hub.is_local(ref):
        if not Path(ref).expanduser().exists():
            raise FileNotFoundError(f"{kind} model folder {ref!r} does not exist")
        return
    if hub.offline() and not _present(ref, kind, cache_dir):
        raise RuntimeError(
            f"{kind} model {ref!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1; "
            + _download_hint(ref, kind)
        )
    if not _present(ref, kind, cache_dir) and not hub.reachable():
        raise RuntimeError(hub.unreachable_message(f"{kind} model", ref, _download_hint(ref, kind)))


def _needed(
    base_model=None, controlnet=None, version="v1.1", fast=False, lcm_lora=None, style=False, style_controlnet=None
) -> list[tuple[str, str]]:
    """``[(ref, kind), ...]`` a configuration loads."""
    if version not in CONTROLNETS:
        raise ValueError(f"version must be one of {sorted(CONTROLNETS)}, got {version!r}")
    refs = [(str(base_model or DEFAULT_BASE), "base"), (str(controlnet or CONTROLNETS[version]), "controlnet")]
    if fast:
        refs.append((str(lcm_lora or LCM_LORA), "lora"))
    if style:
        refs.append((str(style_controlnet or STYLE_CONTROLNET), "controlnet"))
    return refs


def available(key: str = "controlnet-seg", cache_dir=None, **kwargs) -> tuple[bool, str]:
    """Whether ControlNet-seg can run here: ``(True, "")`` when every model is a local folder or in the HF
    cache; ``(True, "downloads about N GB ...")`` when some are not but can be downloaded (online);
    ``(False, how to get them)`` when they are missing and ``HF_HUB_OFFLINE`` is set (or diffusers is not
    installed).

    Keyword arguments are those of :func:`load_controlnet_seg` (``base_model``, ``controlnet``, ``version``,
    ``fast``, ``lcm_lora``, ``style``, ``style_controlnet``); others are ignored. Never downloads.
    """
    for pkg in ("diffusers", "transformers"):
        try:
            __import__(pkg)
        except ImportError:
            return False, f"missing package {pkg} (pip install 'daub[diffusion]')"
    names = ("base_model", "controlnet", "version", "fast", "lcm_lora", "style", "style_controlnet")
    try:
        refs = _needed(**{k: v for k, v in kwargs.items() if k in names})
    except ValueError as e:
        return False, str(e)
    kinds = dict(refs)
    missing = [ref for ref, kind in refs if not _present(ref, kind, cache_dir)]
    if not missing:
        return True, ""
    if not hub.offline() and not any(hub.is_local(ref) for ref in missing):
        if not hub.reachable():
            return False, hub.unreachable_message("model", missing[0], _download_hint(missing[0], kinds[missing[0]]))
        gb = sum(HUB_FILES.get(ref, ((), 1.0))[1] for ref in missing)
        return True, f"downloads about {gb:.1f} GB from the Hugging Face Hub on first use"
    hint = _download_hint(missing[0], kinds[missing[0]])
    return False, f"not downloaded: {', '.join(missing)} ({hint}; likewise for the others)"


def _dtype_kwarg(dtype) -> dict:
    """diffusers renamed ``torch_dtype`` to ``dtype``; pass whichever this version takes."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401  (only in versions taking dtype)
    except ImportError:
        return {"torch_dtype": dtype}
    return {"dtype": dtype}


def _load_controlnet(ref: str, dtype, variant, cache_dir):
    from diffusers import ControlNetModel

    _require(ref, "controlnet", cache_dir)
    return _with_variant(
        ControlNetModel.from_pretrained,
        ref,
        "controlnet",
        variant,
        **_dtype_kwarg(dtype),
        cache_dir=cache_dir,
        local_files_only=hub.offline(),
    )


def _with_variant(load, ref: str, kind: str, variant, **kwargs):
    """``load(ref, variant=variant)``, falling back to the default weights when that variant is missing."""
    try:
        try:
            return load(ref, variant=variant, **kwargs)
        except (ValueError, OSError):
            if variant is None:
                raise
            return load(ref, **kwargs)
    except (ValueError, OSError) as e:
        hint = _download_hint(ref, kind) if not hub.is_local(ref) else "check that the folder is a diffusers model"
        raise RuntimeError(f"could not load {kind} model {ref!r}: {e}; {hint}") from e


# --------------------------------------------------------------------------------------------------
# the generator


class ControlNetSegGenerator(BaseGenerator):
    """Stable Diffusion 1.5 + ControlNet-seg. Build with :func:`load_controlnet_seg`.

    Options (all keyword, all optional):
        prompt, negative_prompt: text (defaults :data:`DEFAULT_PROMPT`, :data:`DEFAULT_NEGATIVE`).
        steps: denoising steps (default 20, or 4 when fast).
        guidance_scale: classifier-free guidance, >= 0 (default 7.5, or 1.5 when fast; <= 1 disables it).
        conditioning_scale: weight of the seg ControlNet, >= 0 (default 1.0).
        control_guidance_start, control_guidance_end: fraction of the steps during which the ControlNets act
            (default 0.0 and 1.0).
        scheduler: "unipc" (default), "ddim", "euler_a", "dpm++"; "lcm" (the only one, and default, when fast).
        fast: use the LCM-LoRA (default: the ``fast`` given at load).
        callback: ``callback(step, total, preview_or_None)`` after each denoising step (step counts from 1).
        preview: pass the callback a cheap preview of the first image (linear latent -> RGB, no VAE decode).
        style_image: a photo whose look to borrow (needs ``style=True`` at load); it is content-shuffled and
            fed to a second ControlNet (shuffle), reshuffled per image with that image's seed.
        style_scale: weight of the style ControlNet, >= 0 (default 0.6).
        heatmaps: also record word heat maps (DAAM) during the same denoising run (default False); see
            :attr:`last_heatmaps`. The images are the same as without.

    After each call :attr:`last_nsfw` holds the safety checker's flags (``None`` without a checker); flagged
    images come back black, as diffusers returns them. :attr:`last_heatmaps` holds, with ``heatmaps=True``,
    one ``{word: [H, W] float32 array in 0..1}`` per image (where each prompt word acted, from the UNet's
    cross-attention; :mod:`synth.generators.heatmaps`; all zeros for a flagged image), else ``None``.
    """

    name = "controlnet-seg"
    options = (
        "prompt",
        "negative_prompt",
        "steps",
        "guidance_scale",
        "conditioning_scale",
        "control_guidance_start",
        "control_guidance_end",
        "scheduler",
        "fast",
        "callback",
        "preview",
        "style_image",
        "style_scale",
        "heatmaps",
    )

    def __init__(
        self,
        pipe,
        palette="ade20k",
        *,
        fast=False,
        lcm_lora: str = LCM_LORA,
        style_pipe=None,
        cache_dir=None,
        max_side: int = 1536,
        offload=None,
    ):
        self.palette = load_palette(palette)
        self.size_rule = SizeRule(multiple=8, default=(512, 512), max_side=max_side)
        self.pipe = pipe
        self.style_pipe = style_pipe
        self.lcm_lora = str(lcm_lora)
        self.cache_dir = cache_dir
        self.fast = bool(fast)
        self.last_nsfw: list[bool] | None = None
        self.last_heatmaps: list[dict[str, np.ndarray]] | None = None
        self.offload = offload  # device for model CPU offload, or None
        self._active = None
        self._lora_loaded = False
        self._schedulers: dict = {}
        self._scheduler_config = pipe.scheduler.config
        self._lock = threading.Lock()
        for p in (pipe, style_pipe):
            if p is not None:
                p.set_progress_bar_config(disable=True)
        if fast:
            self._load_lora()

    @property
    def device(self):
        return self.pipe._execution_device

    @property
    def dtype(self):
        return self.pipe.unet.dtype

    # -- option handling -----------------------------------------------------------------------
    def check_options(self, options: dict) -> dict:
        """Fill defaults and validate option values; returns the complete option dict."""
        fast = self.fast if options.get("fast") is None else bool(options["fast"])
        steps, guidance = DEFAULTS[fast]
        o = {
            "prompt": DEFAULT_PROMPT,
            "negative_prompt": DEFAULT_NEGATIVE,
            "steps": steps,
            "guidance_scale": guidance,
            "conditioning_scale": 1.0,
            "control_guidance_start": 0.0,
            "control_guidance_end": 1.0,
            "scheduler": "lcm" if fast else "unipc",
            "callback": None,
            "preview": False,
            "style_image": None,
            "style_scale": 0.6,
            "heatmaps": False,
        }
        o.update({k: v for k, v in options.items() if v is not None or k in ("callback", "style_image")})
        o["fast"] = fast
        for key in ("prompt", "negative_prompt"):
            if not isinstance(o[key], str):
                raise ValueError(f"{key} must be a string, got {type(o[key]).__name__}")
        if not isinstance(o["steps"], (int, np.integer)) or isinstance(o["steps"], bool) or not 1 <= o["steps"] <= 1000:
            raise ValueError(f"steps must be an integer 1..1000, got {o['steps']!r}")
        for key in ("guidance_scale", "conditioning_scale", "style_scale"):
            if not isinstance(o[key], (int, float, np.number)) or isinstance(o[key], bool) or not o[key] >= 0:
                raise ValueError(f"{key} must be a number >= 0, got {o[key]!r}")
            o[key] = float(o[key])
        start, end = o["control_guidance_start"], o["control_guidance_end"]
        if not all(isinstance(v, (int, float, np.number)) for v in (start, end)) or not 0 <= start < end <= 1:
            raise ValueError(f"need 0 <= control_guidance_start < control_guidance_end <= 1, got {start!r} and {end!r}")
        if o["scheduler"] not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {o['scheduler']!r}")
        if fast != (o["scheduler"] == "lcm"):
            raise ValueError(
                "the LCM-LoRA (fast=True) needs scheduler='lcm'" if fast else "scheduler='lcm' needs fast=True"
            )
        if not isinstance(o["heatmaps"], (bool, np.bool_)):
            raise ValueError(f"heatmaps must be True or False, got {o['heatmaps']!r}")
        o["heatmaps"] = bool(o["heatmaps"])
        if o["callback"] is not None and not callable(o["callback"]):
            raise ValueError("callback must be callable(step, total, preview_or_None)")
        if o["style_image"] is not None:
            if self.style_pipe is None:
                raise ValueError(
                    "style_image needs the style ControlNet: load with synth.load('controlnet-seg', style=True)"
                )
            if not isinstance(o["style_image"], (Image.Image, np.ndarray)):
                raise ValueError(
                    f"style_image must be a PIL image or an RGB array, got {type(o['style_image']).__name__}"
                )
        return o

    # -- rendering -----------------------------------------------------------------------------
    def control_image(self, ids: np.ndarray):
        """``[1, 3, H, W]`` float32 tensor in [0, 1]: the trained colours of ``ids``, exactly, at ids' size."""
        import torch

        colours = self.palette.to_colors(ids, trained=True)
        return torch.from_numpy(np.ascontiguousarray(colours)).permute(2, 0, 1)[None].float() / 255.0

    def style_control(self, photo, seeds: list[int], size: tuple[int, int]):
        """``[N, 3, H, W]`` content-shuffled versions of ``photo`` (one per seed), in [0, 1]."""
        import warnings

        import torch

        with warnings.catch_warnings():  # controlnet_aux imports many detectors, some with deprecation noise
            warnings.simplefilter("ignore")
            from controlnet_aux import ContentShuffleDetector

        w, h = size
        photo = Image.fromarray(np.asarray(photo)) if isinstance(photo, np.ndarray) else photo
        photo = np.asarray(photo.convert("RGB").resize((w, h), Image.Resampling.LANCZOS))
        shuffle = ContentShuffleDetector()
        state = np.random.get_state()  # the detector draws from numpy's global RNG
        try:
            maps = []
            for s in seeds:
                np.random.seed(s % 2**32)
                res = max(64, min(w, h))  # the detector rounds sizes to multiples of 64
                out = shuffle(photo, detect_resolution=res, image_resolution=res, output_type="pil")
                maps.append(np.asarray(out.resize((w, h), Image.Resampling.BILINEAR)))
        finally:
            np.random.set_state(state)
        return torch.from_numpy(np.stack(maps)).permute(0, 3, 1, 2).float() / 255.0

    def scheduler(self, name: str):
        if name not in self._schedulers:
            import diffusers

            cls, extra = SCHEDULERS[name]
            self._schedulers[name] = getattr(diffusers, cls).from_config(self._scheduler_config, **extra)
        return self._schedulers[name]

    def _load_lora(self) -> None:
        ref = self.lcm_lora
        _require(ref, "lora", self.cache_dir)
        kwargs = {"adapter_name": "lcm", "cache_dir": self.cache_dir, "local_files_only": hub.offline()}
        path = Path(ref).expanduser()
        if path.is_file():
            ref, kwargs["weight_name"] = str(path.parent), path.name
        elif not hub.is_local(ref):  # offline, diffusers cannot guess a Hub repo's file name: name it
            kwargs["weight_name"] = next(
                (w for w in LORA_WEIGHTS if hub.cached(ref, (w,), self.cache_dir)), LORA_WEIGHTS[0]
            )
        try:
            self.pipe.load_lora_weights(ref, **kwargs)
        except (ValueError, OSError) as e:
            raise RuntimeError(f"could not load LCM-LoRA {self.lcm_lora!r}: {e}") from e
        self._lora_loaded = True

    def _activate(self, pipe) -> None:
        """With CPU offload, (re)attach the offload hooks to the pipeline about to run (both share modules)."""
        if self.offload is not None and self._active is not pipe:
            pipe.enable_model_cpu_offload(device=self.offload)
            self._active = pipe

    def _generator(self, seed: int):
        import torch

        device = self.device if self.device.type == "cuda" else torch.device("cpu")
        return torch.Generator(device).manual_seed(seed)

    def _generate(self, ids: np.ndarray, seeds: list[int], **options) -> list[Image.Image]:
        o = self.check_options(options)
        h, w = ids.shape
        n = len(seeds)
        control = self.control_image(ids)
        with self._lock:
            self.last_heatmaps = None
            if o["fast"] and not self._lora_loaded:
                self._load_lora()
            pipe, image, scale = self.pipe, control, o["conditioning_scale"]
            start, end = float(o["control_guidance_start"]), float(o["control_guidance_end"])
            if o["style_image"] is not None:
                pipe = self.style_pipe
                image = [control, self.style_control(o["style_image"], seeds, (w, h))]
                scale = [scale, o["style_scale"]]
                start, end = [start, start], [end, end]
            self._activate(pipe)
            if self._lora_loaded:
                (pipe.enable_lora if o["fast"] else pipe.disable_lora)()
            pipe.scheduler = self.scheduler(o["scheduler"])
            _vae_memory(pipe.vae, tiles=w * h > TILE_ABOVE, slices=n > 1)
            tracing = trace(pipe.unet, n, (h, w), pipe.vae_scale_factor) if o["heatmaps"] else contextlib.nullcontext()
            with tracing as recorder:
                out = pipe(
                    prompt=[o["prompt"]] * n,
                    negative_prompt=[o["negative_prompt"]] * n,
                    image=image,
                    height=h,
                    width=w,
                    num_inference_steps=int(o["steps"]),
                    guidance_scale=o["guidance_scale"],
                    controlnet_conditioning_scale=scale,
                    control_guidance_start=start,
                    control_guidance_end=end,
                    generator=[self._generator(s) for s in seeds],
                    output_type="pil",
                    callback_on_step_end=self._step_callback(o["callback"], o["preview"], (w, h)),
                    callback_on_step_end_tensor_inputs=["latents"],
                )
            if recorder is not None:
                self.last_heatmaps = _word_maps(recorder, pipe.tokenizer, o["prompt"], out.nsfw_content_detected)
        self.last_nsfw = out.nsfw_content_detected
        return list(out.images)

    @staticmethod
    def _step_callback(callback: StepCallback | None, preview: bool, size):
        if callback is None:
            return None

        def on_step_end(pipe, i, t, tensors):
            callback(i + 1, pipe.num_timesteps, latent_preview(tensors["latents"][0], size) if preview else None)
            return {}

        return on_step_end


def _word_maps(recorder, tokenizer, prompt: str, nsfw) -> list[dict[str, np.ndarray]]:
    """The recorder's word maps, zeroed for images the safety checker blacked out."""
    maps = recorder.word_maps(prompt_words(tokenizer, prompt))
    for i, flagged in enumerate(nsfw or ()):
        if flagged:
            maps[i] = {word: np.zeros_like(m) for word, m in maps[i].items()}
    return maps


#: Pixels per image above which the VAE decodes in tiles: a decode at a 1536-pixel side would otherwise
#: need several GB at once.
TILE_ABOVE = 1024 * 1024


def conditional_side_only(net, pipe):
    """Make ControlNet ``net`` (the shuffle one) act on the conditional side of classifier-free guidance
    only, as its model card asks. diffusers takes guess mode (which does that) from the *first* ControlNet
    of a pipeline for all of them, and the seg ControlNet needs both sides; so a forward hook zeroes this
    net's residuals for the unconditional half of the batch (diffusers puts it first) whenever ``pipe``
    runs with guidance. Returns the hook's handle."""

    import torch

    def hook(module, args, output):
        if not getattr(pipe, "do_classifier_free_guidance", False):
            return output
        named = hasattr(output, "mid_block_res_sample")  # a ControlNetOutput (return_dict=True) or a tuple
        down, mid = (output.down_block_res_samples, output.mid_block_res_sample) if named else output
        keep = torch.ones(mid.shape[0], 1, 1, 1, dtype=mid.dtype, device=mid.device)
        keep[: mid.shape[0] // 2] = 0
        down, mid = tuple(d * keep for d in down), mid * keep
        return type(output)(down_block_res_samples=down, mid_block_res_sample=mid) if named else (down, mid)

    return net.register_forward_hook(hook)


def _vae_memory(vae, tiles: bool, slices: bool) -> None:
    """Bound the VAE decode's memory: tiles for large images (seams blended), one image at a time for batches."""
    for on, name in ((tiles, "tiling"), (slices, "slicing")):
        method = getattr(vae, f"{'enable' if on else 'disable'}_{name}", None)
        if callable(method):
            method()


def latent_preview(latent, size: tuple[int, int]) -> Image.Image | None:
    """Cheap RGB preview of one ``[4, h, w]`` SD latent (linear map, no VAE), resized to ``size``."""
    import torch

    if latent.shape[0] != len(LATENT_RGB):
        return None
    m = torch.tensor(LATENT_RGB, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latent.detach().float().cpu(), m)
    arr = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return Image.fromarray(arr).resize(size, Image.Resampling.BILINEAR)


def load_controlnet_seg(
    base_model: str | os.PathLike | None = None,
    controlnet: str | os.PathLike | None = None,
    *,
    version: str = "v1.1",
    palette: str = "ade20k",
    device=None,
    dtype=None,
    fast: bool = False,
    lcm_lora: str | os.PathLike | None = None,
    style: bool = False,
    style_controlnet: str | os.PathLike | None = None,
    safety_checker: bool = True,
    variant: str | None = "auto",
    cache_dir: str | os.PathLike | None = None,
    offload: bool = False,
    max_side: int = 1536,
) -> ControlNetSegGenerator:
    """Build the ControlNet-seg generator (loads the pipeline now).

    Args:
        base_model: SD1.5-compatible diffusers pipeline, Hub repo id or folder (default :data:`DEFAULT_BASE`).
        controlnet: seg ControlNet, repo id or folder (default by ``version``).
        version: "v1.1" (``control_v11p_sd15_seg``, ADE20K + COCO) or "v1.0" (``sd-controlnet-seg``, ADE20K).
        palette: "ade20k" or "coco133" (v1.1 only): the label set the ids are in.
        device, dtype: default from :func:`pick_device` (cuda fp16, cpu fp32).
        fast: load the LCM-LoRA now and make 4-step LCM sampling the default.
        lcm_lora: LCM-LoRA repo id, folder or ``.safetensors`` file (default :data:`LCM_LORA`).
        style: also load the shuffle ControlNet, enabling the ``style_image`` option.
        style_controlnet: that ControlNet (default :data:`STYLE_CONTROLNET`).
        safety_checker: keep the base model's safety checker if it has one (default). ``False`` skips
            loading it (and its ~1.2 GB download); you are then responsible for the outputs.
        variant: weight variant; "auto" = "fp16" for half precision (falling back to full weights if a
            repo has none), else none.
        cache_dir: Hugging Face cache folder (default: the HF_HOME / HF_HUB_CACHE setting).
        offload: ``enable_model_cpu_offload`` (needs accelerate; cuda only): lower VRAM, slower.
        max_side: longest output side allowed.
    """
    import torch
    from diffusers import StableDiffusionControlNetPipeline

    refs = _needed(base_model, controlnet, version, False, None, style, style_controlnet)
    if palette not in PALETTES[version]:
        raise ValueError(f"ControlNet-seg {version} understands palettes {PALETTES[version]}, not {palette!r}")
    device, dtype = pick_device(device, dtype)
    if variant == "auto":
        variant = "fp16" if dtype == torch.float16 else None
    _require(refs[0][0], "base", cache_dir)
    seg = _load_controlnet(refs[1][0], dtype, variant, cache_dir)
    extra = (
        {} if safety_checker else {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    )
    pipe = _with_variant(
        StableDiffusionControlNetPipeline.from_pretrained,
        refs[0][0],
        "base",
        variant,
        controlnet=seg,
        **_dtype_kwarg(dtype),
        cache_dir=cache_dir,
        local_files_only=hub.offline(),
        **extra,
    )
    style_pipe = None
    if style:
        shuffle = _load_controlnet(refs[2][0], dtype, variant, cache_dir)
        components = {**pipe.components, "controlnet": [seg, shuffle]}
        style_pipe = StableDiffusionControlNetPipeline(
            **components, requires_safety_checker=bool(pipe.config.get("requires_safety_checker", False))
        )
        conditional_side_only(shuffle, style_pipe)
    if not offload:
        pipe.to(device)  # moves the modules the style pipeline shares, and the shuffle ControlNet below
        if style_pipe is not None:
            style_pipe.to(device)
    gen = ControlNetSegGenerator(
        pipe,
        palette,
        fast=fast,
        lcm_lora=str(lcm_lora or LCM_LORA),
        style_pipe=style_pipe,
        cache_dir=cache_dir,
        max_side=max_side,
        offload=device if offload else None,
    )
    gen._activate(pipe)
    return gen


__all__ = ["ControlNetSegGenerator", "available", "latent_preview", "load_controlnet_seg"]
