"""``daub train``: train an embedded generator (:mod:`synth.generators.embedded`) or a segmenter.

Recipe v2 (OASIS, Sushko et al. ICLR 2021, sized small): a SPADE generator fed 3D noise (a noise map
concatenated to the one-hot map at every SPADE layer; one code per image, or one per class in
``--region-noise`` of the batches, so regions can be re-drawn) and per-pixel noise maps (StyleGAN-style,
so seeds change textures and nothing extrudes region edges into streaks) against a
U-Net *segmentation* discriminator (:mod:`synth.discriminator`: N + 1 classes per pixel, class-balanced
cross-entropy, LabelMix) - adversarial supervision only, no reconstruction or perceptual loss. EMA of
the generator weights. Half resolution first, then full. One code path for CPU and GPU:
``--device cuda`` holds the whole dataset on the GPU as uint8, augments there, and trains in bf16
autocast with channels_last like the CPU does. One step (the losses and their weights) is in
:mod:`synth.train_step`; this module reads the flags, the data and the checkpoints and runs the loop.

Outputs in ``--out``: ``<palette>.safetensors`` (EMA generator, fp16, what ships), ``resume-G`` and
``resume-D.safetensors`` (fp16, each < 16 MiB; the EMA file + ``resume-D`` are all ``--resume`` needs
to continue on another machine, the EMA then standing in for a missing ``resume-G``), ``ckpt.pt`` (full precision + optimiser state; preferred by ``--resume`` when
present), ``log.jsonl`` and ``samples/``.

    daub train --dataset ../shared/datasets/stanford_background --palette landscape --out runs/landscape
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from palettes import Palette
from palettes import load as load_palette
from synth.commands import parse_size
from synth.data import BASE_SIZES, augment, load_split, repeat_factors, to_model_size
from synth.discriminator import PatchDiscriminator, SegDiscriminator
from synth.generators.base import to_pil
from synth.generators.embedded import DaubConfig, DaubGenerator, load_weights, save_weights, seed_inputs
from synth.labels import one_hot
from synth.losses import band_power
from synth.tagged import load_tensors, read_tagged, write_tagged
from synth.texture import RandomTextureFeatures, TextureBank
from synth.train_step import Batch, Losses, Models, Recipe, running_power, train_step, update_ema

RESUME_FORMAT = "daub-resume-v1"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="daub train", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="dataset folder (classes.json, train/, val/)")
    p.add_argument("--palette", required=True, choices=["landscape", "facades"], help="palette of the labels")
    p.add_argument("--out", required=True, help="run folder (weights, resume files, log.jsonl, samples/)")
    p.add_argument("--size", default=None, help="final training size WxH (default 256x192 landscape, 256x256 facades)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda when available)")
    p.add_argument("--steps", type=int, default=20000, help="total steps (default 20000)")
    p.add_argument("--minutes", type=float, default=0, help="stop after this many minutes in all (0 = no limit)")
    p.add_argument("--lowres-steps", type=int, default=4000, help="steps at half resolution first (default 4000)")
    p.add_argument(
        "--lowres-fraction",
        type=float,
        default=0.3,
        help="with --minutes: switch to full resolution after this fraction of the time at the latest",
    )
    p.add_argument("--batch", type=int, default=8, help="batch size at half resolution")
    p.add_argument("--batch-full", type=int, default=4, help="batch size at full resolution")
    p.add_argument(
        "--repeat-factor",
        type=_not_negative,
        default=0.0,
        help="draw images with rare classes more often: LVIS repeat-factor sampling on pixel shares with this "
        "threshold (e.g. 0.1; 0 = uniform)",
    )
    p.add_argument("--lr-g", type=float, default=1e-4, help="generator learning rate (OASIS: 1e-4)")
    p.add_argument("--lr-d", type=float, default=4e-4, help="discriminator learning rate (OASIS: 4e-4)")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the generator weights")
    p.add_argument("--labelmix", type=float, default=10.0, help="weight of the LabelMix loss (OASIS: 10)")
    p.add_argument(
        "--spectral",
        type=float,
        default=0.0,
        help="weight of the spectral loss: the fakes' log power spectrum (2D and its two axes) against the reals' (0 = off)",
    )
    p.add_argument(
        "--spectral-axis",
        type=float,
        default=1.0,
        help="weight of the spectral loss's two frequency axes (straight edges) against its 2D grid (default 1)",
    )
    p.add_argument(
        "--spectral-bands",
        type=float,
        default=0.0,
        help="weight of the band spectral loss: the fakes' power per half-octave band, on either axis and off "
        "them, against the reals' (steadier than single bins; 0 = off)",
    )
    p.add_argument(
        "--diversity",
        type=float,
        default=0.0,
        help="weight of the diversity loss: a second noise draw per map must differ (DSGAN-style; 0 = off)",
    )
    p.add_argument(
        "--diversity-pool",
        type=_at_least_one,
        default=1,
        metavar="N",
        help="measure that difference on N×N block means, so fine grain does not count (default 1: pixels)",
    )
    p.add_argument(
        "--diversity-per-class",
        action="store_true",
        help="take the diversity hinge per class region, not per image, so small (rare) regions must change too",
    )
    p.add_argument(
        "--balance-fake",
        action="store_true",
        help="class-balance the discriminator's fake term as its real term (OASIS weighs fake pixels alike, so "
        "a rare class's fakes hardly count)",
    )
    p.add_argument(
        "--patch-d",
        type=_not_negative,
        default=0.0,
        metavar="W",
        help="also train a label-conditioned patch discriminator (pix2pix-style, class-balanced patches) beside the "
        "segmenting one, and add W times its loss to the generator's (0 = off, OASIS alone)",
    )
    p.add_argument(
        "--texture",
        type=_not_negative,
        default=0.0,
        metavar="W",
        help="add W times the texture loss: each generated class region's random-filter feature covariances "
        "against the nearest real region's of that class (synth.texture; 0 = off)",
    )
    p.add_argument(
        "--grain",
        type=_not_negative,
        default=0.0,
        metavar="W",
        help="add W times the grain loss: which way each class's fine grain runs (horizontal ripples, vertical "
        "streaks, neither) in the fakes against the photos of the same maps (synth.losses.grain_loss; 0 = off)",
    )
    p.add_argument(
        "--diffaug",
        type=_probability,
        default=0.0,
        metavar="P",
        help="differentiable augmentation for the segmenting discriminator: each image it sees, real or fake, "
        "gets a random brightness, saturation, contrast change and shift, each with probability P, so it cannot "
        "memorise the training photos (synth.diffaug; 0 = off)",
    )
    p.add_argument(
        "--imle",
        type=_at_least_one,
        default=0,
        metavar="K",
        help="with --texture: draw K noise samples per map, train on the one whose textures are nearest to its "
        "photo's and pull that one towards the photo (conditional IMLE) instead of towards the nearest bank "
        "region (off by default)",
    )
    p.add_argument(
        "--imle-colour",
        type=float,
        default=0.0,
        metavar="W",
        help="with --imle: the distance to the photo also counts W times each region's mean-colour gap, so the "
        "seeds must reach the photos' colours too (0 = textures only)",
    )
    p.add_argument(
        "--patch-d-channels", default="64,128,256", help="patch discriminator widths per level (with --patch-d)"
    )
    p.add_argument("--region-noise", type=float, default=0.3, help="share of images with one noise code per class")
    p.add_argument("--z-dim", type=int, default=32, help="noise channels (new runs)")
    p.add_argument("--head", type=int, default=32, help="width of the full-resolution stage (new runs)")
    p.add_argument("--head-layers", type=int, default=2, help="full-resolution convolutions (new runs)")
    p.add_argument(
        "--no-pixel-noise",
        action="store_true",
        help="new runs: no per-pixel noise maps in the generator (the style code only)",
    )
    p.add_argument(
        "--padding",
        default="reflect",
        choices=["reflect", "zeros"],
        help="generator convolution padding (new runs; zeros lets it draw stripes from the borders)",
    )
    p.add_argument("--d-channels", default="32,64,128,256,256", help="discriminator widths per level")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="profile N steps (after 5 warm-up steps) with torch.profiler into OUT/profile.txt, then go on",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    p.add_argument("--ckpt-every", type=int, default=250, help="checkpoint every N steps")
    p.add_argument("--sample-every", type=int, default=500, help="sample sheet every N steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT (ckpt.pt, else the fp16 resume files)")
    p.add_argument("--reset-ema", action="store_true", help="on --resume, restart the EMA from the current weights")
    p.add_argument(
        "--init-weights",
        default=None,
        metavar="PATH",
        help="new run: start the generator (and its EMA) from these v2 generator weights, e.g. a shipped file; "
        "the discriminator starts afresh (see --d-warmup); its architecture flags are ignored",
    )
    p.add_argument(
        "--d-warmup",
        type=int,
        default=0,
        metavar="N",
        help="train the discriminator alone (the generator and its EMA frozen) until step N (default 0)",
    )
    p.add_argument("--no-bf16", action="store_true", help="train in fp32 (default: bf16 autocast)")
    p.add_argument(
        "--segmenter",
        action="store_true",
        help="train the photo -> label segmenter instead (seg-<palette>.safetensors in OUT)",
    )
    p.add_argument("--seg-channels", default="16,32,64,96", help="segmenter U-Net widths (with --segmenter)")
    p.add_argument("--seg-size", default=None, help="segmenter input size WxH (with --segmenter)")
    p.add_argument(
        "--seg-context", action="store_true", help="segmenter: add a global-pooling context branch (with --segmenter)"
    )
    p.add_argument(
        "--seg-balance",
        type=float,
        default=0.0,
        help="segmenter: weight each class's loss by pixel share ** -X (0 = plain cross-entropy; with --segmenter)",
    )
    return p


def pick_train_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA GPU is visible to torch")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu, cuda or auto, got {name!r}")
    return dev


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number >= 1 (argparse turns the error into one line and exit 2)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return n


def _number(text: str) -> float:
    """``text`` as a float, NaN when it is not a number (so every range check below refuses it)."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _probability(text: str) -> float:
    """An argparse type: a number in [0, 1] (argparse turns the error into one line and exit 2)."""
    x = _number(text)
    if not 0.0 <= x <= 1.0:  # also NaN
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}")
    return x


