"""Training, segmenter and evaluation code, on a tiny synthetic dataset made here (no shared data needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

import synth
from synth.data import augment, find_pairs, load_split
from synth.generators.embedded import load_weights
from synth.nets.segnet import SegNet
from synth.segmenters import load_segmenter
from synth.segmenters.small import Segmenter
from synth.segmenters.training import train_segmenter


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    """A facades-layout dataset: 6 train / 2 val pairs, 64x64, three classes in bands, coloured photos."""
    root = tmp_path_factory.mktemp("tinyfacades")
    (root / "classes.json").write_text(json.dumps({"classes": [{"index": i, "name": str(i)} for i in range(12)]}))
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 255, (12, 3))
    for split, n in (("train", 6), ("val", 2)):
        (root / split / "photo").mkdir(parents=True)
        (root / split / "label_index").mkdir(parents=True)
        for k in range(n):
            lab = np.zeros((64, 64), np.uint8)
            lab[20 + k :] = 1
            lab[40:, 10 + 3 * k : 30] = 2
            photo = colours[lab] + rng.integers(-10, 10, (64, 64, 3))
            Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(root / split / "photo" / f"{k}.jpg")
            Image.fromarray(lab).save(root / split / "label_index" / f"{k}.png")
    return root


def test_dataset_loading_and_augmentation(tiny_dataset):
    assert len(find_pairs(tiny_dataset, "train")) == 6
    photos, labels, names = load_split(tiny_dataset, "train", (64, 64))
    assert photos.shape == (6, 3, 64, 64) and labels.shape == (6, 64, 64) and names[0] == "0"
    x, y = augment(photos, labels, (32, 32), torch.Generator().manual_seed(0))
    assert x.shape == (6, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert set(torch.unique(y).tolist()) <= {0, 1, 2}  # nearest resize: no new ids


def test_dataset_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="classes.json"):
        find_pairs(tmp_path, "train")
    (tmp_path / "classes.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="neither"):
        find_pairs(tmp_path, "train")


def _train(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synth", "train", *args], capture_output=True, text=True, timeout=600)


def test_train_writes_checkpoint_weights_samples_and_resumes(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    common = [
        "--dataset",
        str(tiny_dataset),
        "--palette",
        "facades",
        "--out",
        str(out),
        "--size",
        "128x128",
        "--lowres-steps",
        "1",
        "--batch",
        "2",
        "--batch-full",
        "2",
        "--ckpt-every",
        "1",
        "--sample-every",
        "2",
        "--threads",
        "1",
    ]
    r = _train(common + ["--steps", "2"])
    assert r.returncode == 0, r.stderr
    assert (out / "ckpt.pt").is_file() and (out / "samples" / "step_000002.png").is_file()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log and all(np.isfinite(rec[k]) for rec in log for k in ("g", "d_real", "d_fake", "labelmix"))
    gen = synth.load("facades", weights=out / "facades.safetensors")
    assert gen(np.ones((128, 128), np.uint8), seed=0).size == (128, 128)
    assert all(rec["spectral"] == 0 and rec["diversity"] == 0 and rec["bands"] == 0 for rec in log)  # off by default
    r = _train(
        common
        + ["--steps", "3", "--resume", "--spectral", "1", "--spectral-axis", "2"]
        + ["--diversity", "1", "--diversity-pool", "2", "--diversity-per-class", "--spectral-bands", "1"]
    )
    assert r.returncode == 0, r.stderr
    assert "resumed at step 2" in r.stdout
    assert torch.load(out / "ckpt.pt", weights_only=True)["step"] == 3
    last = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 3 and last["spectral"] > 0 and last["diversity"] > 0  # fresh noise strengths: alike
    assert last["bands"] > 0


def test_train_resumes_from_fp16_files_alone(tiny_dataset, tmp_path):
    """What a GPU job brings back (EMA weights + resume-D, each fp16) is enough to continue training."""
    out = tmp_path / "run"
    common = ["--dataset", str(tiny_dataset), "--palette", "facades", "--out", str(out), "--size", "64x64"]
    common += ["--lowres-steps", "0", "--batch-full", "2", "--threads", "1", "--d-channels", "8,16,16,16,16"]
    common += ["--z-dim", "8", "--head", "8"]
    assert _train(common + ["--steps", "2"]).returncode == 0
    for name in ("ckpt.pt", "resume-G.safetensors"):
        (out / name).unlink()
    before = load_weights(out / "facades.safetensors").config
    r = _train(common + ["--steps", "4", "--resume", "--z-dim", "16"])  # the run's own architecture wins
    assert r.returncode == 0, r.stderr
    assert "resumed at step 2 (fp16 resume files)" in r.stdout
    after = load_weights(out / "facades.safetensors")
    assert after.config == before and after.config.z_dim == 8 and after.config.pixel_noise
    info = json.loads(safe_open(str(out / "facades.safetensors"), "pt").metadata()["info"])
    assert info["steps"] == 4
    (out / "resume-D.safetensors").unlink()
    (out / "ckpt.pt").unlink()
    r = _train(common + ["--steps", "5", "--resume"])
    assert r.returncode == 2 and "resume-D.safetensors" in r.stderr


def test_train_refuses_a_missing_gpu(tiny_dataset, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    r = _train(["--dataset", str(tiny_dataset), "--palette", "facades", "--out", str(tmp_path), "--device", "cuda"])
    assert r.returncode == 2 and "no CUDA GPU" in r.stderr


def test_train_refuses_a_bad_diversity_pool_repeat_factor_or_diffaug(tiny_dataset, tmp_path):
    refusals = {
        "--diversity-pool": (("0", "-2", "x"), "must be a whole number >= 1"),
        "--repeat-factor": (("-0.1", "nan", "x"), "must be a number >= 0"),
        "--diffaug": (("1.5", "-0.1", "nan"), "must be a probability in [0, 1]"),
    }
    for flag, (bads, message) in refusals.items():
        for bad in bads:
            r = _train(
                ["--dataset", str(tiny_dataset), "--palette", "facades", "--out", str(tmp_path / "run")] + [flag, bad]
            )
            assert r.returncode == 2 and f"{flag}: {message}" in r.stderr
            assert not (tmp_path / "run").exists()  # refused before anything is written


def test_segmenter_training_ends_on_time(tiny_dataset, tmp_path):
    import time

    t = time.time()
    path = train_segmenter(str(tiny_dataset), "facades", tmp_path, batch=2, threads=1, minutes=0.05, size=(32, 32))
    assert time.time() - t < 30
    meta = safe_open(str(path), "pt").metadata()
    assert json.loads(meta["info"])["steps"] >= 1 and json.loads(meta["size"]) == [32, 32]


def test_one_cycle_lr_warms_up_then_anneals():
    from synth.segmenters.training import one_cycle_lr

    lrs = [one_cycle_lr(p / 100, 1.0) for p in range(101)]
    assert lrs[0] == pytest.approx(1 / 25) and lrs[30] == pytest.approx(1.0) and lrs[100] == pytest.approx(1e-4)
    assert all(a <= b for a, b in zip(lrs[:30], lrs[1:31])) and all(a >= b for a, b in zip(lrs[30:], lrs[31:]))


def test_train_resume_without_checkpoint_fails_with_one_line(tiny_dataset, tmp_path):
    r = _train(["--dataset", str(tiny_dataset), "--palette", "facades", "--out", str(tmp_path / "none"), "--resume"])
    assert r.returncode == 2
    assert "no checkpoint" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_segmenter_trains_loads_and_predicts(tiny_dataset, tmp_path):
    path = train_segmenter(str(tiny_dataset), "facades", tmp_path, steps=3, batch=2, threads=1)
    seg = load_segmenter("facades", weights=path)
    photo = np.asarray(Image.open(tiny_dataset / "val" / "photo" / "0.jpg"))
    ids = seg(photo)
    assert ids.shape == (64, 64) and ids.dtype == np.uint8 and ids.max() < 12
    with pytest.raises(ValueError, match="RGB photo"):
        seg(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="no segmenter"):
        synth.segmenter("cityscapes")


def test_segmenter_with_context_saves_and_loads(tmp_path):
    """The global-pooling branch travels in the file: the loaded judge gives the same logits."""
    from synth.segmenters.small import load_small, save_segmenter

    torch.manual_seed(0)
    net = SegNet(8, ch=(4, 8, 8, 8, 8), context=True).eval()
    with torch.no_grad():  # a non-trivial branch, so dropping it on load would show
        net.context[1].weight.zero_()
        net.context[1].bias.fill_(1.0)
    save_segmenter(net, tmp_path / "seg.safetensors", "landscape", (32, 32))
    seg = load_small("landscape", weights=tmp_path / "seg.safetensors", fast=False)
    assert seg.model.context is not None
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        ref = net(x)
        ablated = SegNet(8, ch=(4, 8, 8, 8, 8))
        ablated.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("context")})
        deepest, deepest_without = net.encode(x), ablated.eval().encode(x)
    assert (seg.logits(x) - ref).abs().max() < 2e-3  # the file stores fp16
    assert torch.allclose(seg.embed(x), deepest.mean((2, 3)), atol=2e-2)
    assert torch.allclose(deepest - deepest_without, torch.ones_like(deepest))  # ReLU(0 · mean + 1) everywhere


def test_class_weights_lift_rare_classes_and_skip_dontcare():
    from synth.segmenters.training import class_weights

    labels = torch.tensor([0] * 90 + [1] * 10 + [15] * 50, dtype=torch.uint8).view(1, 150)
    w = class_weights(labels, 3, dontcare=15, power=0.5)
    share = torch.tensor([0.9, 0.1, 0.0])
    assert w[2] == 0  # absent: nothing to learn
    assert w[1] / w[0] == pytest.approx(3.0, rel=1e-4)  # (0.1 / 0.9) ** -0.5
    assert float((w * share).sum()) == pytest.approx(1.0, rel=1e-4)  # mean weight per pixel stays 1
    assert torch.allclose(class_weights(labels, 3, 15, 0.0), torch.tensor([1.0, 1.0, 0.0]))


def test_segmenter_predict_keeps_size():
    seg = Segmenter("landscape", SegNet(8, ch=(4, 8, 8, 8)), (32, 24))
    out = seg.predict(torch.zeros(2, 3, 50, 70))
    assert out.shape == (2, 50, 70)


def test_fast_segmenter_runs_bf16_channels_last_and_agrees_with_fp32():
    torch.manual_seed(0)
    net = SegNet(8, ch=(8, 16, 16)).eval()
    plain = Segmenter("landscape", net, (64, 48), fast=False)
    x = torch.rand(2, 3, 48, 64) * 2 - 1
    ref = plain.logits(x)
    fast = Segmenter("landscape", net, (64, 48))
    assert fast.model.out.weight.is_contiguous(memory_format=torch.channels_last)
    out = fast.logits(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert 0 < (out - ref).abs().max() < 0.1 * ref.abs().max()  # bf16 rounding, not another network
    assert (out.argmax(1) == ref.argmax(1)).float().mean() > 0.95


@pytest.mark.parametrize(
    "name, dataset, bar", [("landscape", "stanford_background", 0.62), ("facades", "facades", 0.34)]
)
def test_shipped_judges_reach_the_val_bar_on_real_photos(shared_dir, name, dataset, bar):
    """The shipped segmenters (``daub eval``'s judges, trained on train photos only) on the real val photos."""
    from synth.evaluate import reference

    size = synth.load(name).size_rule.default
    ref = reference(name, shared_dir / "datasets" / dataset, size=size)
    assert ref["scores"]["miou"] >= bar, ref["scores"]


def test_shipped_segmenters_load():
    for name in ("landscape", "facades"):
        seg = synth.segmenter(name)
        assert seg.palette.name == name
        assert seg(np.zeros((96, 128, 3), np.uint8)).shape == (96, 128)


def test_eval_on_shared_val(shared_dir):
    from synth.evaluate import evaluate

    figures, rows = evaluate("facades", shared_dir / "datasets" / "facades", seeds=1, limit=4)
    assert figures["val_maps"] == 4 and len(rows) == 4
    assert 0 <= figures["generated"]["miou"] <= 1 and 0 < figures["real"]["miou"] <= 1
    assert figures["miou_ratio"] == pytest.approx(figures["generated"]["miou"] / figures["real"]["miou"], abs=1e-3)
    # KID is unbiased, so it can dip below 0 on a few maps
    assert (
        np.isfinite(figures["kid"])
        and figures["kid_se"] > 0
        and figures["spectrum_gap_db"] > 0
        and figures["seed_diversity"] == 0
    )
    assert 0 < figures["axis_energy"]["generated"] < 1 and 0 < figures["axis_energy"]["real"] < 1
    texture = figures["texture_per_class"]
    assert "facade" in texture and all(v["detail"]["real"] > 0 for v in texture.values())


def test_eval_compares_weights_against_one_real_side(shared_dir, tmp_path):
    """Two weights files scored against the same judged photos; a foreign judge file is refused."""
    from synth.evaluate import evaluate, reference
    from synth.generators.embedded import weights_path
    from synth.segmenters.small import WEIGHTS_DIR

    judge = WEIGHTS_DIR / "seg-facades.safetensors"
    ref = reference("facades", shared_dir / "datasets" / "facades", judge=judge, limit=2, size=(256, 256))
    a, _ = evaluate("facades", seeds=2, ref=ref)
    b, _ = evaluate("facades", weights=weights_path("facades"), seeds=2, ref=ref, fast=False)
    assert a["real"] == b["real"] and a["seed_diversity"] > 0
    assert a["generated"]["miou"] == pytest.approx(b["generated"]["miou"], abs=0.05)  # bf16 vs fp32, same weights
    with pytest.raises(ValueError, match="not a Daub segmenter"):
        reference("facades", shared_dir / "datasets" / "facades", judge=weights_path("facades"), limit=1)


def test_eval_main_gives_each_compared_version_paired_differences_against_the_first(shared_dir, capsys):
    """``daub eval --compare``: every version after the first carries ``against_first`` (paired KID, mIoU
    ratio and spectrum gap differences); the shipped weights against themselves (same maps, seeds, judge) differ by 0 +- 0."""
    import json

    from synth.evaluate import main
    from synth.generators.embedded import weights_path

    argv = ["--model", "facades", "--dataset", str(shared_dir / "datasets" / "facades"), "--limit", "4"]
    assert main([*argv, "--seeds", "2", "--compare", f"again={weights_path('facades')}"]) == 0
    versions = json.loads(capsys.readouterr().out)["versions"]
    assert "against_first" not in versions["shipped"]
    zero = {"diff": 0.0, "se": 0.0}
    assert versions["again"]["against_first"] == {
        "version": "shipped",
        "kid": zero,
        "miou_ratio": zero,
        "spectrum_gap_db": zero,
    }
    assert versions["again"]["kid"] == versions["shipped"]["kid"] and versions["shipped"]["kid_se"] > 0


def test_segmenter_refuses_foreign_weights(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a Daub segmenter"):
        load_segmenter("facades", weights=tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="daub train --segmenter"):
        load_segmenter("facades", weights=tmp_path / "missing.safetensors")


def test_train_with_patch_d_saves_and_resumes_it(tiny_dataset, tmp_path):
    """--patch-d writes resume-P beside resume-D; a resume from ckpt.pt or from the fp16 files continues it, and
    a run that adds --patch-d on resume starts it afresh."""
    from synth.tagged import read_tagged

    out = tmp_path / "run"
    common = ["--dataset", str(tiny_dataset), "--palette", "facades", "--out", str(out), "--size", "64x64"]
    common += ["--lowres-steps", "0", "--batch-full", "2", "--threads", "1", "--d-channels", "8,16,16,16,16"]
    common += ["--z-dim", "8", "--head", "8", "--patch-d-channels", "8,16", "--ckpt-every", "1"]
    assert _train(common + ["--steps", "2"]).returncode == 0
    assert not (out / "resume-P.safetensors").exists()  # off by default
    r = _train(common + ["--steps", "3", "--resume", "--patch-d", "0.5"])
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["patch_d"] > 0
    saved = read_tagged(out / "resume-P.safetensors", "daub-resume-v1", "x")
    assert json.loads(saved[0]["step"]) == 3
    r = _train(common + ["--steps", "3", "--resume", "--patch-d", "0.5"])  # from ckpt.pt: no step, loads, saves
    assert r.returncode == 0 and "(ckpt.pt)" in r.stdout, r.stderr
    again = read_tagged(out / "resume-P.safetensors", "daub-resume-v1", "x")[1]
    assert all(torch.equal(saved[1][k], again[k]) for k in saved[1])  # ckpt.pt's patch discriminator
    for name in ("ckpt.pt", "resume-G.safetensors"):
        (out / name).unlink()
    r = _train(common + ["--steps", "3", "--resume", "--patch-d", "0.5"])  # no step to take: loads, saves again
    assert r.returncode == 0 and "fp16 resume files" in r.stdout, r.stderr
    again = read_tagged(out / "resume-P.safetensors", "daub-resume-v1", "x")[1]
    assert all(torch.equal(saved[1][k], again[k]) for k in saved[1])  # the run's own, not a fresh one
    (out / "ckpt.pt").unlink()
    r = _train(common + ["--steps", "4", "--resume", "--patch-d", "0.5"])
    assert r.returncode == 0 and "fp16 resume files" in r.stdout, r.stderr
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and log[-1]["patch_d"] > 0
    assert json.loads(read_tagged(out / "resume-P.safetensors", "daub-resume-v1", "x")[0]["step"]) == 4


def test_init_weights_start_a_new_run_from_a_generator_file(tiny_dataset, tmp_path):
    """--init-weights: G and EMA from a file, D afresh; with --d-warmup they stay put until that step."""
    common = ["--dataset", str(tiny_dataset), "--palette", "facades", "--size", "64x64", "--lowres-steps", "0"]
    common += ["--batch-full", "2", "--threads", "1", "--d-channels", "8,16,16,16,16", "--ckpt-every", "1"]
    assert (
        _train(common + ["--out", str(tmp_path / "a"), "--steps", "1", "--z-dim", "8", "--head", "8"]).returncode == 0
    )
    init = tmp_path / "a" / "facades.safetensors"
    first = load_weights(init).state_dict()
    out = tmp_path / "b"
    r = _train(common + ["--out", str(out), "--steps", "2", "--init-weights", str(init), "--d-warmup", "2"])
    assert r.returncode == 0, r.stderr
    assert "discriminator afresh" in r.stdout
    after = load_weights(out / "facades.safetensors")
    assert after.config.z_dim == 8  # the file's architecture, not the flags' defaults
    raw = torch.load(out / "ckpt.pt", weights_only=True)["G"]
    for weights in (after.state_dict(), raw):  # the EMA and the raw generator: frozen through the warm-up
        assert all(torch.equal(first[k], v.float()) for k, v in weights.items())
    info = json.loads(safe_open(str(out / "facades.safetensors"), "pt").metadata()["info"])
    assert info["steps"] == 2 and info["recipe"]["init_weights"] == str(init) and info["warm_ema"]
    r = _train(common + ["--out", str(out), "--steps", "3", "--resume", "--d-warmup", "2"])
    assert r.returncode == 0, r.stderr
    ck = torch.load(out / "ckpt.pt", weights_only=True)
    raw_step = max(float((ck["G"][k].float() - first[k]).abs().max()) for k in first)
    ema_step = max(float((ck["G_ema"][k].float() - first[k]).abs().max()) for k in first)
    assert raw_step > 0  # trains once the warm-up is over
    # the EMA keeps its full memory (it starts from a trained generator): one step moves it (1 - 0.999) of the
    # raw generator's step, not the (1 - 3/12) of a fresh run's short memory at step 2
    assert 0 < ema_step < 0.002 * raw_step
    info = json.loads(safe_open(str(out / "facades.safetensors"), "pt").metadata()["info"])
    assert info["warm_ema"] and info["recipe"]["init_weights"] is None  # the resumed run still knows


def test_init_weights_errors_are_one_line_and_write_nothing(tiny_dataset, tmp_path):
    from synth.generators.embedded import DaubConfig, DaubGenerator, save_weights

    v1 = tmp_path / "v1.safetensors"
    save_weights(DaubGenerator(DaubConfig(palette="facades", label_nc=12, channels=(16,) * 5, hidden=(16,) * 5)), v1)
    land = tmp_path / "land.safetensors"
    cfg = DaubConfig(palette="landscape", label_nc=9, channels=(16,) * 5, hidden=(16,) * 5, noise_3d=True, z_dim=8)
    save_weights(DaubGenerator(cfg), land)
    common = ["--dataset", str(tiny_dataset), "--palette", "facades", "--steps", "1", "--threads", "1"]
    cases = [
        (["--init-weights", str(tmp_path / "none.safetensors")], "no such file"),
        (["--init-weights", str(v1)], "v1 generator"),
        (["--init-weights", str(land)], "landscape generator, not facades"),
        (["--init-weights", str(land), "--resume"], "give one of them"),
    ]
    for k, (extra, message) in enumerate(cases):
        out = tmp_path / f"run{k}"
        r = _train(common + ["--out", str(out), *extra])
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not out.exists()


def test_repeat_factors_draw_rare_classes_more_often():
    from synth.data import repeat_factors

    labels = torch.zeros(10, 20, 20, dtype=torch.uint8)
    labels[:, 10:] = 1
    labels[0, :2, :2] = 2  # class 2: 1 % of image 0 (below min_share 2 %): no boost
    labels[1, :10, :10] = 3  # class 3: 25 % of image 1, 2.5 % of all pixels
    labels[2, :, :5] = 15  # don't care: never counts
    w = repeat_factors(labels, 4, threshold=0.1)
    assert float(w[1]) == pytest.approx((0.1 / (100 / 3900)) ** 0.5, rel=1e-4)  # 100 of the 3,900 labelled pixels
    assert torch.all(w[[0, 2, *range(3, 10)]] == 1)
    with pytest.raises(ValueError, match="threshold"):
        repeat_factors(labels, 4, threshold=0)
    from palettes import load as load_palette
    from synth.train import _batch

    photos = torch.zeros(10, 3, 20, 20, dtype=torch.uint8)
    photos[1] = 255  # the rare image is the white one
    gen = torch.Generator().manual_seed(0)
    white = [float((_batch(photos, labels, load_palette("landscape"), (16, 16), 400, gen, w)[0] > 0).float().mean())]
    white += [float((_batch(photos, labels, load_palette("landscape"), (16, 16), 400, gen)[0] > 0).float().mean())]
    assert white[0] == pytest.approx(float(w[1] / w.sum()), abs=0.05) and white[1] == pytest.approx(1 / 10, abs=0.05)


def test_train_with_texture_builds_the_bank_and_logs_the_loss(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    args = ["--dataset", str(tiny_dataset), "--palette", "facades", "--out", str(out), "--size", "64x64"]
    args += ["--lowres-steps", "0", "--batch-full", "2", "--threads", "1", "--d-channels", "8,16,16,16,16"]
    r = _train(args + ["--z-dim", "8", "--head", "8", "--steps", "2", "--texture", "0.5"])
    assert r.returncode == 0, r.stderr
    assert "texture bank:" in r.stdout
    assert all(json.loads(line)["texture"] > 0 for line in (out / "log.jsonl").read_text().splitlines())
    r = _train(args + ["--steps", "2", "--texture", "-1"])
    assert r.returncode == 2 and "--texture" in r.stderr
    r = _train(args + ["--z-dim", "8", "--head", "8", "--steps", "3", "--resume", "--texture", "0.5", "--imle", "2"])
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["texture"] > 0
    r = _train(args + ["--steps", "4", "--resume", "--imle", "2"])
    assert r.returncode != 0 and "--imle" in r.stderr and "--texture" in r.stderr
    r = _train(args + ["--steps", "4", "--resume", "--texture", "0.5", "--imle-colour", "2"])
    assert r.returncode != 0 and "--imle-colour" in r.stderr and "--imle K" in r.stderr
    r = _train(args + ["--steps", "4", "--resume", "--texture", "0.5", "--imle", "2", "--imle-colour", "-1"])
    assert r.returncode != 0 and "--imle-colour" in r.stderr and ">= 0" in r.stderr
    logged = len((out / "log.jsonl").read_text().splitlines())
    r = _train(args + ["--steps", "4", "--resume", "--texture", "0.5", "--imle", "2", "--imle-colour", "2"])
    assert r.returncode == 0, r.stderr
    assert len((out / "log.jsonl").read_text().splitlines()) == logged + 1  # the refused runs took no step
