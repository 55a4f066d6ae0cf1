"""Objects, words and regions in a real browser (headless Chromium, Playwright): the painter's objects mode
makes two people out of two strokes side by side, a render with a prompt shows where each word acted, and
Re-draw gives one class a new look and keeps the rest of the photo.

Two fake backends stand in, registered like any backend: ``fake-objects`` (live, COCO-Stuff palette, takes
an instance map and records the one it receives) and ``fake-words`` (renders on the button, ADE20K palette,
reports a heat map per prompt word: "lake" in the lower half, "sky" in the upper half). ``tiny-v2`` is a
real v2 embedded generator (3D noise) with small random weights, live, landscape palette.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from test_browser import ARGS, CHROMIUM, open_details, screen, shot, switch_model, sync_api

import synth
from synth.generators import Backend, BaseGenerator, SizeRule, register, unregister

pytestmark = pytest.mark.browser
COCO, ADE = synth.palette("cocostuff"), synth.palette("ade20k")
PERSON = COCO.id_of("person")


class FakeObjects(BaseGenerator):
    """Live, COCO-Stuff: records every instance map it receives; the photo shows the instance edges."""

    name = "fake-objects"
    options = ("instance",)
    use_instance = True

    def __init__(self):
        self.palette = COCO
        self.size_rule = SizeRule(multiple=32, default=(256, 192))
        self.received: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def device(self):
        return "cpu"

    def _generate(self, ids, seeds, instance=None):
        self.received.append((ids.copy(), None if instance is None else np.asarray(instance).copy()))
        h, w = ids.shape
        return [Image.new("RGB", (w, h), (90, 120, 160)) for _ in seeds]


class FakeWords(BaseGenerator):
    """Renders on the button, ADE20K: one heat map per prompt word ("lake" low, "sky" high, others flat)."""

    name = "fake-words"
    options = ("prompt", "heatmaps")

    def __init__(self):
        self.palette = ADE
        self.size_rule = SizeRule(multiple=32, default=(256, 192))
        self.last_heatmaps = None

    @property
    def device(self):
        return "cpu"

    def _generate(self, ids, seeds, prompt="", heatmaps=False):
        h, w = ids.shape
        rows = np.linspace(0, 1, h, dtype=np.float32)[:, None].repeat(w, 1)
        shapes = {"lake": rows, "sky": 1 - rows}
        maps = {word: shapes.get(word, np.full((h, w), 0.5, np.float32)) for word in prompt.split()}
        self.last_heatmaps = [maps for _ in seeds] if heatmaps else None
        return [Image.new("RGB", (w, h), (200, 200, 200)) for _ in seeds]


@pytest.fixture(scope="module")
def fakes():
    objects, words = FakeObjects(), FakeWords()
    register(Backend(objects.name, lambda **_: objects, "cocostuff", "fake objects", (256, 192), live=True))
    register(Backend(words.name, lambda **_: words, "ade20k", "fake words", (256, 192)))
    yield objects, words
    unregister(objects.name)
    unregister(words.name)


@pytest.fixture(scope="module")
def tiny_v2_backend():
    from test_recipe_v2 import tiny_v2

    from synth.generators.embedded import EmbeddedGenerator

    model = tiny_v2()
    model.config.default_size = (256, 192)
    gen = EmbeddedGenerator("landscape", model)
    register(Backend("tiny-v2", lambda **_: gen, "landscape", "tiny random v2 model", (256, 192), live=True))
    yield gen
    unregister("tiny-v2")


@pytest.fixture(scope="module")
def page(fakes, tiny_v2_backend):
    from ui_app import launch

    from synth.app import build
    from synth.studio import Studio
    from synth.ui import CSS

    demo = build(model="landscape", studio=Studio())
    url = launch(demo, css=CSS)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 800})
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(30_000)
        pg.goto(url)
        pg.wait_for_function("() => !!(window.daubPainter && daubPainter.ids() && daubPainter.ids().length > 0)")
        yield pg
        browser.close()
    demo.close()
    assert not errors, errors


def wait_for_palette(page, first: str) -> None:
    """Wait until the painter shows the new model's classes (its first class is called ``first``)."""
    page.wait_for_function(
        "n => { const e = document.querySelector('#painter .dp-sw[data-class-id=\"0\"] .dp-name');"
        " return !!e && e.textContent === n; }",
        arg=first,
    )


def stroke_down(page, x: float, y0: float, y1: float) -> None:
    """A vertical mouse stroke along picture column ``x``."""
    page.mouse.move(*screen(page, x, y0))
    page.mouse.down()
    page.mouse.move(*screen(page, x, y1), steps=10)
    page.mouse.up()


