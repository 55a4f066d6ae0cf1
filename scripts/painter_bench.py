"""Measure the web page's painter in headless Chromium; prints one JSON object.

* ``latency_ms``: mouse-up -> new photo shown (the gallery image has a new URL and has loaded), in the
  browser's clock, over ``--strokes`` strokes, each of another class than the one before (so the photo
  changes); ``requests_per_stroke``: page requests from mouse-down to that moment, and their kinds.
* ``dropped``: strokes missing from the label map the server rendered last (the index PNG download),
  once for the strokes above (each awaited) and once for as many strokes painted back to back.
* ``first_stroke``: on ``--loads`` fresh page loads, a stroke right when the painter is ready; success
  when the server's map has it; the time from mouse-up until the photo of that map is shown (the report
  beside it names the stroke's class); and on how many loads something (Gradio's loading overlay) still
  covered the canvas after the painter was ready, for how long.
* ``--screenshots DIR`` also writes ``painter_desktop.png`` (1280x800) and ``painter_phone.png``
  (390x844, full page) for the README.

Needs Debian ``chromium`` and the pip ``playwright`` package (no ``playwright install``)::

    .venv/bin/python scripts/painter_bench.py --strokes 30 --loads 10 --out bench.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # ui_app: the tests' in-process launch on a free port
sys.path.insert(0, str(REPO))

ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-background-networking"]
READY = "() => window.daubPainter && daubPainter.ids() && daubPainter.ids().length > 0"
PHOTO_CHANGED = """before => {
  const i = document.querySelector('#gallery img');
  return i && i.src !== before && i.complete && i.naturalWidth > 0 ? performance.now() : false;
}"""
REPORT_HAS = """name => {
  const r = document.querySelector('#report'), i = document.querySelector('#gallery img');
  return r && r.innerText.includes('"' + name + '"') && i && i.complete && i.naturalWidth > 0 ? performance.now() : false;
}"""
#: For 5 s after the painter is ready: the frames in which a click at the canvas centre would not reach it
#: (frames where the bench itself has scrolled the canvas centre out of view, to open the details, do not count).
COVER_WATCH = """window.__covered = []; window.__readyAt = null;
(() => { const tick = () => {
  const c = document.querySelector('#painter canvas.dp-canvas');
  if (window.daubPainter && daubPainter.ids() && c) {
    if (window.__readyAt === null) window.__readyAt = performance.now();
    const r = c.getBoundingClientRect(), x = r.x + r.width / 2, y = r.y + r.height / 2;
    const inView = x >= 0 && y >= 0 && x < innerWidth && y < innerHeight;  // scrolled away is not covered
    const e = inView ? document.elementFromPoint(x, y) : null;
    if (inView && (!e || !e.closest('.dp-stage'))) window.__covered.push(performance.now() - window.__readyAt);
  }
  if (window.__readyAt === null || performance.now() - window.__readyAt < 5000) requestAnimationFrame(tick);
}; requestAnimationFrame(tick); })();"""
MARK_UP = """() => { window.__up = null; window.__down = null;
  window.addEventListener('pointerdown', () => { window.__down = performance.now(); }, true);
  window.addEventListener('pointerup', () => { window.__up = performance.now(); }, true); }"""


def painted(page) -> np.ndarray:
    w, h, ids = page.evaluate(
        "() => { const c = document.querySelector('#painter canvas.dp-canvas');"
        " return [c.width, c.height, Array.from(daubPainter.ids())]; }"
    )
    return np.asarray(ids, np.int64).reshape(h, w)


def screen(page, x: float, y: float) -> tuple[float, float]:
    box = page.locator("#painter canvas.dp-canvas").bounding_box()
    w, h = page.evaluate(
        "() => { const c = document.querySelector('#painter canvas.dp-canvas'); return [c.width, c.height]; }"
    )
    return box["x"] + (x + 0.5) * box["width"] / w, box["y"] + (y + 0.5) * box["height"] / h


def stroke(page, y: float, x0: float, x1: float, steps: int = 6) -> None:
    page.mouse.move(*screen(page, x0, y))
    page.mouse.down()
    page.mouse.move(*screen(page, x1, y), steps=steps)
    page.mouse.up()


def photo_src(page) -> str | None:
    return page.evaluate("() => { const i = document.querySelector('#gallery img'); return i ? i.src : null; }")


def server_map(page, want: np.ndarray, timeout: float = 30.0) -> np.ndarray | None:
    """The index PNG the server wrote for its latest render, once it equals ``want`` (else the last one)."""
    if not page.locator("#files").is_visible():
        page.click("#details > button.label-wrap")
        page.locator("#files").wait_for(state="visible")
    deadline, href, got = time.time() + timeout, None, None
    while time.time() < deadline:
        new = page.evaluate(
            "() => { const a = Array.from(document.querySelectorAll('#files a'))"
            ".find(a => a.href.split('?')[0].endsWith('labels-index.png')); return a ? a.href : null; }"
        )
        if new and new != href:
            href = new
            with urllib.request.urlopen(new, timeout=30) as r:
                got = np.asarray(Image.open(io.BytesIO(r.read()))).astype(np.int64)
            if got.shape == want.shape and (got == want).all():
                return got
        page.wait_for_timeout(100)
    return got


def count_seen(server: np.ndarray | None, strokes) -> int:
    if server is None:
        return 0
    return sum(bool((server[y, x0 : x1 + 1] == c).all()) for c, y, x0, x1 in strokes)


def kind(request) -> str:
    """A short name for a page request: method and path without the session or file hash."""
    url = request.url.split("?")[0]
    path = url.split("/", 3)[-1]
    if "gradio_api/file=" in path:
        return f"{request.method} file ({request.resource_type}, {path.rsplit('.', 1)[-1]})"
    return f"{request.method} /{path}"


def classes(pal) -> list[int]:
    skip = {pal.fill, getattr(pal, "dontcare", None)}
    return [pal.id_of(n) for n in pal.names if pal.id_of(n) not in skip]


def rows(n: int, h: int) -> list[int]:
    """``n`` rows spread over the picture, at least 3 apart (brush size 3 keeps strokes apart)."""
    step = (h - 8) / max(1, n - 1)
    if step < 3:
        raise SystemExit(f"at most {(h - 8) // 3 + 1} non-overlapping strokes fit in {h} rows")
    return [round(4 + step * k) for k in range(n)]


def set_size(page, size: int) -> None:
    page.locator("#painter .dp-size").fill(str(size))


def latency_run(browser, url: str, n: int, pal) -> dict:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    log: list[tuple[float, str]] = []
    page.on("request", lambda r: log.append((time.monotonic(), kind(r))))
    page.goto(url)
    page.wait_for_function(READY)
    page.wait_for_function(PHOTO_CHANGED, arg="", timeout=60_000)  # the first photo
    page.evaluate(MARK_UP)
    set_size(page, 3)
    h, w = painted(page).shape
    cls_list, latencies, per_stroke, kinds, strokes = classes(pal), [], [], Counter(), []
    for k, y in enumerate(rows(n, h)):
        cls = cls_list[k % len(cls_list)]
        page.click(f"#painter [data-class-id='{cls}']")
        before = photo_src(page)
        t0 = time.monotonic()
        stroke(page, y, 10 + k % 20, w - 10 - k % 20)
        done = page.wait_for_function(PHOTO_CHANGED, arg=before, polling="raf", timeout=60_000).json_value()
        t1 = time.monotonic()
        latencies.append(done - page.evaluate("window.__up"))
        reqs = [kd for t, kd in log if t0 <= t <= t1]
        per_stroke.append(len(reqs))
        kinds.update(reqs)
        strokes.append((cls, y, 10 + k % 20, w - 10 - k % 20))
    want = painted(page)
    seen = count_seen(server_map(page, want), strokes)
    ctx.close()
    return {
        "latency_ms": {
            "median": round(statistics.median(latencies), 1),
            "max": round(max(latencies), 1),
            "min": round(min(latencies), 1),
            "n": len(latencies),
        },
        "requests_per_stroke": {
            "mean": round(statistics.mean(per_stroke), 2),
            "max": max(per_stroke),
            "kinds": {k: round(v / len(per_stroke), 2) for k, v in kinds.most_common()},
        },
        "awaited": {"strokes": len(strokes), "seen": seen, "dropped": len(strokes) - seen},
    }


def burst_run(browser, url: str, n: int, pal) -> dict:
    """``n`` strokes back to back (no waiting for photos); then the server's last map must hold them all."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_function(READY)
    set_size(page, 3)
    h, w = painted(page).shape
    cls_list, strokes = classes(pal), []
    t0 = time.monotonic()
    for k, y in enumerate(rows(n, h)):
        cls = cls_list[k % len(cls_list)]
        page.click(f"#painter [data-class-id='{cls}']")
        stroke(page, y, 20, w - 20, steps=3)
        strokes.append((cls, y, 20, w - 20))
    painting_s = time.monotonic() - t0
    want = painted(page)
    t1 = time.monotonic()
    seen = count_seen(server_map(page, want), strokes)
    out = {
        "strokes": n,
        "seen": seen,
        "dropped": n - seen,
        "painting_s": round(painting_s, 2),
        "last_map_after_s": round(time.monotonic() - t1, 2),
    }
    ctx.close()
    return out


