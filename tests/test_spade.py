"""Official SPADE generators: key layout, parity with the official code, coco/cityscapes inputs, loading rules."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from synth.convert import main as convert_main
from synth.generators import availability, spade
from synth.nets.spade import SPADENet, SpectralNormConv2d

REF = "reference/spade"


def tiny_official(path, semantic_nc: int, num_upsampling_layers: str = "normal", ngf: int = 4, seed: int = 0):
    """Save a random generator in the official checkpoint format (spectral-norm layout, random BN statistics)."""
    torch.manual_seed(seed)
    net = SPADENet(semantic_nc, ngf, num_upsampling_layers, spectral_norm=True)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
        if isinstance(m, SpectralNormConv2d):  # converged u, v as after training: sigma ~ the largest singular value
            w = m.weight_orig.detach().reshape(m.weight_orig.shape[0], -1)
            for _ in range(30):
                m.weight_v.copy_(nn.functional.normalize(w.t() @ m.weight_u, dim=0))
                m.weight_u.copy_(nn.functional.normalize(w @ m.weight_v, dim=0))
    torch.save(net.state_dict(), path)
    return path


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No checkpoint anywhere: empty home, no DAUB_SPADE_* variables, Hub offline."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in spade.CONFIGS:
        monkeypatch.delenv(f"DAUB_SPADE_{name.upper()}", raising=False)
    return tmp_path


@pytest.fixture
def coco(tmp_path, no_weights):
    return spade.load_coco(checkpoint=tiny_official(tmp_path / "coco.pth", 184))


@pytest.fixture
def cityscapes_pth(tmp_path, no_weights):
    return tiny_official(tmp_path / "cityscapes.pth", 36, "more")


# -- layout and parity -------------------------------------------------------------------------------


def test_state_dict_matches_official_ade20k_keys(shared_dir):
    rows = [line.split("\t") for line in (shared_dir / REF / "official_ade20k_net_G_keys.tsv").read_text().splitlines()]
    official = [(k, json.loads(shape)) for k, shape in rows]
    with torch.device("meta"):
        net = SPADENet(151, ngf=64, num_upsampling_layers="normal")
    ours = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    assert ours == official
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(96.5e6, rel=0.01)


def test_output_matches_official_code(shared_dir):
    ref = shared_dir / REF
    config = json.loads((ref / "ade20k_ngf8.json").read_text())
    gen = spade.load_ade20k(checkpoint=ref / "ade20k_ngf8_net_G.pth")
    assert (gen.net.ngf, gen.net.semantic_nc) == (config["ngf"], config["semantic_nc"])
    ids = np.asarray(Image.open(ref / "ade20k_ngf8_label.png"))
    out = gen.render_tensor(ids)[0].numpy()
    expected = np.load(ref / "ade20k_ngf8_expected.npy")
    assert out.shape == expected.shape == tuple(config["output_shape"])
    assert np.abs(out - expected).max() <= 1e-4


def test_bf16_channels_last_stays_close(shared_dir):
    ref = shared_dir / REF
    gen = spade.load_ade20k(checkpoint=ref / "ade20k_ngf8_net_G.pth", dtype="bf16")
    assert gen.channels_last and gen.dtype == torch.bfloat16 and gen.net.fc.weight.dtype == torch.float32
    out = gen.render_tensor(np.asarray(Image.open(ref / "ade20k_ngf8_label.png")))[0].numpy()
    close = np.abs(out - np.load(ref / "ade20k_ngf8_expected.npy")) < 0.02
    assert out.dtype == np.float32 and close.mean() > 0.99  # the random fixture saturates tanh; a few signs flip


def test_fold_equals_torch_spectral_norm_in_eval_mode():
    torch.manual_seed(0)
    ref = torch.nn.utils.spectral_norm(nn.Conv2d(5, 7, 3, padding=1))
    x = torch.randn(2, 5, 9, 9)
    for _ in range(3):  # training forwards move u and v away from their initial values
        ref(x)
    ref.eval()
    ours = SpectralNormConv2d(5, 7, 3, padding=1)
    ours.load_state_dict(ref.state_dict(), strict=True)
    with torch.no_grad():
        want = ref(x)
        assert torch.allclose(ours(x), want, atol=1e-6)
        folded = ours.folded()
        assert isinstance(folded, nn.Conv2d) and torch.allclose(folded(x), want, atol=1e-6)


# -- coco / cityscapes / most ------------------------------------------------------------------------


def test_coco_channels_dontcare_and_instance(coco):
    assert coco.net.semantic_nc == 184 and coco.size_rule.multiple == 32 and coco.size_rule.default == (256, 256)
    ids = np.zeros((64, 64), np.uint8)
    ids[:, 32:] = 255  # don't care
    x = coco.semantic_input(ids)
    assert x.shape == (1, 184, 64, 64)
    assert torch.equal(x[0, 182], torch.as_tensor(ids == 255).float())
    assert x[0, 183].sum() == 2 * 64  # without instances the label map's own edges: the two border columns
    assert coco(ids).size == (64, 64)


def test_instance_map_changes_the_output(coco):
    ids = np.full((32, 32), 7, np.uint8)
    inst = np.zeros((32, 32), np.int32)
    inst[:, 20:] = 1
    plain = coco.render_tensor(ids)
    with_inst = coco.render_tensor(ids, inst)
    assert not torch.allclose(plain, with_inst)
    img = np.asarray(coco(ids, instance=inst))
    assert np.array_equal(img, np.asarray(coco.generate(ids, instance=inst)[0]))
    assert not np.array_equal(img, np.asarray(coco(ids)))


def test_cityscapes_channels_sizes_and_instance(cityscapes_pth):
    gen = spade.load_cityscapes(checkpoint=cityscapes_pth)
    assert gen.net.semantic_nc == 36 and gen.net.num_upsampling_layers == "more"
    assert gen.size_rule.multiple == 64 and gen.size_rule.default == (512, 256)
    ids = np.full((64, 128), 7, np.uint8)  # road
    assert gen.semantic_input(ids).shape == (1, 36, 64, 128)
    assert gen(ids).size == (128, 64)
    inst = np.zeros((64, 128), np.int32)
    inst[:, 64:] = 26001
    assert not torch.allclose(gen.render_tensor(ids), gen.render_tensor(ids, inst))


def test_most_upsampling_inferred_from_up_4(tmp_path):
    path = tiny_official(tmp_path / "most.pth", 151, "most")
    gen = spade.load_spade(path, "ade20k", num_upsampling_layers=None, name="ade-most")
    assert gen.net.num_upsampling_layers == "most" and gen.size_rule.multiple == 128
    assert gen(np.zeros((128, 128), np.uint8)).size == (128, 128)
    with pytest.raises(ValueError, match="has up_4 weights"):
        spade.load_spade(path, "ade20k", num_upsampling_layers="normal")


def test_sizes_are_snapped_to_the_latent_grid(coco, cityscapes_pth):
    ids = np.zeros((20, 50), np.uint8)
    assert coco.generate(ids, size=(100, 70))[0].size == (96, 64)
    assert coco(ids).size == (64, 32)  # the map's own size, each side rounded to a multiple of 32 (at least 32)
    city = spade.load_cityscapes(checkpoint=cityscapes_pth)
    assert city.generate(ids, size=(70, 40))[0].size == (64, 64)


def test_seed_has_no_effect(coco):
    ids = np.zeros((32, 32), np.uint8)
    ids[8:20, 4:30] = 100
    images = coco.generate(ids, seed=0, num_images=2) + coco.generate(ids, seed=123)
    assert len(images) == 3
    assert all(np.array_equal(np.asarray(images[0]), np.asarray(im)) for im in images[1:])


# -- safetensors / convert ---------------------------------------------------------------------------


def test_convert_roundtrip_and_metadata(tmp_path, cityscapes_pth, capsys):
    out, half = tmp_path / "city.safetensors", tmp_path / "city16.safetensors"
    assert convert_main([str(cityscapes_pth), str(out)]) == 0
    assert "num_upsampling_layers=more" in capsys.readouterr().out
    assert convert_main([str(cityscapes_pth), str(half), "--half"]) == 0
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as f:
        meta = json.loads(f.metadata()["daub_spade"])
        keys = set(f.keys())
    assert meta["semantic_nc"] == 36 and meta["ngf"] == 4 and meta["num_upsampling_layers"] == "more"
    assert not any(k.endswith(("weight_orig", "weight_u", "weight_v")) for k in keys)
    assert half.stat().st_size < 0.6 * out.stat().st_size

    ids = np.full((64, 128), 11, np.uint8)
    ids[40:, :] = 7
    want = spade.load_cityscapes(checkpoint=cityscapes_pth).render_tensor(ids)
    assert torch.allclose(spade.load_cityscapes(checkpoint=out).render_tensor(ids), want, atol=1e-6)
    assert torch.allclose(spade.load_cityscapes(checkpoint=half).render_tensor(ids), want, atol=0.05)
    with pytest.raises(ValueError, match="converted with num_upsampling_layers='more'"):
        spade.load_spade(out, "cityscapes", num_upsampling_layers="normal", use_instance=True)


def test_convert_needs_upsampling_for_unknown_models(tmp_path):
    src = tiny_official(tmp_path / "odd.pth", 13)
    with pytest.raises(ValueError, match="--num-upsampling-layers"):
        convert_main([str(src), str(tmp_path / "odd.safetensors")])
    assert convert_main([str(src), str(tmp_path / "odd.safetensors"), "--num-upsampling-layers", "normal"]) == 0
    with pytest.raises(ValueError, match="must end in .safetensors"):
        convert_main([str(src), str(tmp_path / "odd.pt")])


# -- bad checkpoints ---------------------------------------------------------------------------------


class NotATensor:
    pass


def test_pickled_objects_are_refused(tmp_path):
    torch.save({"fc.weight": NotATensor()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match=r"refused: it holds Python objects or code, not only tensors"):
        spade.load_network(tmp_path / "evil.pth")
    torch.save({"fc.weight": torch.zeros(64, 151, 3, 3), "epoch": 3}, tmp_path / "mixed.pth")
    with pytest.raises(ValueError, match=r"\['epoch'\] are not tensors"):
        spade.load_network(tmp_path / "mixed.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        spade.load_network(tmp_path / "list.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a readable SPADE checkpoint"):
        spade.load_network(tmp_path / "junk.pth")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint either")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        spade.load_network(tmp_path / "junk.safetensors")


class Payload:
    """Unpickling this creates ``marker``: what a malicious checkpoint would do (or run any command)."""

    def __init__(self, marker: Path, shell: bool = False):
        self.marker, self.shell = marker, shell

    def __reduce__(self):
        if self.shell:
            return (os.system, (f"touch {self.marker}",))
        return (Path.touch, (self.marker,))


def poisoned(path: Path, marker: Path, how: str) -> Path:
    """A checkpoint at ``path`` that creates ``marker`` when unpickled: in torch's zip format (``torch.save``
    of a state dict holding the payload), a raw pickle, or a pickle named ``.safetensors``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if how == "torch-save":
        torch.save({"fc.weight": Payload(marker), "fc.bias": torch.zeros(1)}, path)
    elif how == "torch-save-shell":
        torch.save({"fc.weight": Payload(marker, shell=True)}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(marker, shell=how == "raw-shell")))
    return path