def _not_negative(text: str) -> float:
    """An argparse type: a number >= 0 (argparse turns the error into one line and exit 2)."""
    x = _number(text)
    if not x >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return x


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.segmenter:
        from synth.segmenters.training import train_segmenter

        steps = args.steps if args.steps != 20000 else 2000
        path = train_segmenter(
            args.dataset,
            args.palette,
            args.out,
            steps=steps,
            batch=args.batch,
            threads=args.threads,
            seed=args.seed,
            device=pick_train_device(args.device),
            channels=tuple(int(c) for c in args.seg_channels.split(",")),
            size=parse_size(args.seg_size) if args.seg_size else None,
            minutes=args.minutes,
            context=args.seg_context,
            balance=args.seg_balance,
        )
        print(f"segmenter weights: {path}")
        return 0
    return train(args)


def noise_map(seg: torch.Tensor, z_dim: int, region_share: float, gen: torch.Generator) -> torch.Tensor:
    """3D noise ``[B, z_dim, H, W]``: one code per image, or one per class for ``region_share`` of them."""
    B, C = seg.shape[:2]
    per_image = torch.randn(B, 1, z_dim, generator=gen).expand(B, C, z_dim)
    per_class = torch.randn(B, C, z_dim, generator=gen)
    pick = (torch.rand(B, generator=gen) < region_share)[:, None, None]
    codes = torch.where(pick, per_class, per_image).to(seg.device)
    return torch.einsum("bchw,bcz->bzhw", seg, codes)


