"""The web demo in a real browser: headless Debian Chromium driven by Playwright.

Paints strokes of two classes on the canvas with the mouse, waits for the live render and reads the
label map back through the app's own index-PNG download; then flood-fills a region by clicking the
"label map the model saw" image. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import io
import re
import shutil
import time
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("Debian chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip package) is not installed")

from palettes import load as load_palette  # noqa: E402
from synth.generators import availability  # noqa: E402

if not availability("landscape")[0]:
    pytest.skip("the embedded landscape model has no weights here", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAL = load_palette("landscape")
SKY, TREE, WATER, MOUNTAIN = (PAL.id_of(n) for n in ("sky", "tree", "water", "mountain"))


@pytest.fixture(scope="module")
def fake():
    from conftest import fake_slow_backend

    yield from fake_slow_backend(step_seconds=0.4)  # a slow backend: Render button and progress per step


@pytest.fixture(scope="module")
def app_url(fake):
    from ui_app import launch

    from synth.app import build
    from synth.studio import Studio
    from synth.ui import CSS

    demo = build(model="landscape", studio=Studio())
    url = launch(demo, css=CSS)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def page(app_url):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1400})
        pg.set_default_timeout(60_000)
        pg.goto(app_url)
        pg.wait_for_selector("#canvas canvas")
        yield pg
        browser.close()


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def _download(page, suffix: str) -> tuple[str, bytes] | None:
    """The file the Downloads component lists whose name ends with ``suffix``, fetched over HTTP."""
    for a in page.locator("#files a").all():
        href = a.get_attribute("href") or ""
        if href.split("?")[0].endswith(suffix):
            return href, _fetch(href if href.startswith("http") else page.url.rstrip("/") + href)
    return None


def _wait_for_index(page, ok, timeout: float = 90.0) -> np.ndarray:
    """Poll the index-PNG download until ``ok(ids)``; returns those ids."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        got = _download(page, "labels-index.png")
        if got is not None:
            last = np.asarray(Image.open(io.BytesIO(got[1])))
            if ok(last):
                return last
        page.wait_for_timeout(500)
    classes = None if last is None else sorted(np.unique(last).tolist())
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-failure.png"), full_page=True)
    raise AssertionError(f"the app's label map never matched; last classes: {classes}")


def _pick_class(page, class_id: int) -> None:
    """Click the class's swatch and wait until the editor's brush has its colour."""
    page.click(f"#swatches [data-id='{class_id}']")
    r, g, b = (int(v) for v in PAL.paint[class_id])
    page.wait_for_function(
        "want => { const b = document.querySelector(\"#canvas button[aria-label='Color']\");"
        " return b && getComputedStyle(b).color === want; }",
        arg=f"rgb({r}, {g}, {b})",
    )
    page.wait_for_timeout(500)


def _to_screen(page, x: float, y: float) -> tuple[float, float]:
    """Image pixel ``(x, y)`` of the 256x192 canvas -> page coordinates (the editor centres and zooms it)."""
    box = page.locator("#canvas canvas").first.bounding_box()
    zoom = float(page.locator("#canvas").inner_text().split("%")[0].split()[-1]) / 100
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return cx + (x - 128) * zoom, cy + (y - 96) * zoom


def _stroke(page, y: float, x0: float, x1: float) -> None:
    page.mouse.move(*_to_screen(page, x0, y))
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(*_to_screen(page, x0 + (x1 - x0) * k / 10, y))
    page.mouse.up()


def _paint(page, class_id: int, y: float, ok) -> None:
    """Pick ``class_id`` and paint a stroke along row ``y`` until the app's label map shows ``ok``.

    Painting the same line again is idempotent, so one retry is allowed (with a warning) for a stroke the
    editor dropped while busy; a second miss fails.
    """
    _pick_class(page, class_id)
    for attempt in range(2):
        _stroke(page, y, 40, 200)
        try:
            _wait_for_index(page, ok, timeout=45 if attempt == 0 else 90)
            return
        except AssertionError:
            if attempt:
                raise
            warnings.warn("the editor dropped a stroke; painting it again", stacklevel=2)


def test_paint_two_classes_live_render(page):
    # the first live render of the blank canvas arrives by itself
    _wait_for_index(page, lambda ids: ids.shape == (192, 256) and set(np.unique(ids).tolist()) == {SKY})
    _paint(page, WATER, 150, lambda ids: (ids[150, 60:180] == WATER).all())

    def painted(ids):
        return (ids[150, 60:180] == WATER).all() and (ids[50, 60:180] == TREE).all()

    _paint(page, TREE, 50, painted)
    ids = _wait_for_index(page, painted)
    assert set(np.unique(ids).tolist()) == {SKY, TREE, WATER}  # exactly the painted classes, on sky
    assert (ids[100, :] == SKY).all() and (ids[0, :] == SKY).all()  # unpainted rows stay the fill class
    photo = _download(page, "seed0.png")
    assert photo is not None, "no photo PNG among the downloads"
    img = Image.open(io.BytesIO(photo[1]))
    assert img.size == (256, 192) and img.mode == "RGB"
    assert np.asarray(img).std() > 5  # a picture, not a flat fill
    assert page.locator("#gallery img").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-painted.png"), full_page=True)


def test_click_label_map_flood_fills(page):
    _pick_class(page, MOUNTAIN)
    seen = page.locator("#seen img")
    box = seen.bounding_box()
    # a point in the sky band between the two strokes (image row ~100 of 192)
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 100 / 192)

    def filled(ids):
        return (ids[100, :] == MOUNTAIN).all()

    ids = _wait_for_index(page, filled)
    # the sky is one region (it connects around the strokes' ends): all of it is mountain now
    assert set(np.unique(ids).tolist()) == {TREE, WATER, MOUNTAIN}
    assert (ids[150, 60:180] == WATER).all() and (ids[50, 60:180] == TREE).all()
    page.screenshot(path=str(ARTIFACTS / "ui-filled.png"), full_page=True)


def test_switch_to_slow_backend_render_button_shows_progress(page, fake):
    page.locator("#model input").click()
    page.get_by_role("option", name="fake-slow").click()
    page.locator("#prompt textarea").wait_for(state="visible")  # diffusion options appear for this backend
    page.locator("#prompt textarea").fill("a lake at dawn")
    page.click("#render")
    # the progress bar counts the backend's steps (20 = the Steps slider's default)
    page.get_by_text(re.compile(r"step \d+/20")).first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "ui-render-progress.png"), full_page=True)

    def rendered(ids):
        return _download(page, "fake-slow-seed0-labels-index.png") is not None

    ids = _wait_for_index(page, rendered)
    # same palette (landscape): the painted and filled canvas is kept as it was
    assert set(np.unique(ids).tolist()) == {TREE, WATER, MOUNTAIN}
    assert fake.calls[-1]["prompt"] == "a lake at dawn" and fake.calls[-1]["steps"] == 20