def assert_refused(message: str) -> None:
    """One line, says the file was refused or unreadable, and never suggests loading it unsafely."""
    assert message and "\n" not in message.strip() and "Traceback" not in message, message
    assert "weights_only=False" not in message and "`False`" not in message and "add_safe_globals" not in message
    assert re.search(r"refused: it holds Python objects or code|not a readable", message), message


PAYLOADS = [
    ("torch-save", "latest_net_G.pth"),
    ("torch-save-shell", "evil.pt"),
    ("raw", "evil.pth"),
    ("raw-shell", "evil.pt"),
    ("raw-shell", "latest_net_G.pth"),
    ("raw", "latest_net_G.safetensors"),
]


@pytest.mark.parametrize(("how", "fname"), PAYLOADS, ids=[f"{h}-{f}" for h, f in PAYLOADS])
def test_malicious_checkpoints_are_refused_on_every_path(how, fname, tmp_path, no_weights, monkeypatch, capsys):
    """Argument, env var, cache dir, ``daub convert``, ``daub render --checkpoint``: refused, nothing runs."""
    import synth
    from synth.cli import main as daub

    marker = tmp_path / "PWNED"
    evil = poisoned(tmp_path / "given" / fname, marker, how)

    def refused(load) -> None:
        with pytest.raises(ValueError) as err:
            load()
        assert_refused(str(err.value))
        assert not marker.exists()

    refused(lambda: synth.load("spade-ade20k", checkpoint=str(evil)))
    if fname.startswith("latest_net_G."):
        refused(lambda: synth.load("spade-ade20k", checkpoint=str(evil.parent)))  # a folder holding it
    monkeypatch.setenv("DAUB_SPADE_ADE20K", str(evil))
    refused(lambda: synth.load("spade-ade20k"))
    monkeypatch.delenv("DAUB_SPADE_ADE20K")
    cached = "latest_net_G.safetensors" if fname.endswith(".safetensors") else "latest_net_G.pth"
    poisoned(no_weights / "home" / ".cache" / "daub" / "spade" / "ade20k" / cached, marker, how)
    refused(lambda: synth.load("spade-ade20k"))

    ids = tmp_path / "map.png"
    Image.fromarray(np.zeros((32, 32), np.uint8), mode="L").save(ids)
    capsys.readouterr()
    for argv in (
        ["convert", str(evil), str(tmp_path / "out.safetensors")],
        ["render", str(ids), str(tmp_path / "out.png"), "--backend", "spade-ade20k", "--checkpoint", str(evil)],
        ["render", str(ids), str(tmp_path / "out.png"), "--backend", "spade-ade20k"],  # from the cache dir
    ):
        assert daub(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"daub {argv[0]}: error: ") and err.count("\n") == 1
        assert_refused(err)
        assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists() and not (tmp_path / "out.png").exists()