def _save_fp16(module: torch.nn.Module, path: Path, meta: dict) -> None:
    write_tagged(path, module.state_dict(), RESUME_FORMAT, {k: json.dumps(v) for k, v in meta.items()})


def _load_fp16(module: torch.nn.Module, path: Path) -> dict:
    meta, sd = read_tagged(path, RESUME_FORMAT, "a Daub resume file")  # floats come back fp32
    module.load_state_dict(sd)
    return {k: json.loads(v) for k, v in meta.items() if k != "format"}


def _start_profiler(dev: torch.device) -> Any:
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    prof = profile(activities=acts)
    prof.start()
    return prof


def _write_profile(prof: Any, path: Path, steps: int, dev: torch.device) -> None:
    """Stop the profiler and write its table; a profiler problem never stops the training."""
    try:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        prof.stop()
        key = "self_device_time_total" if dev.type == "cuda" else "self_cpu_time_total"
        table = prof.key_averages().table(sort_by=key, row_limit=40)
        path.write_text(f"{steps} steps on {dev}\n{table}\n")
    except Exception as e:  # noqa: BLE001 - diagnostics only
        path.write_text(f"profile failed: {e!r}\n")


@dataclasses.dataclass
class _Paths:
    """The files of a run folder."""

    out: Path
    ema: Path  # <palette>.safetensors: the EMA generator, what ships
    ckpt: Path  # ckpt.pt: full precision + optimiser state
    g: Path  # resume-G.safetensors
    d: Path  # resume-D.safetensors
    p: Path  # resume-P.safetensors: the patch discriminator (--patch-d)

    @classmethod
    def of(cls, out: Path, palette: str) -> _Paths:
        return cls(
            out,
            out / f"{palette}.safetensors",
            out / "ckpt.pt",
            out / "resume-G.safetensors",
            out / "resume-D.safetensors",
            out / "resume-P.safetensors",
        )

    def sample(self, step: int) -> Path:
        """The sample sheet of ``step``."""
        return self.out / "samples" / f"step_{step:06d}.png"