def first_stroke_run(browser, url: str, loads: int, pal) -> dict:
    ok, ready_ms, photo_ms, covered = 0, [], [], []
    for k in range(loads):
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        ctx.add_init_script(COVER_WATCH)
        page = ctx.new_page()
        t0 = time.monotonic()
        page.goto(url)
        page.wait_for_function(READY, polling="raf")
        ready_ms.append((time.monotonic() - t0) * 1000)
        page.evaluate(MARK_UP)
        cls = page.evaluate("daubPainter.cls()")
        h, w = painted(page).shape
        y = 20 + (k * 13) % (h - 40)
        page.click("#details > button.label-wrap")  # the report names the classes of the map rendered
        page.evaluate("window.scrollTo(0, 0)")  # opening the details scrolled the canvas partly out of view
        stroke(page, y, 30, w - 30)
        want = painted(page)
        try:
            done = page.wait_for_function(REPORT_HAS, arg=pal.names[cls], polling="raf", timeout=30_000).json_value()
            photo_ms.append(done - page.evaluate("window.__up"))
        except Exception:  # noqa: BLE001 - a missing photo shows as a failure below
            pass
        server = server_map(page, want)
        frames = page.evaluate("window.__covered")
        if frames:
            covered.append(max(frames))
        ok += int(server is not None and server.shape == want.shape and (server[y, 30 : w - 29] == cls).all())
        ctx.close()
    return {
        "loads": loads,
        "succeeded": ok,
        "ready_after_goto_ms_median": round(statistics.median(ready_ms), 1),
        "mouse_up_to_its_photo_ms_median": round(statistics.median(photo_ms), 1) if photo_ms else None,
        "loads_with_canvas_covered_after_ready": len(covered),
        "canvas_covered_until_ms_after_ready_max": round(max(covered), 1) if covered else 0,
    }