def test_malicious_checkpoint_refused_in_a_fresh_process(tmp_path, no_weights):
    """``daub convert`` as a user runs it: exit 2, one line, no file left by the payload."""
    marker = tmp_path / "PWNED"
    evil = poisoned(tmp_path / "evil.pth", marker, "torch-save-shell")
    env = {**os.environ, "HOME": str(no_weights / "home")}
    r = subprocess.run(
        [sys.executable, "-m", "synth", "convert", str(evil), str(tmp_path / "o.safetensors")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert r.returncode == 2 and r.stdout == ""
    lines = [line for line in r.stderr.splitlines() if "Warning" not in line and line.strip()]
    assert len(lines) == 1 and lines[0].startswith("daub convert: error: "), r.stderr
    assert_refused(lines[0])
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "fname"),
    [(b"hello, I am a text file\n" * 20, "text.pth"), (b"", "empty.pth"), (b"PK\x03\x04junk", "zip.pt")],
    ids=["text", "empty", "broken-zip"],
)
def test_non_checkpoints_are_one_line_errors(content, fname, tmp_path, no_weights, capsys):
    """A text file, an empty file or a broken zip as a checkpoint: one line (not ``KeyError: 101``), exit 2."""
    import synth
    from synth.cli import main as daub

    path = tmp_path / fname
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        synth.load("spade-ade20k", checkpoint=str(path))
    assert_refused(str(err.value))
    assert "is not a readable SPADE checkpoint" in str(err.value)
    capsys.readouterr()
    assert daub(["convert", str(path), str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a readable SPADE checkpoint" in err


def test_wrong_keys_and_shapes_are_refused(tmp_path):
    sd = torch.load(tiny_official(tmp_path / "ok.pth", 151), weights_only=True)
    broken = dict(sd)
    broken["head_0.conv_x.bias"] = broken.pop("head_0.conv_0.bias")
    torch.save(broken, tmp_path / "keys.pth")
    with pytest.raises(ValueError, match=r"1 missing keys, e.g. \['head_0.conv_0.bias'\]; 1 unexpected keys"):
        spade.load_network(tmp_path / "keys.pth")
    broken = dict(sd, **{"conv_img.weight": torch.zeros(3, 5, 3, 3)})
    torch.save(broken, tmp_path / "shape.pth")
    with pytest.raises(
        ValueError, match=r"wrong shapes, e.g. \['conv_img.weight \[3, 5, 3, 3\] \(want \[3, 4, 3, 3\]\)'\]"
    ):
        spade.load_network(tmp_path / "shape.pth")
    torch.save(dict(sd, **{"fc.weight": torch.zeros(16384, 256)}), tmp_path / "vae.pth")
    with pytest.raises(ValueError, match="only the non-VAE"):
        spade.load_network(tmp_path / "vae.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="no 'fc.weight'"):
        spade.load_network(tmp_path / "other.pth")
    with pytest.raises(ValueError, match="ngf=4 .* not ngf=64"):
        spade.load_network(tmp_path / "ok.pth", ngf=64)


def test_checkpoint_for_another_label_set_is_refused(cityscapes_pth):
    with pytest.raises(ValueError, match=r"take 36 input channels, but palette 'ade20k' gives 151"):
        spade.load_ade20k(checkpoint=cityscapes_pth)


# -- bad inputs --------------------------------------------------------------------------------------


def test_bad_ids_and_options(coco):
    with pytest.raises(ValueError, match=r"ids \[200\] are not in palette 'cocostuff'"):
        coco(np.full((32, 32), 200, np.uint8))
    with pytest.raises(ValueError, match="differs from label map shape"):
        coco(np.zeros((32, 32), np.uint8), instance=np.zeros((16, 32), np.int32))
    with pytest.raises(ValueError, match="integer array"):
        coco(np.zeros((32, 32), np.uint8), instance=np.zeros((32, 32), np.float32))
    with pytest.raises(ValueError, match="does not take option"):
        coco(np.zeros((32, 32), np.uint8), strength=1)


def test_ade20k_takes_no_instance_map(shared_dir):
    gen = spade.load_ade20k(checkpoint=shared_dir / REF / "ade20k_ngf8_net_G.pth")
    with pytest.raises(ValueError, match="trained without instance maps"):
        gen(np.zeros((32, 32), np.uint8), instance=np.zeros((32, 32), np.int32))


# -- where weights come from -------------------------------------------------------------------------


def test_missing_weights_say_where_to_put_them(no_weights):
    with pytest.raises(FileNotFoundError) as err:
        spade.load_ade20k()
    msg = str(err.value)
    for part in (
        "checkpoints.tar.gz",
        "ade20k_pretrained/latest_net_G.pth",
        "DAUB_SPADE_ADE20K",
        ".cache/daub/spade/ade20k",
    ):
        assert part in msg
    assert "\n" not in msg
    ok, reason = availability("spade-cityscapes")
    assert not ok and "cityscapes_pretrained/latest_net_G.pth" in reason
    with pytest.raises(FileNotFoundError, match="checkpoint='/nowhere/x.pth': no such file"):
        spade.load_coco(checkpoint="/nowhere/x.pth")


def test_env_var_default_dir_and_directory(tmp_path, no_weights, monkeypatch):
    path = tiny_official(tmp_path / "c.pth", 184)
    monkeypatch.setenv("DAUB_SPADE_COCO", str(path))
    assert spade.resolve_checkpoint("coco") == path
    assert availability("spade-coco") == (True, "")
    monkeypatch.delenv("DAUB_SPADE_COCO")
    default = tmp_path / "home" / ".cache" / "daub" / "spade" / "coco"
    default.mkdir(parents=True)
    (default / "latest_net_G.pth").write_bytes(path.read_bytes())
    assert spade.resolve_checkpoint("coco") == default / "latest_net_G.pth"
    assert spade.resolve_checkpoint("ade20k", checkpoint=default) == default / "latest_net_G.pth"
    import synth

    gen = synth.load("spade-coco")
    assert gen.name == "spade-coco" and gen.palette.name == "cocostuff"


def test_hub_repo_is_last_resort(tmp_path, no_weights, monkeypatch):
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE is set and it is not in the local cache"):
        spade.load_ade20k(repo_id="someone/spade-ade20k")
    ok, reason = spade.available("spade-ade20k", repo_id="someone/spade-ade20k")
    assert not ok and "would be downloaded" in reason
    path = tiny_official(tmp_path / "hub.pth", 151)
    calls = []

    def fake_download(repo_id, filename, local_files_only=False):
        calls.append((repo_id, filename, local_files_only))
        return str(path)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    gen = spade.load_ade20k(repo_id="someone/spade-ade20k", filename="ade20k/latest_net_G.pth")
    assert calls == [("someone/spade-ade20k", "ade20k/latest_net_G.pth", True)]
    assert gen.net.semantic_nc == 151


def test_random_spade_is_named_random():
    gen = spade.random_spade("cocostuff", ngf=2)
    assert gen.name == "random-spade-coco" and gen.net.semantic_nc == 184
    assert gen(np.zeros((32, 32), np.uint8)).size == (32, 32)