class _Clock:
    """Training minutes so far, those of the runs resumed from included."""

    def __init__(self, elapsed: float):
        self.elapsed, self.t0 = elapsed, time.time()

    def minutes(self) -> float:
        return (self.elapsed + time.time() - self.t0) / 60


def _config(
    args: argparse.Namespace,
    palette: Palette,
    size: tuple[int, int],
    paths: _Paths,
    from_files: bool,
    init: DaubGenerator | None = None,
) -> DaubConfig:
    """The generator architecture: the resumed run's or ``init``'s (at ``size``), else the flags'."""
    if args.resume:
        missing = [p.name for p in (paths.ema, paths.d) if not p.is_file() and (from_files or p == paths.ema)]
        if missing:
            raise FileNotFoundError(f"--resume: no checkpoint in {paths.out} (missing {', '.join(missing)})")
        # the architecture the run started with (architecture flags of this call are ignored)
        return dataclasses.replace(load_weights(paths.ema).config, default_size=size)
    if init is not None:
        return dataclasses.replace(init.config, default_size=size)
    return DaubConfig(
        palette=palette.name,
        label_nc=palette.num_classes + (1 if palette.dontcare is not None else 0),
        default_size=size,
        z_dim=args.z_dim,
        noise_3d=True,
        upsample="bilinear",
        head=args.head,
        head_layers=args.head_layers,
        pixel_noise=not args.no_pixel_noise,
        padding=args.padding,
    )


def _texture_bank(
    photos: torch.Tensor, labels: torch.Tensor, palette: Palette, size: tuple[int, int], dev: torch.device
) -> TextureBank:
    """The :class:`synth.texture.TextureBank` of the training photos at ``size`` (built on the CPU, once
    per run: ~15 s for 572 landscape photos), on ``dev``."""
    t0 = time.time()
    real, ids = to_model_size(photos.cpu(), labels.cpu(), size)
    bank = TextureBank.build(RandomTextureFeatures(), real, ids, palette.num_classes).to(dev)
    counts = ", ".join(f"{palette.names[k]} {len(v[0])}" for k, v in sorted(bank.covs.items()))
    print(f"texture bank: {counts} regions ({time.time() - t0:.0f} s)")
    return bank


