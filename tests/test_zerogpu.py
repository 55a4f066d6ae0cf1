"""The Space on ZeroGPU: renders cross ``spaces.GPU`` the way ZeroGPU runs them, and CUDA stays inside it.

ZeroGPU's ``spaces.GPU`` pickles the decorated function's arguments into a worker process forked from the
app and pickles the result back; CUDA works only in that worker. :class:`ZeroGPU` below is a stand-in
``spaces`` package doing exactly that (``multiprocessing`` "fork" context), installed in ``sys.modules``
before a :class:`~synth.studio.Studio` is built, so the Studio decorates :func:`synth.zerogpu.run` with it.

ControlNet-seg runs on the tiny random models (tests/tiny_diffusion.py) laid out as a Hugging Face cache
under the real repo ids, with HF_HUB_OFFLINE=1: the Studio finds and loads ``controlnet-seg`` as on a
Space whose cache was filled in advance.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported anywhere in this process

import functools  # noqa: E402
import multiprocessing  # noqa: E402
import pickle  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from ui_app import fake_segmenter, sample_ids  # noqa: E402

import synth  # noqa: E402
from synth import generators, zerogpu  # noqa: E402
from synth.studio import Studio  # noqa: E402

HAVE_LANDSCAPE = generators.availability("landscape")[0]
needs_landscape = pytest.mark.skipif(not HAVE_LANDSCAPE, reason="embedded landscape weights are missing")


pytestmark = pytest.mark.usefixtures(
    "one_torch_thread"
)  # tiny models: one thread (also keeps OpenMP out of the forked workers)


# -- the stand-in ``spaces`` package ---------------------------------------------------------------


def _in_forked_worker(task, payload: bytes, timeout: float = 300):
    """Run ``task(*args, **kwargs)`` (pickled in ``payload``) in a forked process; its result comes back pickled."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def worker():
        try:
            args, kwargs = pickle.loads(payload)
            out = ("ok", task(*args, **kwargs))
            data = pickle.dumps(out)
        except BaseException as e:  # noqa: BLE001  (everything goes back to the caller)
            data = pickle.dumps(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        send.send_bytes(data)

    proc = ctx.Process(target=worker, daemon=True)
    proc.start()
    send.close()
    try:
        if not receive.poll(timeout):
            raise TimeoutError(f"the forked GPU worker did not answer within {timeout}s")
        status, value = pickle.loads(receive.recv_bytes())
    finally:
        proc.join(30)
        receive.close()
    if status == "error":
        raise RuntimeError(f"ZeroGPU worker error: {value}")
    return value


class ZeroGPU:
    """``spaces.GPU`` as on ZeroGPU: arguments pickled (a closure or a lock fails here, as there), the function
    run in a forked worker, the result pickled back. Records each call's function name and asked duration."""

    def __init__(self):
        self.calls: list[str] = []
        self.durations: list[int] = []

    def GPU(self, task=None, *, duration=None, size=None):  # noqa: N802  (the real name)
        if task is None:
            return functools.partial(self.GPU, duration=duration, size=size)

        @functools.wraps(task)
        def gradio_handler(*args, **kwargs):
            self.calls.append(task.__name__)
            if duration is not None:
                self.durations.append(duration(*args, **kwargs) if callable(duration) else duration)
            payload = pickle.dumps((args, kwargs))  # ZeroGPU: worker.arg_queue.put(((args, kwargs), ...))
            return _in_forked_worker(task, payload)

        return gradio_handler

    def module(self) -> types.ModuleType:
        mod = types.ModuleType("spaces")
        mod.GPU = self.GPU
        return mod


@pytest.fixture
def zero(monkeypatch):
    """The stand-in ``spaces`` package, importable as ``spaces`` for this test."""
    fake = ZeroGPU()
    monkeypatch.setitem(sys.modules, "spaces", fake.module())
    return fake


# -- tiny ControlNet-seg models in a Hub-style cache under the real repo ids -----------------------


def _snapshot(cache: Path, repo: str, src: Path) -> None:
    """Copy folder ``src`` into ``cache`` as Hub repo ``repo`` (``models--o--n/snapshots/<rev>``, ``refs/main``)."""
    folder = cache / ("models--" + repo.replace("/", "--"))
    rev = "0" * 40
    shutil.copytree(src, folder / "snapshots" / rev)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(rev)


@pytest.fixture(scope="module")
def tiny_hub(tmp_path_factory):
    import tiny_diffusion as tiny

    from synth.generators import controlnet

    pytest.importorskip("diffusers")
    root = tmp_path_factory.mktemp("zerogpu_models")
    cache = root / "hub"
    for repo, src in (
        (controlnet.DEFAULT_BASE, tiny.save_tiny_base(root / "sd15")),
        (controlnet.CONTROLNETS["v1.1"], tiny.save_tiny_controlnet(root / "seg", seed=1)),
        (controlnet.STYLE_CONTROLNET, tiny.save_tiny_controlnet(root / "shuffle", seed=7, global_pool=True)),
        (controlnet.LCM_LORA, tiny.save_tiny_lcm_lora(root / "lcm")),
    ):
        _snapshot(cache, repo, src)
    return cache


@pytest.fixture
def hub(tiny_hub, monkeypatch):
    """The tiny models are the local Hugging Face cache for this test."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tiny_hub))
    return tiny_hub


@pytest.fixture(scope="module")
def fake_slow():
    from conftest import fake_slow_backend

    yield from fake_slow_backend(step_seconds=0.0)


def ade_ids() -> np.ndarray:
    pal = synth.palette("ade20k")
    a = np.full((64, 64), pal.id_of("sky"), np.uint8)
    a[24:44] = pal.id_of("building")
    a[44:] = pal.id_of("road")
    return a


def arr(img) -> np.ndarray:
    return np.asarray(img).astype(np.int16)


# -- tests -----------------------------------------------------------------------------------------


def test_the_stand_in_refuses_what_zerogpu_refuses(zero):
    """The stand-in is as strict as ZeroGPU: what held the old ``_run`` arguments fails to pickle."""
    import threading

    run = zero.GPU(lambda *a: a)
    with pytest.raises(TypeError, match="pickle"):
        run(threading.Lock())  # the generator held one
    with pytest.raises((AttributeError, pickle.PicklingError), match="pickle"):
        run(lambda step, total, preview=None: None)  # the UI's progress closure
    assert run(1, "x", np.zeros(2))[:2] == (1, "x")


def test_studio_decorates_run_only_on_zerogpu(zero, monkeypatch):
    st = Studio()
    assert st.zero_gpu and st._gpu_run is not zerogpu.run
    monkeypatch.delitem(sys.modules, "spaces")
    assert not Studio().zero_gpu  # no spaces package (or the repo's spaces/ folder): run is called directly


def test_fake_slow_backend_renders_through_the_forked_worker(zero, fake_slow, tmp_path):
    """A non-live backend: the exact UI arguments (options from collect_options, a progress closure) go in;
    the Studio passes spaces.GPU only picklable values and drops the closure; the images come back."""
    from synth.ui.events import collect_options

    st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path))
    before = len(fake_slow.calls)
    opts = collect_options(st, "fake-slow", "a lake", "", 3, 7.5, 1.0, False, None)
    assert opts == {"prompt": "a lake", "steps": 3}
    steps = []
    result = st.render(sample_ids(), "fake-slow", 5, 2, opts, lambda s, t, p=None: steps.append(s))
    assert zero.calls == ["run"] and 20 <= zero.durations[0] <= zerogpu.GPU_MAX_SECONDS
    assert [im.getpixel((0, 0)) for im in result.images] == [(5, 40, 200), (6, 40, 200)]
    assert len(fake_slow.calls) == before  # it ran in the worker, not here
    assert steps == []  # no per-step progress across ZeroGPU's pickling
    assert st.export(result)  # the result is usable here as usual


def test_on_zerogpu_the_worker_reports_each_step_to_gradio(zero, fake_slow, tmp_path, monkeypatch):
    """The closure stays here; inside the forked worker, run() reports every step with ``gr.Progress`` (which
    ZeroGPU relays to the event being served). Recorded in a file: the worker is another process."""
    import gradio as gr

    log = tmp_path / "progress.log"

    def record(self, progress, desc=None, *args, **kwargs):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {progress[0]}/{progress[1]} {desc}\n")

    monkeypatch.setattr(gr.Progress, "__call__", record)  # before the fork: the worker inherits it
    st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path))
    steps = []
    st.render(sample_ids(), "fake-slow", 5, 1, {"steps": 3}, lambda s, t, p=None: steps.append(s))
    lines = log.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [f"{k}/3 fake-slow: step {k}/3" for k in (1, 2, 3)]
    assert {line.split()[0] for line in lines} != {str(os.getpid())} and steps == []  # from the worker
    log.unlink()
    st.render(sample_ids(), "fake-slow", 5, 1, {"steps": 3})  # nobody asked for progress: none reported
    assert not log.exists()


def test_without_zerogpu_progress_is_reported_per_step(fake_slow, tmp_path):
    st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path))
    assert not st.zero_gpu
    steps = []
    st.render(sample_ids(), "fake-slow", 1, 1, {"steps": 3}, lambda s, t, p=None: steps.append((s, t)))
    assert steps == [(1, 3), (2, 3), (3, 3)]


@needs_landscape
@pytest.mark.parametrize("model", ["landscape", "facades"])
def test_live_backends_never_go_through_spaces_gpu(zero, model, tmp_path):
    st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path))
    ids = st.blank(model)
    result = st.render(ids, model, 0, 1)
    assert zero.calls == [] and result.images[0].size == (ids.shape[1], ids.shape[0])
    assert st.generator(model).device.type == "cpu"


def test_a_worker_forked_before_a_load_loads_it_itself(fake_slow, tmp_path):
    """A reused ZeroGPU worker keeps the state it was forked with: a generator loaded (or reloaded with
    other arguments) since then is loaded in the worker with the Studio's loader."""
    calls = []

    def loader(name, **kw):
        calls.append((name, kw))
        return synth.load(name, **kw)

    st = Studio(loader=loader, segmenter=fake_segmenter, out_dir=str(tmp_path))
    st.generator("fake-slow")
    key = (st._token, "fake-slow")
    zerogpu.LOADED.pop(key)  # as in a worker forked before the load
    images = zerogpu.run("fake-slow", sample_ids(), 3, 1, {"steps": 1}, st._token, {})
    assert images[0].getpixel((0, 0)) == (3, 40, 200)
    assert calls == [("fake-slow", {}), ("fake-slow", {})] and zerogpu.LOADED[key][0] is fake_slow
    zerogpu.run("fake-slow", sample_ids(), 3, 1, {"steps": 1}, st._token, {"style": True})  # other arguments
    assert calls[-1] == ("fake-slow", {"style": True}) and zerogpu.LOADED[key][1] == {"style": True}


@pytest.mark.parametrize("on_zerogpu", [True, False], ids=["zerogpu", "here"])
def test_controlnet_seg_through_the_studio_as_the_ui_drives_it(on_zerogpu, hub, tmp_path, request):
    """ControlNet-seg with the web UI's arguments: normal, fast (the LCM-LoRA from the offline cache, the
    sliders' steps/guidance left out) and with a style photo (the Studio loads the style ControlNet for it).
    On ZeroGPU each render runs in a forked worker; elsewhere in this process, with progress per step."""
    from synth.ui.events import collect_options

    zero = request.getfixturevalue("zero") if on_zerogpu else None
    st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path))
    assert st.zero_gpu == on_zerogpu
    assert st.model("controlnet-seg").ready  # found in the (tiny) Hugging Face cache under the real ids
    ids = ade_ids()
    steps = []

    def on_step(step, total, preview=None):
        steps.append((step, total))

    opts = collect_options(st, "controlnet-seg", "a house", "", 2, 7.5, 1.0, False, None)
    assert opts == {"prompt": "a house", "steps": 2, "guidance_scale": 7.5, "conditioning_scale": 1.0, "fast": False}
    plain = st.render(ids, "controlnet-seg", 3, 1, opts, on_step)
    assert plain.images[0].size == (64, 64)
    gen = st.generator("controlnet-seg")
    assert (not gen._schedulers) == on_zerogpu  # on ZeroGPU the pipeline ran in the worker only
    assert steps == ([] if on_zerogpu else [(1, 2), (2, 2)])
    here = gen(ids, seed=3, **opts)  # the same render in this process
    assert np.array_equal(arr(plain.images[0]), arr(here))

    fast = collect_options(st, "controlnet-seg", "a house", "", 20, 7.5, 1.0, True, None)
    assert "steps" not in fast and "guidance_scale" not in fast  # LCM's own 4 steps and guidance
    steps.clear()
    img = st.render(ids, "controlnet-seg", 3, 1, fast, on_step).images[0]
    assert img.size == (64, 64) and not np.array_equal(arr(img), arr(here))
    assert steps == ([] if on_zerogpu else [(k, 4) for k in range(1, 5)])
    assert gen._lora_loaded != on_zerogpu  # loaded offline by Hub id (weight_name given), here or in the worker

    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 80, 3), dtype=np.uint8))
    styled = collect_options(st, "controlnet-seg", "a house", "", 2, 7.5, 1.0, False, photo)
    assert styled["style_image"] is photo
    img = st.render(ids, "controlnet-seg", 3, 1, styled).images[0]
    assert img.size == (64, 64) and not np.array_equal(arr(img), arr(here))
    assert st.generator("controlnet-seg").style_pipe is not None  # reloaded with style=True for the photo
    assert st._load_kwargs["controlnet-seg"] == {"style": True}
    again = st.render(ids, "controlnet-seg", 3, 1, opts).images[0]  # the style generator serves plain renders
    assert np.array_equal(arr(again), arr(here)) and st.generator("controlnet-seg").style_pipe is not None
    assert st.render(ids, "controlnet-seg", 3, 1, opts).heatmaps is None  # not asked for
    words = collect_options(st, "controlnet-seg", "a house", "", 2, 7.5, 1.0, False, None, True)
    mapped = st.render(ids, "controlnet-seg", 3, 1, words)  # the heat maps come back from the worker too
    assert list(mapped.heatmaps[0]) == ["a", "house"] and mapped.heatmaps[0]["house"].shape == (64, 64)
    assert np.array_equal(arr(mapped.images[0]), arr(here)) and "heatmaps" not in mapped.images[0].info
    if on_zerogpu:
        assert zero.calls == ["run"] * 6
        assert all(20 <= d <= zerogpu.GPU_MAX_SECONDS for d in zero.durations)


