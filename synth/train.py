"""``daub train``: train an embedded SPADE-style generator (:mod:`synth.generators.embedded`).

Recipe (SPADE/pix2pixHD-like, sized for a 2-core CPU): generator with a style code z from the prior
(``--encoder`` trains GauGAN's VAE photo encoder instead, KL x0.05) + two-scale PatchGAN discriminator
with spectral norm; hinge loss, discriminator feature matching (x10), multi-scale L1 reconstruction
(x5, stands in for the VGG loss no pretrained network is available for), a mode-seeking hinge on a
second prior sample (MSGAN-style, x10, until images differ by 0.1 per unit of z; the discriminator sees
those samples too) so different seeds give different images, EMA of the generator weights. Half
resolution first (``--lowres-steps`` / ``--lowres-fraction`` of ``--minutes``), then full resolution.
bfloat16 autocast + channels_last on CPU. Checkpoints (``ckpt.pt``, ``--resume``), a JSON-lines log,
sample sheets, and the EMA weights exported as ``<palette>.safetensors`` at every checkpoint.

    daub train --dataset ../shared/datasets/stanford_background --palette landscape --out runs/landscape
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from palettes import load as load_palette
from synth.data import BASE_SIZES, augment, load_split, to_model_size
from synth.evaluate import contact_sheet
from synth.generators.base import to_pil
from synth.generators.embedded import DaubConfig, DaubGenerator, save_weights
from synth.labels import one_hot


class StyleEncoder(nn.Module):
    """Photo -> (mu, logvar) of the style code; used in training only."""

    def __init__(self, z_dim: int, ch: int = 32):
        super().__init__()
        layers, c_in = [], 3
        for c in (ch, ch * 2, ch * 4, ch * 4, ch * 4):
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.InstanceNorm2d(c, affine=True), nn.LeakyReLU(0.2)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.mu = nn.Linear(c_in, z_dim)
        self.logvar = nn.Linear(c_in, z_dim)

    def forward(self, x: torch.Tensor):
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True) if x.shape[-1] > 128 else x
        h = self.body(x).mean((2, 3))
        return self.mu(h), self.logvar(h).clamp(-8, 4)


class PatchD(nn.Module):
    """PatchGAN discriminator on (one-hot, image); returns its intermediate features and logits."""

    def __init__(self, in_ch: int, ndf: int = 32, n_layers: int = 4):
        super().__init__()
        self.layers = nn.ModuleList()
        c_in = in_ch
        for i in range(n_layers):
            c = ndf * min(2**i, 8)
            stride = 2 if i < n_layers - 1 else 1
            self.layers.append(nn.Sequential(spectral_norm(nn.Conv2d(c_in, c, 4, stride, 1)), nn.LeakyReLU(0.2)))
            c_in = c
        self.layers.append(nn.Conv2d(c_in, 1, 4, 1, 1))

    def forward(self, x):
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


class MultiScaleD(nn.Module):
    def __init__(self, in_ch: int, ndf: int = 32, scales: int = 2):
        super().__init__()
        self.ds = nn.ModuleList(PatchD(in_ch, ndf) for _ in range(scales))

    def forward(self, x):
        outs = []
        for k, d in enumerate(self.ds):
            if k:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs


def parse_size(s: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in s.lower().split("x"))
    except Exception:
        raise ValueError(f"size must look like 256x192, got {s!r}") from None
    return w, h


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="daub train", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="dataset folder (classes.json, train/, val/)")
    p.add_argument("--palette", required=True, choices=["landscape", "facades"], help="palette of the labels")
    p.add_argument("--out", required=True, help="run folder: ckpt.pt, log.jsonl, samples/, <palette>.safetensors")
    p.add_argument("--size", default=None, help="final training size WxH (default 256x192 landscape, 256x256 facades)")
    p.add_argument("--steps", type=int, default=20000, help="total steps (default 20000)")
    p.add_argument("--lowres-steps", type=int, default=4000, help="steps at half resolution first (default 4000)")
    p.add_argument("--minutes", type=float, default=0, help="stop after this many minutes (0 = no limit)")
    p.add_argument(
        "--lowres-fraction",
        type=float,
        default=0.55,
        help="with --minutes: switch to full resolution after this fraction of the time at the latest",
    )
    p.add_argument("--batch", type=int, default=8, help="batch size at half resolution")
    p.add_argument("--batch-full", type=int, default=4, help="batch size at full resolution")
    p.add_argument("--lr-g", type=float, default=2e-4)
    p.add_argument("--lr-d", type=float, default=4e-4)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--l1", type=float, default=5.0, help="weight of the multi-scale L1 loss")
    p.add_argument("--fm", type=float, default=10.0, help="weight of discriminator feature matching")
    p.add_argument("--kl", type=float, default=0.05)
    p.add_argument(
        "--ms",
        type=float,
        default=10.0,
        help="weight of the mode-seeking hinge (prior samples must differ; keeps seeds meaningful)",
    )
    p.add_argument(
        "--ms-target",
        type=float,
        default=0.1,
        help="image change per unit of style change the mode-seeking hinge asks for (then stops pushing)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--sample-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    p.add_argument(
        "--segmenter",
        action="store_true",
        help="train the photo -> label segmenter instead (seg-<palette>.safetensors in OUT)",
    )
    p.add_argument(
        "--encoder",
        action="store_true",
        help="VAE mode: style code from a photo encoder (GauGAN); default: prior samples only",
    )
    p.add_argument("--reset-ema", action="store_true", help="on --resume, restart the EMA from the current weights")
    p.add_argument("--no-bf16", action="store_true", help="train in fp32 (default: bf16 autocast on CPU)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.segmenter:
        from synth.segment import train_segmenter

        steps = args.steps if args.steps != 20000 else 2000
        path = train_segmenter(
            args.dataset, args.palette, args.out, steps=steps, batch=args.batch, threads=args.threads, seed=args.seed
        )
        print(f"segmenter weights: {path}")
        return 0
    return train(args)


def _multiscale_l1(fake, real, scales=3):
    loss = 0.0
    for k in range(scales):
        if k:
            fake, real = F.avg_pool2d(fake, 2), F.avg_pool2d(real, 2)
        loss = loss + F.l1_loss(fake, real)
    return loss / scales


def train(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    palette = load_palette(args.palette)
    size = parse_size(args.size) if args.size else (256, 192) if args.palette == "landscape" else (256, 256)
    out = Path(args.out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    photos, labels, _ = load_split(args.dataset, "train", BASE_SIZES[args.palette])
    vphotos, vlabels, _ = load_split(args.dataset, "val", BASE_SIZES[args.palette], limit=4)
    label_nc = palette.num_classes + (1 if palette.dontcare is not None else 0)
    cfg = DaubConfig(palette=palette.name, label_nc=label_nc, default_size=size)
    G, E = DaubGenerator(cfg), StyleEncoder(cfg.z_dim)
    D = MultiScaleD(label_nc + 3)
    G_ema = DaubGenerator(cfg).eval()
    G_ema.load_state_dict(G.state_dict())
    for m in (G, E, D, G_ema):
        m.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(list(G.parameters()) + list(E.parameters()), lr=args.lr_g, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr_d, betas=(0.0, 0.9))
    step, elapsed0 = 0, 0.0
    ckpt_path = out / "ckpt.pt"
    if args.resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
        ck = torch.load(ckpt_path, weights_only=True)
        for m, k in ((G, "G"), (E, "E"), (D, "D"), (G_ema, "G_ema"), (opt_g, "opt_g"), (opt_d, "opt_d")):
            m.load_state_dict(ck[k])
        step, elapsed0 = int(ck["step"]), float(ck.get("elapsed", 0.0))
        if args.reset_ema:
            G_ema.load_state_dict(G.state_dict())
        print(f"resumed at step {step}")
    gen = torch.Generator().manual_seed(args.seed + step)
    use_bf16 = not args.no_bf16
    log = open(out / "log.jsonl", "a")
    t0 = time.time()

    def save(final: bool = False):
        torch.save(
            {
                "G": G.state_dict(),
                "E": E.state_dict(),
                "D": D.state_dict(),
                "G_ema": G_ema.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "step": step,
                "elapsed": elapsed0 + time.time() - t0,
                "config": vars(args),
            },
            out / "ckpt.tmp",
        )
        (out / "ckpt.tmp").replace(ckpt_path)
        info = {"steps": step, "minutes": round((elapsed0 + time.time() - t0) / 60, 1), "recipe": vars(args)}
        save_weights(G_ema, out / f"{palette.name}.safetensors", info=info)

    def sample():
        vp, vl = to_model_size(vphotos, vlabels, size)
        seg = one_hot(vl, palette).contiguous(memory_format=torch.channels_last)
        zs = torch.randn(3, cfg.z_dim, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=use_bf16):
            fakes = [to_pil(G_ema(seg, zs[k].expand(len(vl), -1))) for k in range(3)]
        rows = [(vl[i].numpy().astype(palette.dtype), vp[i], [f[i] for f in fakes]) for i in range(len(vl))]
        contact_sheet(rows, palette).save(out / "samples" / f"step_{step:06d}.png")

    from tqdm import tqdm

    bar = tqdm(total=args.steps, initial=step, desc=f"train {palette.name}", dynamic_ncols=True, mininterval=10)
    while step < args.steps:
        if args.minutes and elapsed0 + time.time() - t0 > args.minutes * 60:
            break
        minutes = (elapsed0 + time.time() - t0) / 60
        full = step >= args.lowres_steps or (args.minutes and minutes > args.lowres_fraction * args.minutes)
        cur = size if full else (size[0] // 2, size[1] // 2)
        idx = torch.randint(0, len(photos), (args.batch_full if full else args.batch,), generator=gen)
        real, lab = augment(photos[idx], labels[idx], cur, gen)
        seg = one_hot(lab, palette).contiguous(memory_format=torch.channels_last)
        real = real.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", torch.bfloat16, enabled=use_bf16):
            # generator + encoder
            if args.encoder:
                mu, logvar = E(real)
                z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
            else:  # z from the prior, as at test time
                z = torch.randn(len(real), cfg.z_dim, generator=gen)
                mu = logvar = torch.zeros_like(z)
            fake = G(seg, z)
            d_fake = D(torch.cat([seg, fake], 1))
            with torch.no_grad():
                d_real = D(torch.cat([seg, real], 1))
            adv = sum(-f[-1].float().mean() for f in d_fake) / len(d_fake)
            ms = torch.zeros(())
            if args.ms > 0:
                # Mode seeking (MSGAN): half the batch again from prior samples z ~ N(0, I), as at test
                # time; they must look real (adversarial term) and differ from the encoded ones.
                half = max(1, len(z) // 2)
                z2 = torch.randn_like(z[:half])
                fake2 = G(seg[:half], z2)
                adv = adv + sum(-f[-1].float().mean() for f in D(torch.cat([seg[:half], fake2], 1))) / len(d_fake) / 2
                ratio = (fake2.float() - fake[:half].float()).abs().mean() / (z2 - z[:half].detach()).abs().mean()
                ms = F.relu(args.ms_target - ratio)  # bounded: 1/ratio (MSGAN) blew up training here
            fm = sum(
                F.l1_loss(a.float(), b.float()) for fs, rs in zip(d_fake, d_real) for a, b in zip(fs[:-1], rs[:-1])
            ) / len(d_fake)
            l1 = _multiscale_l1(fake.float(), real.float())
            kl = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
            loss_g = adv + args.fm * fm + args.l1 * l1 + args.kl * kl + args.ms * ms
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        with torch.autocast("cpu", torch.bfloat16, enabled=use_bf16):
            d_fake = D(torch.cat([seg, fake.detach()], 1))
            d_real = D(torch.cat([seg, real], 1))
            loss_d = sum(
                F.relu(1 - r[-1].float()).mean() + F.relu(1 + f[-1].float()).mean() for r, f in zip(d_real, d_fake)
            ) / len(d_real)
            if args.ms > 0:
                # D must see the prior samples too, or G learns to fool it there with anything.
                d_fake2 = D(torch.cat([seg[:half], fake2.detach()], 1))
                loss_d = loss_d + sum(F.relu(1 + f[-1].float()).mean() for f in d_fake2) / len(d_fake2)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))
            for pe, p in zip(G_ema.parameters(), G.parameters()):
                pe.lerp_(p, 1 - decay)
        step += 1
        bar.update(1)
        if step % 25 == 0:
            rec = {
                "step": step,
                "res": f"{cur[0]}x{cur[1]}",
                "g": round(float(loss_g), 4),
                "adv": round(float(adv), 4),
                "fm": round(float(fm), 4),
                "l1": round(float(l1), 4),
                "kl": round(float(kl), 4),
                "ms": round(float(ms), 4),
                "d": round(float(loss_d), 4),
                "min": round((elapsed0 + time.time() - t0) / 60, 2),
            }
            log.write(json.dumps(rec) + "\n")
            log.flush()
            bar.set_postfix(g=rec["g"], d=rec["d"], l1=rec["l1"])
        if step % args.ckpt_every == 0:
            save()
        if step % args.sample_every == 0:
            sample()
            save_weights(G_ema, out / "samples" / f"step_{step:06d}.safetensors")
    save(final=True)
    sample()
    bar.close()
    print(f"done at step {step}; weights: {out / (palette.name + '.safetensors')}")
    return 0