def _init_generator(path: str, palette: Palette) -> DaubGenerator:
    """The generator of ``--init-weights``: a v2 (3D-noise) generator of ``palette``, else a clear error."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"--init-weights: no such file {path}")
    g = load_weights(path)
    if g.config.palette != palette.name:
        raise ValueError(f"--init-weights: {path} is a {g.config.palette} generator, not {palette.name}")
    if not g.config.noise_3d:
        raise ValueError(f"--init-weights: {path} is a v1 generator (no 3D noise); daub train trains v2 only")
    return g


def _build_models(cfg: DaubConfig, num_classes: int, args: argparse.Namespace, dev: torch.device) -> Models:
    """Fresh models on ``dev`` (channels_last; the EMA a copy of the generator) and their Adam optimisers."""
    G, G_ema = DaubGenerator(cfg), DaubGenerator(cfg).eval()
    D = SegDiscriminator(num_classes, tuple(int(c) for c in args.d_channels.split(",")))
    G_ema.load_state_dict(G.state_dict())
    for m in (G, D, G_ema):
        m.to(dev, memory_format=torch.channels_last)
    G_ema.requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr_g, betas=(0.0, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr_d, betas=(0.0, 0.999))
    P = opt_p = None
    if args.patch_d:
        P = PatchDiscriminator(cfg.label_nc, tuple(int(c) for c in args.patch_d_channels.split(",")))
        P.to(dev, memory_format=torch.channels_last)
        opt_p = torch.optim.Adam(P.parameters(), lr=args.lr_d, betas=(0.0, 0.999))
    return Models(G, G_ema, D, opt_g, opt_d, P, opt_p)


def _resume(m: Models, paths: _Paths, dev: torch.device, from_files: bool, reset_ema: bool) -> tuple[int, float]:
    """Load ``ckpt.pt``, or with ``from_files`` the fp16 resume files, into ``m``; the step and elapsed seconds."""
    if not from_files:
        ck = load_tensors(paths.ckpt, "training checkpoint", map_location=dev)  # tensors only, never code
        optional = ("P", "opt_p")  # a run may add --patch-d on resume: its patch discriminator starts afresh
        missing = [k for k in (*m.state(), "step") if k not in optional and (not isinstance(ck, dict) or k not in ck)]
        if missing:
            raise ValueError(f"{paths.ckpt} is not a daub training checkpoint (missing {', '.join(missing[:4])})")
        for k, obj in m.state().items():
            if k in ck:
                obj.load_state_dict(ck[k])
        step, elapsed = int(ck["step"]), float(ck.get("elapsed", 0.0))
    else:  # fp16 weights only: Adam restarts (beta1 = 0, so only its 2nd moment is rebuilt)
        m.G_ema.load_state_dict(load_weights(paths.ema).state_dict())
        if paths.g.is_file():
            _load_fp16(m.G, paths.g)
        else:  # the EMA weights stand in for the raw generator (what a GPU job brings back)
            m.G.load_state_dict(m.G_ema.state_dict())
        meta = _load_fp16(m.D, paths.d)
        if m.P is not None and paths.p.is_file():
            _load_fp16(m.P, paths.p)
        step, elapsed = int(meta["step"]), float(meta.get("elapsed", 0.0))
    if reset_ema:
        m.G_ema.load_state_dict(m.G.state_dict())
    print(f"resumed at step {step} ({'ckpt.pt' if not from_files else 'fp16 resume files'})")
    return step, elapsed


def _started_warm(paths: _Paths) -> bool:
    """Whether the run in ``paths`` began from a trained generator (``--init-weights``), read from its EMA file."""
    info = json.loads(
        read_tagged(paths.ema, "daub-generator-v1", "a Daub generator", tensors=False)[0].get("info") or "{}"
    )
    return bool(info.get("warm_ema") or info.get("recipe", {}).get("init_weights"))


def _save(
    m: Models,
    paths: _Paths,
    step: int,
    clock: _Clock,
    dev: torch.device,
    args: argparse.Namespace,
    warm: bool = False,
) -> None:
    """Write ``ckpt.pt`` (atomically), the EMA weights and the fp16 resume files; ``warm``: the run began from a
    trained generator (kept in the EMA file's info so that a resumed run knows)."""
    info = {"steps": step, "minutes": round(clock.minutes(), 1), "device": str(dev), "recipe": vars(args)}
    info["warm_ema"] = warm
    ck = {k: obj.state_dict() for k, obj in m.state().items()}
    torch.save({**ck, "step": step, "elapsed": clock.minutes() * 60, "config": vars(args)}, paths.out / "ckpt.tmp")
    (paths.out / "ckpt.tmp").replace(paths.ckpt)
    save_weights(m.G_ema, paths.ema, info=info)
    meta = {"step": step, "elapsed": clock.minutes() * 60}
    _save_fp16(m.G, paths.g, meta)
    _save_fp16(m.D, paths.d, meta)
    if m.P is not None:
        _save_fp16(m.P, paths.p, meta)


def _sample(
    G_ema: DaubGenerator,
    val: tuple[torch.Tensor, torch.Tensor],
    size: tuple[int, int],
    palette: Palette,
    dev: torch.device,
    amp: dict,
    path: Path,
) -> None:
    """Contact sheet of the validation ``(photos, labels)`` and three seeds of ``G_ema`` into ``path``."""
    vp, vl = to_model_size(*val, size)
    seg = one_hot(vl, palette).to(dev).contiguous(memory_format=torch.channels_last)
    fakes = []
    for k in range(3):  # seeds 0, 1, 2 exactly as synth.load(...)(ids, seed=k) draws them
        z, noise = seed_inputs(G_ema, k, size[1], size[0])
        noise = [m.expand(len(vl), -1, -1, -1).to(dev) for m in noise]
        with torch.inference_mode(), torch.autocast(**amp):
            fakes.append(to_pil(G_ema(seg, z.to(dev).expand(len(vl), -1), noise).float().cpu()))
    from synth.evaluate import contact_sheet

    rows = [(vl[i].numpy().astype(palette.dtype), vp[i], [f[i] for f in fakes]) for i in range(len(vl))]
    contact_sheet(rows, palette).save(path)


def _profile_tick(profiler: Any, done: int, steps: int, dev: torch.device, path: Path) -> Any:
    """Start the profiler after 5 warm-up steps (``done`` this call) and write it ``steps`` later; the profiler."""
    if steps and done == 5:
        try:
            profiler = _start_profiler(dev)
        except Exception as e:  # noqa: BLE001 - diagnostics only, never stop the training
            path.write_text(f"profiler did not start: {e!r}\n")
    if profiler is not None and done == 5 + steps:
        _write_profile(profiler, path, steps, dev)
        profiler = None
    return profiler


def _batch(
    photos: torch.Tensor,
    labels: torch.Tensor,
    palette: Palette,
    size: tuple[int, int],
    n: int,
    gen: torch.Generator,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random augmented training pairs at ``size``: the photos and the one-hot labels, channels_last.

    ``weights`` (CPU, one per image, e.g. :func:`synth.data.repeat_factors`) draw with replacement in
    proportion to them; ``None`` draws uniformly."""
    dev = photos.device
    if weights is None:
        idx = torch.randint(0, len(photos), (n,), generator=gen)
    else:
        idx = torch.multinomial(weights, n, replacement=True, generator=gen)
    real, lab = augment(photos[idx.to(dev)], labels[idx.to(dev)], size, gen)
    seg = one_hot(lab, palette).contiguous(memory_format=torch.channels_last)
    return real.contiguous(memory_format=torch.channels_last), seg


def _log_record(
    step: int,
    size: tuple[int, int],
    losses: Losses,
    minutes: float,
    images: int,
    since: tuple[int, float],
) -> dict:
    """One ``log.jsonl`` line; the speed counts ``images`` per step since ``since`` = ``(step, time)``."""
    return {
        "step": step,
        "res": f"{size[0]}x{size[1]}",
        **{name: round(float(loss.detach()), 4) for name, loss in losses._asdict().items()},
        "min": round(minutes, 2),
        "img_per_s": round(images * (step - since[0]) / (time.time() - since[1]), 1),
    }


def train(args: argparse.Namespace) -> int:
    """Train the embedded generator as ``args`` (of :func:`build_parser`) say."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.init_weights and args.resume:
        raise ValueError("--init-weights starts a new run; --resume continues one: give one of them")
    if args.imle and not args.texture:
        raise ValueError("--imle: conditional IMLE pulls by the texture loss; give --texture W too")
    if args.imle_colour and not args.imle:
        raise ValueError("--imle-colour: weighs a term of conditional IMLE's distance; give --imle K too")
    if args.imle_colour < 0:
        raise ValueError(f"--imle-colour: must be >= 0, got {args.imle_colour}")
    dev = pick_train_device(args.device)
    torch.backends.cudnn.benchmark = True  # two input sizes per run: autotune the convolutions once
    palette = load_palette(args.palette)
    size = parse_size(args.size) if args.size else (256, 192) if args.palette == "landscape" else (256, 256)
    paths = _Paths.of(Path(args.out), palette.name)
    photos, labels, _ = load_split(args.dataset, "train", BASE_SIZES[args.palette])
    photos, labels = photos.to(dev), labels.to(dev)  # the whole split on the device, as uint8
    weights = repeat_factors(labels.cpu(), palette.num_classes, args.repeat_factor) if args.repeat_factor else None
    val = load_split(args.dataset, "val", BASE_SIZES[args.palette], limit=4)[:2]
    from_files = args.resume and not paths.ckpt.is_file()
    init = _init_generator(args.init_weights, palette) if args.init_weights else None  # read once
    cfg = _config(args, palette, size, paths, from_files, init)
    m = _build_models(cfg, palette.num_classes, args, dev)
    step, elapsed = _resume(m, paths, dev, from_files, args.reset_ema) if args.resume else (0, 0.0)
    warm = init is not None or (args.resume and not args.reset_ema and _started_warm(paths))
    if init is not None:
        for g in (m.G, m.G_ema):
            g.load_state_dict(init.state_dict())
        print(f"generator from {args.init_weights}; discriminator afresh")
    bank = _texture_bank(photos, labels, palette, size, dev) if args.texture else None
    (paths.out / "samples").mkdir(parents=True, exist_ok=True)  # only once the inputs (and resume files) check out
    gen = torch.Generator().manual_seed(args.seed + step)
    amp = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=not args.no_bf16)
    recipe = Recipe.of(args)
    log = open(paths.out / "log.jsonl", "a")
    clock = _Clock(elapsed)
    from tqdm import tqdm

    profiler, first_step, last_log, real_power, real_bands = None, step, (step, time.time()), None, None
    bar = tqdm(total=args.steps, initial=step, desc=f"train {palette.name}", dynamic_ncols=True, mininterval=10)
    while step < args.steps and not (args.minutes and clock.minutes() > args.minutes):
        profiler = _profile_tick(profiler, step - first_step, args.profile, dev, paths.out / "profile.txt")
        full = step >= args.lowres_steps or (args.minutes and clock.minutes() > args.lowres_fraction * args.minutes)
        cur = size if full else (size[0] // 2, size[1] // 2)
        real, seg = _batch(photos, labels, palette, cur, args.batch_full if full else args.batch, gen, weights)
        if recipe.spectral:
            real_power = running_power(real_power, real)
        if recipe.bands:
            real_bands = running_power(real_bands, real, summary=band_power)
        batch = Batch(
            real,
            seg,
            z=noise_map(seg, cfg.z_dim, args.region_noise, gen),
            z2=noise_map(seg, cfg.z_dim, args.region_noise, gen) if recipe.diversity else None,
            draws=[
                (noise_map(seg, cfg.z_dim, args.region_noise, gen), m.G.make_noise(len(seg), *seg.shape[-2:], gen))
                for _ in range(args.imle if full and step >= args.d_warmup else 0)
            ],
            real_power=real_power,
            real_bands=real_bands,
        )
        # the texture bank is of full-size photos
        step_recipe = recipe if full else dataclasses.replace(recipe, texture=0.0)
        losses = train_step(m, batch, step_recipe, palette.num_classes, amp, gen, bank, train_g=step >= args.d_warmup)
        if step >= args.d_warmup:
            update_ema(m, args.ema, step, warm)
        step += 1
        bar.update(1)
        if step % 25 == 0 or step == first_step + 1:  # first step too: a broken run shows at once
            rec = _log_record(step, cur, losses, clock.minutes(), len(real), last_log)
            last_log = (step, time.time())
            log.write(json.dumps(rec) + "\n")
            log.flush()
            bar.set_postfix(g=rec["g"], d_real=rec["d_real"], d_fake=rec["d_fake"])
        if step % args.ckpt_every == 0:
            _save(m, paths, step, clock, dev, args, warm)
        if step % args.sample_every == 0:
            _sample(m.G_ema, val, size, palette, dev, amp, paths.sample(step))
    _save(m, paths, step, clock, dev, args, warm)
    _sample(m.G_ema, val, size, palette, dev, amp, paths.sample(step))
    bar.close()
    print(f"done at step {step} ({clock.minutes():.1f} min); weights: {paths.ema}")
    return 0