@needs_landscape
def test_nothing_touches_cuda_outside_spaces_gpu(zero, monkeypatch, tmp_path):
    """ZeroGPU shows CUDA as available everywhere but attaches a GPU only inside ``spaces.GPU`` functions.

    With ``torch.cuda.is_available`` faked True, ``pick_device`` would choose cuda for anything that asks;
    with ``torch.cuda._lazy_init`` (which every first CUDA tensor, module move or allocation goes through)
    raising, any real CUDA use fails the test. Building the app and rendering the embedded models live must
    work and keep them on the CPU."""
    from synth.app import build

    def no_cuda():
        raise AssertionError("CUDA used outside a spaces.GPU function")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    if not torch.cuda.is_initialized():
        monkeypatch.setattr(torch.cuda, "_lazy_init", no_cuda)
        with pytest.raises(AssertionError, match="outside a spaces.GPU"):
            synth.load("landscape")  # the trap works: off ZeroGPU the embedded model would move to cuda
    st = Studio(segmenter=fake_segmenter, out_dir=str(tmp_path))
    demo = build(model="landscape", studio=st)
    try:
        for model in ("landscape", "facades"):
            result = st.render(st.blank(model), model, 1, 2)
            assert len(result.images) == 2 and st.generator(model).device.type == "cpu"
        assert zero.calls == []
    finally:
        demo.close()


def test_upernet_runs_on_the_cpu_on_zerogpu(zero, tmp_path):
    """CUDA is attached only inside spaces.GPU functions: the ADE20K photo segmenter is made for the CPU there."""
    made = []

    def segmenter(name, **kw):
        made.append((name, kw))
        return lambda photo: np.zeros((photo.size[1], photo.size[0]), np.uint8)

    photo = tmp_path / "p.png"
    Image.new("RGB", (32, 24)).save(photo)
    st = Studio(segmenter=segmenter, out_dir=str(tmp_path / "out"))
    assert st.zero_gpu and st.segment(photo, "ade20k", fit=False).shape == (24, 32)
    st.segment(photo, "landscape", fit=False)
    assert made == [("ade20k", {"device": "cpu"}), ("landscape", {})]
