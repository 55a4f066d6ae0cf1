"""The backend registry (synth.generators.registry): one Backend record per name, register()."""

from __future__ import annotations

import pytest

import synth
from synth.generators import Backend, availability, backends, get, load, names, palette_of, register, unregister


@pytest.fixture
def scratch():
    """Names registered by a test are removed after it."""
    added: list[str] = []
    yield added
    for name in added:
        unregister(name)


def test_builtins_are_registered_with_palette_canvas_and_live():
    assert names()[:6] == ["landscape", "facades", "spade-ade20k", "spade-coco", "spade-cityscapes", "controlnet-seg"]
    assert [b.name for b in backends()] == names()
    assert get("Landscape").canvas == (256, 192) and get("landscape").live
    assert get("spade-cityscapes").canvas == (512, 256) and not get("spade-cityscapes").live
    assert palette_of("spade-coco") == "cocostuff" and palette_of("controlnet-seg") == "ade20k"


def test_register_a_callable_loader_and_check(scratch):
    made = []
    record = Backend(
        "toy", lambda **kw: made.append(kw) or "a generator", "facades", "toy", check=lambda n, **_: (False, n)
    )
    assert register(record) is record
    scratch.append("toy")
    assert "toy" in names() and synth.load("toy", device="cpu") == "a generator" and made == [{"device": "cpu"}]
    assert availability("toy") == (False, "toy")


def test_string_references_are_imported_lazily(scratch):
    register(Backend("toy-str", "synth.generators.registry:names", "facades", "toy", check="no_such_module_x:check"))
    scratch.append("toy-str")
    assert "toy-str" in load("toy-str")
    ok, reason = availability("toy-str")
    assert not ok and "missing package: no_such_module_x" in reason


def test_register_refuses_duplicates_bad_names_and_non_records(scratch):
    with pytest.raises(ValueError, match="already registered"):
        register(Backend("landscape", "x:y", "landscape", "again"))
    register(Backend("toy-r", "x:y", "landscape", "one"))
    scratch.append("toy-r")
    assert register(Backend("toy-r", "x:z", "landscape", "two"), replace=True).description == "two"
    with pytest.raises(ValueError, match="lower case"):
        register(Backend("Toy", "x:y", "landscape", "caps"))
    with pytest.raises(TypeError, match="Backend record"):
        register(("toy", "x", "y", "z"))
    with pytest.raises(ValueError, match="unknown model 'nope'; choose one of: landscape"):
        get("nope")
    unregister("toy-r")
    unregister("toy-r")  # twice is fine
    assert "toy-r" not in names()
