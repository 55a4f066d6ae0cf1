"""Shared fixtures: the location of ``../shared`` (datasets, reference material) and fake backends
registered the way users add one (:func:`synth.generators.register`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

import synth
from synth.generators import Backend, BaseGenerator, SizeRule, register, unregister

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` relative to the repo root; skips the test when it is absent."""
    path = REPO.parent / "shared"
    if not path.is_dir():
        pytest.skip(f"../shared not present: {path} is missing (datasets and reference material live there)")
    return path


class FakeSlowGenerator(BaseGenerator):
    """A stand-in for a diffusion backend: takes prompt/steps/callback and reports every step."""

    name = "fake-slow"
    options = ("prompt", "steps", "callback")

    def __init__(self, step_seconds: float = 0.05):
        self.step_seconds = step_seconds
        self.palette = synth.palette("landscape")
        self.size_rule = SizeRule(multiple=32, default=(256, 192))
        self.calls: list[dict] = []

    @property
    def device(self):
        return "cpu"

    def _generate(self, ids, seeds, prompt="", steps=8, callback=None):
        self.calls.append({"prompt": prompt, "steps": steps, "shape": ids.shape})
        for k in range(1, int(steps) + 1):
            time.sleep(self.step_seconds)
            if callback is not None:
                callback(k, int(steps), None)
        h, w = ids.shape
        return [Image.new("RGB", (w, h), (seed % 256, 40, 200)) for seed in seeds]


def fake_slow_backend(step_seconds: float = 0.05):
    """Register ``fake-slow`` (a :class:`FakeSlowGenerator`); yields the instance it loads, then unregisters."""
    gen = FakeSlowGenerator(step_seconds)
    register(Backend(gen.name, lambda **_: gen, "landscape", "fake slow backend for tests", canvas=(256, 192)))
    try:
        yield gen
    finally:
        unregister(gen.name)


@pytest.fixture(scope="module")
def fake_slow():
    """The ``fake-slow`` backend, registered for one test module."""
    yield from fake_slow_backend()


@pytest.fixture(scope="module")
def fake_missing():
    """A registered backend that is never available here (its check says it needs a download)."""
    name = "fake-missing"
    register(
        Backend(name, lambda **_: None, "landscape", "needs a download", check=lambda key, **_: (False, "a download"))
    )
    yield name
    unregister(name)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a test module (tiny models gain nothing from more; restored afterwards)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test's report also holds what the page showed: a screenshot, the #report text and
    Gradio's error toasts (a timeout alone does not say which render never came)."""
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and hasattr(page, "screenshot"):
        try:
            from test_browser import ARTIFACTS, shot  # the browser tests' own screenshot folder and helper

            name = f"failed_{item.name}.png"
            shot(page, name)
            path = ARTIFACTS / name
            seen = page.evaluate(
                "() => ({report: document.querySelector('#report')?.innerText.replace(/\\s*\\n\\s*/g, ' ') ?? null,"
                " toasts: Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).map(t => t.innerText)})"
            )
            report.sections.append(("page at failure", f"screenshot: {path}\n{seen}"))
        except Exception as e:  # noqa: BLE001 - diagnostics only, never hide the failure itself
            report.sections.append(("page at failure", f"could not capture the page: {e!r}"))
    return report
