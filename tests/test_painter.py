"""The painter component's Python side (synth.ui.painter): values it is sent and pictures it sends back."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from ui_app import LAND, sample_ids

from synth.ui.painter import painter_value, picture, png_data_url


def test_value_round_trips_the_map_losslessly():
    colours = LAND.to_colors(sample_ids())
    classes = [{"id": s.id, "name": s.name, "hex": s.hex} for s in LAND.swatches]
    value = painter_value(colours, classes, LAND.fill, note="hi")
    assert np.array_equal(picture(value), colours) and value["note"] == "hi" and value["fill"] == LAND.fill
    assert value["base"] == value["image"] and value["classes"][4]["hex"] == LAND.swatches[4].hex
    assert painter_value(colours, classes, LAND.fill)["key"] != value["key"]  # every map the server sends is new


def test_picture_of_what_the_browser_sends():
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:, :3, :3] = LAND.paint[1]
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    sent = {"image": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), "stroke": 3}
    assert np.array_equal(picture(sent), rgba)
    assert picture(None) is None and picture({"stroke": 1}) is None


def test_picture_refuses_what_is_not_a_png_data_url():
    with pytest.raises(ValueError, match="PNG data URL"):
        picture({"image": "data:image/jpeg;base64,AAAA"})
    with pytest.raises(ValueError):
        picture({"image": "data:image/png;base64,not base64!"})
    assert png_data_url(np.zeros((2, 2, 3), np.uint8)).startswith("data:image/png;base64,")