def test_objects_mode_makes_two_people_out_of_two_strokes_side_by_side(page, fakes):
    objects, _ = fakes
    switch_model(page, "fake-objects")
    wait_for_palette(page, "person")
    box = page.locator("#painter .dp-search")
    box.fill("person")
    box.press("Enter")
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press("o")
    assert page.evaluate("daubPainter.objectsMode()") and page.evaluate("daubPainter.cls()") == PERSON
    page.evaluate(
        "() => { const s = document.querySelector('#painter .dp-size'); s.value = 20; s.dispatchEvent(new Event('input')); }"
    )
    stroke_down(page, 100, 60, 150)  # two people, the strokes 18 px apart: touching, one blob of person
    stroke_down(page, 118, 60, 150)
    deadline = time.time() + 45
    while time.time() < deadline:
        if objects.received and len(np.unique(objects.received[-1][1][objects.received[-1][0] == PERSON])) == 2:
            break
        page.wait_for_timeout(100)
    ids, inst = objects.received[-1]
    person = ids == PERSON
    assert 2 == len(np.unique(inst[person])), "the model did not receive two people"
    from scipy import ndimage

    assert ndimage.label(person)[1] == 1  # one blob of paint: only objects mode tells the two apart
    left, right = inst[100, 95], inst[100, 123]
    assert left != right and min(left, right) >= 256
    painted = np.asarray(page.evaluate("Array.from(daubPainter.objects())")).reshape(192, 256)
    assert set(np.unique(painted[person])) == {1, 2}
    open_details(page)
    page.locator("#instances img").wait_for(state="visible")
    shot(page, "objects_mode.png")
    page.keyboard.press("o")  # off again: new strokes are not new objects
    assert not page.evaluate("daubPainter.objectsMode()")


def test_a_render_with_a_prompt_shows_where_each_word_acted(page, fakes):
    switch_model(page, "fake-words")
    wait_for_palette(page, "wall")  # ADE20K's first class
    page.click("#render")  # no prompt yet: fake-words makes no maps, the word picker stays hidden
    page.wait_for_timeout(500)
    page.get_by_text("Diffusion options").click()
    page.locator("#prompt textarea, #prompt input").first.fill("a lake under the sky")
    page.click("#render")
    page.locator("#heat-word").wait_for(state="visible")
    words = page.eval_on_selector_all("#heat-word label", "ls => ls.map(l => l.innerText.trim())")
    assert words == ["a", "lake", "under", "the", "sky"]
    img = page.locator("#heat-image img")
    img.wait_for(state="visible")
    first = img.get_attribute("src")
    page.locator("#heat-word label", has_text="sky").click()
    page.wait_for_function(
        "s => { const i = document.querySelector('#heat-image img'); return i && i.src !== s; }", arg=first
    )
    shot(page, "word_heatmap.png")
    open_details(page)
    report = page.locator("#report").inner_text()
    assert "layout_agreement" in report


def test_redraw_gives_one_class_a_new_look_and_keeps_the_rest(page):
    from test_browser import fetch_image, photo_srcs, wait_photo_change

    land = synth.palette("landscape")
    tree = land.id_of("tree")
    switch_model(page, "tiny-v2")
    wait_for_palette(page, "sky")
    page.locator("#region-row").wait_for(state="visible")
    before = photo_srcs(page)
    box = page.locator("#painter .dp-search")
    box.fill("tree")
    box.press("Enter")
    page.evaluate(
        "() => { const s = document.querySelector('#painter .dp-size'); s.value = 60; s.dispatchEvent(new Event('input')); }"
    )
    page.mouse.move(*screen(page, 10, 150))
    page.mouse.down()
    page.mouse.move(*screen(page, 246, 150), steps=12)
    page.mouse.up()
    painted = np.asarray(page.evaluate("Array.from(daubPainter.ids())")).reshape(192, 256)
    is_tree = painted == tree
    assert 0.2 < is_tree.mean() < 0.6
    wait_photo_change(page, before, count=1)
    page.wait_for_timeout(1500)  # the last stroke's render settles
    first = photo_srcs(page)
    base = fetch_image(first[0])
    page.locator("#region-class input").click()
    page.get_by_role("option", name="tree", exact=True).click()
    page.click("#redraw")
    redrawn = fetch_image(wait_photo_change(page, first, count=1)[0])
    diff = np.abs(redrawn - base).mean(-1)
    inside = diff[is_tree].mean()
    far_sky = diff[:40].mean()  # sky well away from the tree's edge
    assert inside > 5 and inside > 4 * far_sky, (inside, far_sky)
    open_details(page)
    page.wait_for_function("() => /region_seeds[^]*tree/.test(document.querySelector('#report').innerText)")
    shot(page, "redraw_one_class.png")
    # New variation: a new seed for the whole photo, the re-drawn class goes back with it
    page.click("#variation")
    wait_photo_change(page, photo_srcs(page), count=1)
    page.wait_for_function("() => !document.querySelector('#report').innerText.includes('region_seeds')")
    switch_model(page, "fake-objects")  # no 3D noise: the re-draw row goes
    page.locator("#region-row").wait_for(state="hidden")