def screenshots(browser, url: str, folder: Path, pal) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    examples = sorted((REPO / "synth" / "examples" / pal.name).glob("*.png"))
    k = [p.stem for p in examples].index("lake")
    for name, opts in (
        ("painter_desktop.png", {"viewport": {"width": 1280, "height": 800}}),
        ("painter_phone.png", {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
                               "device_scale_factor": 1}),
    ):  # fmt: skip
        ctx = browser.new_context(**opts)
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_function(READY)
        page.wait_for_function(PHOTO_CHANGED, arg="", timeout=60_000)
        lake = np.asarray(Image.open(examples[k])).astype(np.int64)
        page.click(f"#examples button[aria-label='Thumbnail {k + 1} of {len(examples)}']")
        deadline = time.time() + 20
        while not (painted(page) == lake).all() and time.time() < deadline:
            page.wait_for_timeout(100)
        # a road along the shore, a house and a tree on the near bank
        for cls, a, b, size in (("road", (0, 150), (255, 150), 6), ("building", (205, 112), (205, 124), 16),
                                ("tree", (30, 118), (30, 140), 12)):  # fmt: skip
            page.click(f"#painter [data-class-id='{pal.id_of(cls)}']")
            set_size(page, size)
            before = photo_src(page)
            page.mouse.move(*screen(page, *a))
            page.mouse.down()
            page.mouse.move(*screen(page, *b), steps=6)
            page.mouse.up()
            page.wait_for_function(PHOTO_CHANGED, arg=before, timeout=60_000)
        page.mouse.move(0, 0)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(500)
        path = folder / name
        page.screenshot(path=str(path), full_page=name == "painter_phone.png")
        out.append(str(path))
        ctx.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strokes", type=int, default=30, help="strokes measured one by one (and painted in a burst)")
    ap.add_argument("--loads", type=int, default=10, help="fresh page loads for the first-stroke check")
    ap.add_argument("--model", default="landscape")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--screenshots", default=None, help="folder for painter_desktop.png / painter_phone.png")
    args = ap.parse_args(argv)

    import gradio as gr
    from playwright.sync_api import sync_playwright
    from ui_app import launch

    import synth
    from synth.app import build
    from synth.studio import Studio
    from synth.ui import CSS

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian chromium is not installed (apt-get install -y chromium)")
    pal = synth.palette(args.model)
    demo = build(model=args.model, studio=Studio())
    url = launch(demo, css=CSS)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=ARGS)
            result = {"model": args.model}
            result.update(latency_run(browser, url, args.strokes, pal))
            result["burst"] = burst_run(browser, url, args.strokes, pal)
            result["dropped"] = result["awaited"]["dropped"] + result["burst"]["dropped"]
            result["first_stroke"] = first_stroke_run(browser, url, args.loads, pal)
            if args.screenshots:
                result["screenshots"] = screenshots(browser, url, Path(args.screenshots), pal)
            result["machine"] = {
                "cpu_count": os.cpu_count(),
                "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                "platform": platform.platform(),
                "python": platform.python_version(),
                "chromium": browser.version,
                "gradio": gr.__version__,
            }
            browser.close()
    finally:
        demo.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
