"""One step of ``daub train``: the models it updates, the weights of its losses (:class:`Recipe`), what it
trains on (:class:`Batch`) and the step itself (:func:`train_step`: one generator update, then one of the
discriminator(s)). :mod:`synth.train` builds these from the flags and runs the loop."""

from __future__ import annotations

import argparse
import dataclasses
from typing import NamedTuple

import torch

from synth import diffaug
from synth.discriminator import PatchDiscriminator, SegDiscriminator
from synth.generators.embedded import DaubGenerator
from synth.losses import (
    band_loss,
    d_fake_loss,
    d_real_loss,
    diversity_loss,
    grain_loss,
    labelmix_loss,
    labelmix_mask,
    patch_d_loss,
    patch_g_loss,
    patch_weights,
    pooled_power,
    spectral_loss,
)
from synth.texture import TextureBank, paired_distances, texture_loss

Draw = tuple[torch.Tensor, list[torch.Tensor]]  # (3D noise z, pixel noise maps): one noise draw for a batch


@dataclasses.dataclass
class Models:
    """The generator, its EMA copy, the discriminator(s) and their optimisers."""

    G: DaubGenerator
    G_ema: DaubGenerator
    D: SegDiscriminator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    P: PatchDiscriminator | None = None  # with --patch-d
    opt_p: torch.optim.Optimizer | None = None

    def state(self) -> dict[str, torch.nn.Module | torch.optim.Optimizer]:
        """Everything ``ckpt.pt`` holds a state dict of, by its key there (the patch pair only with --patch-d)."""
        core = {"G": self.G, "D": self.D, "G_ema": self.G_ema, "opt_g": self.opt_g, "opt_d": self.opt_d}
        return core | ({"P": self.P, "opt_p": self.opt_p} if self.P is not None else {})


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The weights of a run's losses (``daub train``'s flags of the same names; 0 / False = off).

    The generator pays the OASIS adversarial loss (every pixel of the fake segmented as its own class,
    class-balanced) plus ``spectral`` times :func:`synth.losses.spectral_loss` (its frequency axes weighted
    ``spectral_axis``), ``bands`` times :func:`synth.losses.band_loss`, ``diversity`` times
    :func:`synth.losses.diversity_loss` of two draws of one map (on ``diversity_pool`` block means; with
    ``diversity_per_class``, per class region), ``patch`` times the patch discriminator's hinge loss
    (:func:`synth.losses.patch_g_loss`) and ``texture`` times :func:`synth.texture.texture_loss` (each region
    against the nearest real region of its class) or, with draws to choose from (``--imle``), times
    :func:`synth.texture.paired_distances` to its photo (the regions' mean colours weighted ``imle_colour``),
    and ``grain`` times :func:`synth.losses.grain_loss` (which way each class's fine grain runs, against the
    photos of the same maps). The discriminator pays its real and fake terms (the fake one class-balanced
    with ``balance_fake``) and ``labelmix`` times the LabelMix consistency loss. With ``diffaug`` > 0 every
    image the segmenting discriminator sees, in both updates, first goes through :mod:`synth.diffaug`'s
    random colour change and shift, each applied with that probability (real and fake of one map alike).
    """

    labelmix: float = 10.0
    spectral: float = 0.0
    spectral_axis: float = 1.0
    bands: float = 0.0
    diversity: float = 0.0
    diversity_pool: int = 1
    diversity_per_class: bool = False
    balance_fake: bool = False
    patch: float = 0.0
    texture: float = 0.0
    imle_colour: float = 0.0
    grain: float = 0.0
    diffaug: float = 0.0

    @classmethod
    def of(cls, args: argparse.Namespace) -> Recipe:
        """The recipe of ``daub train``'s parsed flags."""
        return cls(
            labelmix=args.labelmix,
            spectral=args.spectral,
            spectral_axis=args.spectral_axis,
            bands=args.spectral_bands,
            diversity=args.diversity,
            diversity_pool=args.diversity_pool,
            diversity_per_class=args.diversity_per_class,
            balance_fake=args.balance_fake,
            patch=args.patch_d,
            texture=args.texture,
            imle_colour=args.imle_colour,
            grain=args.grain,
            diffaug=args.diffaug,
        )


@dataclasses.dataclass
class Batch:
    """What one step trains on: photos and their one-hot maps (channels_last) and the noise to render them."""

    real: torch.Tensor  # [B, 3, H, W] in [-1, 1]
    seg: torch.Tensor  # [B, C, H, W] one-hot
    z: torch.Tensor  # 3D noise of the generator's draw (its pixel noise fresh)
    z2: torch.Tensor | None = None  # a second draw of the same maps (Recipe.diversity)
    draws: list[Draw] = dataclasses.field(default_factory=list)  # candidates of conditional IMLE (--imle K)
    real_power: torch.Tensor | None = None  # running mean of the photos' pooled spectra (Recipe.spectral)
    real_bands: torch.Tensor | None = None  # running mean of their band powers (Recipe.bands)


class Losses(NamedTuple):
    """One step's losses (0 where a loss is off), as ``log.jsonl`` names them."""

    g: torch.Tensor
    d_fake: torch.Tensor
    d_real: torch.Tensor
    labelmix: torch.Tensor
    spectral: torch.Tensor
    diversity: torch.Tensor
    bands: torch.Tensor
    patch_g: torch.Tensor
    patch_d: torch.Tensor
    texture: torch.Tensor
    grain: torch.Tensor


def train_step(
    m: Models,
    b: Batch,
    recipe: Recipe,
    num_classes: int,
    amp: dict,
    gen: torch.Generator,
    bank: TextureBank | None = None,
    train_g: bool = True,
) -> Losses:
    """One generator then one discriminator update of ``m`` on ``b`` as ``recipe`` weighs the losses.

    ``bank``: the training photos' region textures (needed by ``recipe.texture``; without it that loss is off).
    ``amp``: the ``torch.autocast`` arguments. ``gen``: draws the LabelMix masks. With ``train_g`` False the
    generator is not updated (a discriminator warm-up): its adversarial loss is only measured and the other
    generator losses are not computed. The patch discriminator, when ``m`` has one, is updated every step.
    """
    zero = torch.zeros(())
    if train_g:
        fake, g = _update_generator(m, b, recipe, num_classes, amp, bank, gen)
    else:
        with torch.no_grad(), torch.autocast(**amp):
            fake = m.G(b.seg, b.z)
            g = {"g": d_real_loss(m.D(fake), b.seg, num_classes)}
    d = _update_discriminators(m, b.real, b.seg, fake.detach(), recipe, num_classes, amp, gen)
    return Losses(**{name: g.get(name, d.get(name, zero)) for name in Losses._fields})


def _update_generator(
    m: Models,
    b: Batch,
    recipe: Recipe,
    num_classes: int,
    amp: dict,
    bank: TextureBank | None,
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The generator's update: its fake and its losses by :class:`Losses` name."""
    m.D.requires_grad_(False)
    if m.P is not None:
        m.P.requires_grad_(False)
    r, seg, z, noise = recipe, b.seg, b.z, None
    texture = r.texture if bank is not None else 0.0
    if b.draws and texture:
        z, noise = nearest_draw(m.G, b.real, seg, num_classes, bank, b.draws, amp, r.imle_colour)
    losses = {}
    with torch.autocast(**amp):
        fake = m.G(seg, z, noise)
        seen, seen_seg = _augmented(fake, seg, recipe.diffaug, gen)
        losses["g"] = d_real_loss(m.D(seen), seen_seg, num_classes)
        if r.diversity:
            per_class = seg[:, :num_classes] if r.diversity_per_class else None
            losses["diversity"] = diversity_loss(fake, m.G(seg, b.z2), pool=r.diversity_pool, seg=per_class)
        if m.P is not None and r.patch:
            p_fake = m.P(fake, seg)
            losses["patch_g"] = patch_g_loss(p_fake, patch_weights(seg, num_classes, p_fake))
        if texture:
            losses["texture"] = (
                paired_distances(fake, b.real, seg, num_classes, bank, colour=r.imle_colour).mean()
                if b.draws
                else texture_loss(fake, seg, num_classes, bank)
            )
    if r.spectral:
        losses["spectral"] = spectral_loss(fake, b.real_power, axis=r.spectral_axis)
    if r.bands:
        losses["bands"] = band_loss(fake, b.real_bands)
    if r.grain:
        losses["grain"] = grain_loss(fake, b.real, seg[:, :num_classes])
    weights = {
        "spectral": r.spectral,
        "diversity": r.diversity,
        "bands": r.bands,
        "patch_g": r.patch,
        "texture": texture,
        "grain": r.grain,
    }
    total = losses["g"] + sum(weights[k] * v for k, v in losses.items() if k != "g")
    m.opt_g.zero_grad(set_to_none=True)
    total.backward()
    m.opt_g.step()
    return fake, losses


def _update_discriminators(
    m: Models,
    real: torch.Tensor,
    seg: torch.Tensor,
    fake: torch.Tensor,
    recipe: Recipe,
    num_classes: int,
    amp: dict,
    gen: torch.Generator,
) -> dict[str, torch.Tensor]:
    """The segmenting discriminator's update (real pixels -> their class, fake pixels -> "fake", LabelMix
    consistency), then the patch discriminator's (real patches -> 1, fake -> -1, given the map); their losses
    by :class:`Losses` name."""
    m.D.requires_grad_(True)
    patch_real, patch_fake, patch_seg = real, fake, seg  # the patch discriminator sees them as they are
    if recipe.diffaug:
        aug = diffaug.draw(len(real), tuple(real.shape[-2:]), recipe.diffaug, gen)
        real, seg = diffaug.apply(aug, real, seg)
        fake, _ = diffaug.apply(aug, fake)
    with torch.autocast(**amp):
        d_fake, d_real = m.D(fake), m.D(real)
        loss_fake = d_fake_loss(d_fake, seg, num_classes) if recipe.balance_fake else d_fake_loss(d_fake)
        loss_real = d_real_loss(d_real, seg, num_classes)
        mask = labelmix_mask(seg, gen)
        loss_lm = labelmix_loss(m.D(mask * real + (1 - mask) * fake), d_real, d_fake, mask)
        loss_d = loss_fake + loss_real + recipe.labelmix * loss_lm
    m.opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    m.opt_d.step()
    losses = {"d_fake": loss_fake, "d_real": loss_real, "labelmix": loss_lm}
    if m.P is not None:
        m.P.requires_grad_(True)
        with torch.autocast(**amp):
            p_real, p_fake = m.P(patch_real, patch_seg), m.P(patch_fake, patch_seg)
            losses["patch_d"] = patch_d_loss(p_real, p_fake, patch_weights(patch_seg, num_classes, p_real))
        m.opt_p.zero_grad(set_to_none=True)
        losses["patch_d"].backward()
        m.opt_p.step()
    return losses


def _augmented(
    fake: torch.Tensor, seg: torch.Tensor, p: float, gen: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fakes and their maps as the segmenting discriminator sees them (:mod:`synth.diffaug` with
    probability ``p``; unchanged at 0)."""
    if not p:
        return fake, seg
    return diffaug.apply(diffaug.draw(len(fake), tuple(fake.shape[-2:]), p, gen), fake, seg)


def nearest_draw(
    G: DaubGenerator,
    real: torch.Tensor,
    seg: torch.Tensor,
    num_classes: int,
    bank: TextureBank,
    draws: list[Draw],
    amp: dict,
    colour: float = 0.0,
) -> Draw:
    """Per image, the ``(z, pixel noise)`` of ``draws`` whose render is nearest to its photo
    (:func:`synth.texture.paired_distances`, mean colours weighted ``colour``; conditional IMLE's search,
    without gradients)."""
    with torch.no_grad(), torch.autocast(**amp):
        dist = torch.stack(
            [paired_distances(G(seg, z, n), real, seg, num_classes, bank, colour=colour) for z, n in draws]
        )
    best = dist.argmin(0).to(draws[0][0].device)  # [B]
    pick = torch.arange(len(best), device=best.device)
    z = torch.stack([z for z, _ in draws])[best, pick]
    noise = [torch.stack([n[i] for _, n in draws]).to(best.device)[best, pick] for i in range(len(draws[0][1]))]
    return z, noise


def running_power(mean: torch.Tensor | None, real: torch.Tensor, rate: float = 0.02, summary=None) -> torch.Tensor:
    """Running mean of the real photos' spectrum ``summary`` (default :func:`synth.losses.pooled_power`),
    restarted when the training size changes."""
    power = (summary or pooled_power)(real).detach()
    return power if mean is None or mean.shape != power.shape else torch.lerp(mean, power, rate)


def update_ema(m: Models, ema: float, step: int, warm: bool = False) -> None:
    """Move the EMA weights towards the generator's (a shorter memory over the first steps, unless ``warm``:
    the EMA already holds a trained generator, which a short memory would trade for the raw one's drift)."""
    with torch.no_grad():
        decay = ema if warm else min(ema, (1 + step) / (10 + step))
        torch._foreach_lerp_(list(m.G_ema.parameters()), list(m.G.parameters()), 1 - decay)
