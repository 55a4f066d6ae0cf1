"""Word heat maps for Stable Diffusion (DAAM, Tang et al., ACL 2023) and how well they follow a label map.

During the denoising run, every cross-attention layer of the UNet gets a recording processor that wraps
the processor it had: the wrapped one still computes the layer's output (so the image does not change),
and the recorder computes the attention probabilities of the conditional (prompt) half of the batch,
averages them over heads and sums them over steps per resolution. Afterwards each resolution's sum is
upsampled (bilinear) to the output size and summed, the token maps of each word are added up and each
word's map is normalised to 0..1 (min-max)::

    with trace(pipe.unet, num_images=1, shape=(h, w), scale=pipe.vae_scale_factor) as rec:
        pipe(...)
    maps = rec.word_maps(prompt_words(pipe.tokenizer, prompt))   # [{word: [h, w] float32 in 0..1}]
    layout_agreement(maps[0], ids, "ade20k")                      # {word naming a class: share inside it}
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from palettes import Palette
from palettes import load as load_palette
from synth.labels import resize_labels

if TYPE_CHECKING:
    import torch

#: Word -> class names it may also stand for (those a palette has are used, besides an exact name match).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "lake": ("lake", "water"),
    "pond": ("lake", "water"),
    "water": ("water", "sea", "lake", "river"),
    "ocean": ("sea", "water"),
    "sea": ("sea", "water"),
    "river": ("river", "water"),
    "stream": ("river", "water"),
    "waterfall": ("waterfall", "water"),
    "mountain": ("mountain", "hill"),
    "hill": ("hill", "mountain"),
    "cliff": ("rock", "mountain"),
    "stone": ("rock",),
    "forest": ("tree",),
    "woods": ("tree",),
    "bush": ("plant",),
    "meadow": ("grass", "field"),
    "lawn": ("grass",),
    "field": ("field", "grass"),
    "beach": ("sand",),
    "desert": ("sand",),
    "ground": ("earth", "land"),
    "dirt": ("earth",),
    "cloud": ("sky",),
    "street": ("road",),
    "highway": ("road",),
    "pavement": ("sidewalk",),
    "city": ("building", "skyscraper"),
    "house": ("house", "building"),
    "window": ("windowpane",),
    "couch": ("sofa",),
    "man": ("person",),
    "woman": ("person",),
    "people": ("person",),
    "child": ("person",),
}


# --------------------------------------------------------------------------------------------------
# recording the cross-attention


class HeatmapProcessor:
    """Attention processor that records the layer's cross-attention for ``recorder``, then runs ``inner``."""

    def __init__(self, inner, recorder: CrossAttentionRecorder):
        self.inner = inner
        self.recorder = recorder

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        if encoder_hidden_states is not None:
            self.recorder.record(attn, hidden_states, encoder_hidden_states, attention_mask)
        return self.inner(
            attn, hidden_states, encoder_hidden_states=encoder_hidden_states, attention_mask=attention_mask, **kwargs
        )


