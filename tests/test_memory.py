"""Peak memory of one request to a running ``daub serve`` (issue 13).

A 0.2 MB PNG of 4096 x 4096 off-palette pixels (a gradient: every pixel goes through the nearest-colour
search) once cost the server about 4.9 GB. Each endpoint that reads a label map must now stay under
768 MB above the server's idle memory (issue 13 asked for 1 GB). The peak is the kernel's own
high-water mark (``VmHWM``), reset just before the request through ``/proc/PID/clear_refs``: exact,
not sampled.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import synth
from synth import generators

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak from /proc (Linux)"),
    pytest.mark.skipif(not generators.availability("landscape")[0], reason="embedded landscape weights are missing"),
]

LAND = synth.palette("landscape")
MB = 2**20
#: The bound: 1 GB in issue 13; measured 400-425 MB on both endpoints (it was 0.96-1.03 GB before the
#: nearest-colour search went in bands of rows), so a return to the old cost fails. The v2 landscape model
#: made /render's 1024 x 1024 render cost more (783 MB in CI: its full-size layers are wider); since they run
#: in bands of rows (``embedded.BAND_AREA``), /labels 363 MB, /render 481 MB.
LIMIT = 768 * MB
SIDE = 4096


def gradient_png() -> bytes:
    """4096 x 4096, every pixel off the landscape palette; compresses to a fraction of a MB."""
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    rgb = np.stack([x >> 4, y >> 4, ((x + y) >> 5) & 255], -1).astype(np.uint8) | 1  # odd: no paint colour
    paint = set(map(tuple, LAND.lut_paint.tolist())) | set(map(tuple, LAND.rgb.tolist()))
    assert not any(tuple(c) in paint for c in np.unique(rgb.reshape(-1, 3), axis=0)[::97].tolist())
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak(pid: int) -> None:
    """Set the process's peak RSS (``VmHWM``) back to its current RSS (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from gradio_client import Client, handle_file
    from ui_app import sample_ids

    from synth.bench_serve import Server
    from synth.labels import write_index_png

    work = tmp_path_factory.mktemp("memory")
    (work / "tmp").mkdir()
    srv = Server(work / "tmp", work / "server.log", "landscape", threads=1, cache_age=60)
    try:
        url = srv.start()
        try:
            reset_peak(srv.pid)
        except OSError as e:
            pytest.skip(f"cannot reset the peak RSS here: {e}")
        client = Client(url, verbose=False, download_files=str(work / "downloads"))
        small = work / "small.png"
        write_index_png(sample_ids(), small, "landscape")
        for api in ("/labels", "/render"):  # idle = model loaded, every code path imported and used once
            args = ("landscape", 0) if api == "/render" else ("landscape",)
            client.predict(handle_file(str(small)), *args, api_name=api)
        big = work / "gradient-4096.png"
        big.write_bytes(gradient_png())
        yield client, srv, big
        client.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("api", ["/labels", "/render"])
def test_a_4096_off_palette_png_costs_under_768mb_above_idle(server, api):
    from gradio_client import handle_file

    client, srv, big = server
    assert big.stat().st_size < 1_000_000  # a small file: the cost is the pixels, not the upload
    idle = status_kb(srv.pid, "VmRSS")
    reset_peak(srv.pid)
    args = ("landscape", 0) if api == "/render" else ("landscape",)
    try:
        out = client.predict(handle_file(str(big)), *args, api_name=api)
    except Exception as e:  # noqa: BLE001 - a one-line refusal is a right answer too
        message = str(e)
        assert "\n" not in message.strip() and len(message) < 300, message[:500]
    else:
        path = out[0] if api == "/labels" else out
        with Image.open(path) as img:
            assert img.size[0] >= 1
    peak = status_kb(srv.pid, "VmHWM")
    assert peak - idle < LIMIT, f"{api}: peak {(peak - idle) / MB:.0f} MB above idle ({idle / MB:.0f} MB)"