class CrossAttentionRecorder:
    """Sums of head-averaged cross-attention probabilities of the last ``num_images`` batch entries (the
    conditional half under classifier-free guidance, everything without it), one sum per resolution.

    Args:
        num_images: images per call (the conditional part of the UNet batch).
        shape: output ``(height, width)`` in pixels.
        scale: pixels per latent cell (the VAE's down-sampling factor, 8 for SD).
    """

    def __init__(self, num_images: int, shape: tuple[int, int], scale: int = 8):
        self.num_images = int(num_images)
        self.shape = (int(shape[0]), int(shape[1]))
        self.latent = (self.shape[0] // scale, self.shape[1] // scale)
        self.sums: dict[tuple[int, int], torch.Tensor] = {}  # (h, w) -> [n, h*w, tokens] float32

    def grid(self, cells: int) -> tuple[int, int]:
        """``(h, w)`` of a UNet level with ``cells`` positions: the latent halved (rounding up) until it fits."""
        h, w = self.latent
        while h * w > cells and h * w > 1:
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        if h * w != cells:
            raise ValueError(f"{cells} attention positions fit no level of a {self.latent[0]}x{self.latent[1]} latent")
        return h, w

    def record(self, attn, hidden_states, encoder_hidden_states, attention_mask=None) -> None:
        """Add one layer call's attention probabilities, computed as diffusers' ``AttnProcessor`` does."""
        import torch

        n = self.num_images
        with torch.no_grad():
            x, context = hidden_states[-n:], encoder_hidden_states[-n:]
            if x.ndim == 4:
                x = x.flatten(2).transpose(1, 2)
            if attn.group_norm is not None:
                x = attn.group_norm(x.transpose(1, 2)).transpose(1, 2)
            if attn.norm_cross:
                context = attn.norm_encoder_hidden_states(context)
            mask = None
            if attention_mask is not None:
                mask = attn.prepare_attention_mask(attention_mask[-n:], context.shape[1], n)
            query = attn.head_to_batch_dim(attn.to_q(x))
            key = attn.head_to_batch_dim(attn.to_k(context))
            if attn.norm_q is not None:
                query = attn.norm_q(query)
            if attn.norm_k is not None:
                key = attn.norm_k(key)
            probs = attn.get_attention_scores(query, key, mask)  # [n * heads, cells, tokens], batch-major
            probs = probs.view(n, attn.heads, *probs.shape[1:]).float().mean(1)
            level = self.grid(probs.shape[1])
            if level in self.sums:
                self.sums[level] += probs
            else:
                self.sums[level] = probs.clone()

    def token_maps(self, positions: list[list[int]], image: int) -> torch.Tensor:
        """``[len(positions), H, W]`` float32 tensor: for each group of token positions, its summed attention,
        upsampled to the output size and summed over levels (upsampling is linear: summing first is exact)."""
        import torch
        import torch.nn.functional as F

        if not positions or not self.sums:
            return torch.zeros((len(positions), *self.shape))
        total = 0
        for (h, w), s in self.sums.items():
            grouped = torch.stack([s[image][:, p].sum(1) for p in positions]).view(1, len(positions), h, w)
            total = total + F.interpolate(grouped, size=self.shape, mode="bilinear", align_corners=False)[0]
        return total.cpu()

    def word_maps(self, words: list[tuple[str, list[int]]]) -> list[dict[str, np.ndarray]]:
        """Per image, ``{word: [H, W] float32 map in 0..1}``; a word met twice gets both occurrences' tokens."""
        merged: dict[str, list[int]] = {}
        for word, positions in words:
            merged.setdefault(word, []).extend(positions)
        names, groups = list(merged), list(merged.values())
        out = []
        for i in range(self.num_images):
            maps = self.token_maps(groups, i).numpy()
            out.append({w: normalise(m) for w, m in zip(names, maps)})
        return out


@contextmanager
def trace(unet, num_images: int, shape: tuple[int, int], scale: int = 8) -> Iterator[CrossAttentionRecorder]:
    """Record ``unet``'s cross-attention while the block runs; its processors are restored afterwards, also
    when the block raises. Yields the :class:`CrossAttentionRecorder`."""
    recorder = CrossAttentionRecorder(num_images, shape, scale)
    layers = cross_attention_layers(unet)
    originals = [layer.processor for layer in layers]
    try:
        for layer, inner in zip(layers, originals):
            layer.set_processor(HeatmapProcessor(inner, recorder))
        yield recorder
    finally:
        for layer, inner in zip(layers, originals):
            layer.set_processor(inner)


def cross_attention_layers(unet) -> list:
    """The UNet's cross-attention modules (``attn2`` of every transformer block), in module order."""
    return [m for m in unet.modules() if getattr(m, "is_cross_attention", False) and hasattr(m, "set_processor")]


# --------------------------------------------------------------------------------------------------
# words


def prompt_words(tokenizer, prompt: str) -> list[tuple[str, list[int]]]:
    """``[(word, token positions), ...]`` for ``prompt`` as the pipeline encodes it (truncated to the
    tokenizer's length): CLIP sub-word pieces merged back into words (a piece ending in ``</w>`` ends one),
    start/end/pad tokens skipped, and so are pieces without a letter or digit (punctuation)."""
    ids = tokenizer(prompt, truncation=True, max_length=tokenizer.model_max_length)["input_ids"]
    special = set(tokenizer.all_special_ids)
    words, current = [], []

    def flush():
        if current:
            word = tokenizer.decode([ids[p] for p in current]).strip().lower()
            if any(c.isalnum() for c in word):
                words.append((word, list(current)))
            current.clear()

    for pos, token_id in enumerate(ids):
        if token_id in special:
            flush()
            continue
        current.append(pos)
        if tokenizer.convert_ids_to_tokens(token_id).endswith("</w>"):
            flush()
    flush()
    return words


def normalise(m: np.ndarray) -> np.ndarray:
    """``m`` scaled to 0..1 (min-max), float32; a constant map becomes zeros."""
    m = np.asarray(m, np.float32)
    lo, span = float(m.min()), float(m.max() - m.min())
    return (m - lo) / span if span > 0 else np.zeros_like(m)


# --------------------------------------------------------------------------------------------------
# agreement with the painted layout


def _base(name: str) -> str:
    """A class name without COCO-Stuff's ``-other`` / ``-merged`` / ``-stuff`` style suffixes."""
    return name.lower().split("-")[0].strip()


def word_classes(word: str, palette: Palette | str) -> list[int]:
    """Ids of the classes ``word`` names in ``palette``: an exact (suffix-free) class name, plus
    :data:`SYNONYMS`; a plural ("trees", "bushes", "skies") is tried as its singular when it names none."""
    pal = load_palette(palette)
    bases = [_base(n) for n in pal.names]
    w = word.strip().lower()
    candidates = [w]
    if w.endswith("ies"):
        candidates.append(w[:-3] + "y")
    if w.endswith("es"):
        candidates.append(w[:-2])
    if w.endswith("s"):
        candidates.append(w[:-1])
    for c in candidates:
        wanted = {c, *SYNONYMS.get(c, ())}
        ids = [i for i, b in enumerate(bases) if b in wanted or pal.names[i].lower() in wanted]
        if ids:
            return ids
    return []


def layout_agreement(heatmaps: dict[str, np.ndarray], ids, palette: Palette | str) -> dict[str, float]:
    """For each word naming a class of ``palette`` (:func:`word_classes`), the share of its heat-map mass
    inside the pixels painted with that class (or its synonyms): 1.0 = all of it, NaN for a map with no mass.

    A map spread evenly would score the class's share of the image, so compare against that. ``ids`` are
    resized (nearest) to the maps' size when they differ; don't-care pixels count as outside.
    """
    pal = load_palette(palette)
    ids = np.asarray(ids)
    out: dict[str, float] = {}
    for word, m in heatmaps.items():
        classes = word_classes(word, pal)
        if not classes:
            continue
        m = np.asarray(m, np.float64)
        labels = ids if ids.shape == m.shape else resize_labels(ids, (m.shape[1], m.shape[0]))
        total = m.sum()
        out[word] = float(m[np.isin(labels, classes)].sum() / total) if total > 0 else float("nan")
    return out


def overlay(image, heatmap: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """``image`` (PIL or ``[H, W, 3]``) dimmed to grey, with ``heatmap`` (0..1, resized to it) over it in a
    dark-red-to-yellow ramp: ``[H, W, 3]`` uint8."""
    from PIL import Image

    photo = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image, np.float32)
    h, w = photo.shape[:2]
    m = np.asarray(heatmap, np.float32)
    if m.shape != (h, w):
        m = np.asarray(Image.fromarray(m).resize((w, h), Image.BILINEAR), np.float32)
    m = np.clip(m, 0.0, 1.0)[..., None]
    grey = photo.mean(-1, keepdims=True) * 0.5
    ramp = np.concatenate([np.minimum(1, 2 * m), np.clip(2 * m - 1, 0, 1), np.zeros_like(m)], -1) * 255
    return np.clip(grey * (1 - alpha * m) + ramp * (alpha * m), 0, 255).astype(np.uint8)


__all__ = [
    "SYNONYMS",
    "overlay",
    "CrossAttentionRecorder",
    "HeatmapProcessor",
    "cross_attention_layers",
    "layout_agreement",
    "normalise",
    "prompt_words",
    "trace",
    "word_classes",
]
