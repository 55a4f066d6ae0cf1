"""Objects, not just regions: thing classes as palette data, default instance maps, 16-bit instance PNGs,
and the instance edges SPADE receives."""

from __future__ import annotations

import numpy as np
import pytest

import synth
from synth.labelmaps import default_instances
from synth.labels import THING_BASE, instance_edges, one_hot, read_instance_map, write_instance_png

COCO = synth.palette("cocostuff")
PERSON, GRASS, SKY = COCO.id_of("person"), COCO.id_of("grass"), COCO.id_of("sky-other")


def two_people() -> np.ndarray:
    """Grass below sky; two person blobs side by side, touching (one region when painted with one brush)."""
    ids = np.full((32, 64), SKY, np.uint8)
    ids[16:] = GRASS
    ids[8:28, 10:30] = PERSON  # one blob: two people painted next to each other
    return ids


def test_every_palette_names_its_things_with_a_source():
    for name in synth.PALETTES:
        pal = synth.palette(name)
        assert pal.things and pal.things_source, name
        assert all(0 <= t < pal.num_classes for t in pal.things)
    ade = synth.palette("ade20k")
    assert len(ade.things) == 100 and ade.id_of("person") in ade.things and ade.id_of("sky") not in ade.things
    unused = COCO.extra["unused"]
    assert set(COCO.things) == {i for i in range(91) if not unused[i]}  # COCO-Stuff: ids 0-90, those COCO uses
    city = synth.palette("cityscapes")
    assert [city.names[t] for t in city.things][:3] == ["person", "rider", "car"]
    assert synth.palette("coco133").things == tuple(range(80))


def test_default_instances_split_things_into_connected_parts_and_keep_stuff_ids():
    ids = two_people()
    ids[2:6, 50:56] = PERSON  # a second, separate person
    inst = default_instances(ids, COCO)
    assert (inst[ids == SKY] == SKY).all() and (inst[ids == GRASS] == GRASS).all()
    people = np.unique(inst[ids == PERSON])
    assert len(people) == 2 and people.min() >= THING_BASE


def test_painted_objects_make_two_people_out_of_one_blob_with_an_edge_between():
    ids = two_people()
    objects = np.zeros_like(ids, np.int32)
    objects[8:28, 10:20] = 1  # the painter's objects mode: left stroke = object 1
    objects[8:28, 20:30] = 2  # right stroke = object 2
    merged = default_instances(ids, COCO)
    assert len(np.unique(merged[ids == PERSON])) == 1  # one brush, no objects: one person
    inst = default_instances(ids, COCO, objects)
    assert inst[15, 15] != inst[15, 25] and min(inst[15, 15], inst[15, 25]) >= THING_BASE
    edges = instance_edges(inst).numpy()
    assert edges[15, 19] == 1 and edges[15, 20] == 1 and edges[15, 14] == 0  # the edge between them
    assert instance_edges(merged).numpy()[15, 19:21].sum() == 0
    x = one_hot(ids, COCO, instance=inst)
    assert x.shape[0] == COCO.num_classes + 2 and x[-1, 15, 19] == 1  # the instance-edge channel


def test_instance_pngs_round_trip_16_bit(tmp_path):
    inst = default_instances(two_people(), COCO)
    inst[0, 0] = 65535
    write_instance_png(inst, tmp_path / "inst.png")
    back = read_instance_map(tmp_path / "inst.png")
    assert back.dtype == np.int64 and np.array_equal(back, inst)
    for bad, msg in ((np.full((2, 2), 70000), "0..65535"), (np.zeros((2, 2), float), "integer")):
        with pytest.raises(ValueError, match=msg):
            write_instance_png(bad, tmp_path / "bad.png")


# -- through the Studio and over HTTP, against a tiny official-format SPADE coco checkpoint -------------


@pytest.fixture(scope="module")
def coco_checkpoint(tmp_path_factory):
    """``spade-coco`` is a tiny random generator in the official checkpoint format (via DAUB_SPADE_COCO)."""
    from test_spade import tiny_official

    path = tiny_official(tmp_path_factory.mktemp("spade") / "coco.pth", COCO.num_classes + 2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAUB_SPADE_COCO", str(path))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield path


@pytest.fixture(scope="module")
def studio(coco_checkpoint, tmp_path_factory):
    from ui_app import fake_segmenter

    from synth.studio import Studio

    return Studio(segmenter=fake_segmenter, out_dir=str(tmp_path_factory.mktemp("out")))


def test_the_studio_gives_spade_coco_its_instances_and_exports_them(studio):
    ids = two_people()
    assert studio.takes_instances("spade-coco") and not studio.takes_instances("landscape")
    assert studio.instances(ids, "landscape") is None
    plain = studio.render(ids, "spade-coco", 1)  # nothing painted: one object per connected part
    assert len(np.unique(plain.instance[ids == PERSON])) == 1
    objects = np.zeros(ids.shape, np.int32)
    objects[8:28, 10:20], objects[8:28, 20:30] = 1, 2
    inst = studio.instances(ids, "spade-coco", objects)
    two = studio.render(ids, "spade-coco", 1, options={"instance": inst})
    assert len(np.unique(two.instance[ids == PERSON])) == 2
    assert np.asarray(two.images[0]).tobytes() != np.asarray(plain.images[0]).tobytes()  # the edge reached the model
    files = studio.export(two)
    back = read_instance_map(next(f for f in files if f.endswith("-labels-instances.png")))
    assert np.array_equal(back, two.instance)


def test_render_over_http_takes_an_instance_map(studio, tmp_path):
    from gradio_client import Client, handle_file
    from PIL import Image
    from ui_app import launch

    from synth.app import build
    from synth.labels import write_index_png

    ids = two_people()
    write_index_png(ids, tmp_path / "map.png", COCO)
    objects = np.zeros(ids.shape, np.int32)
    objects[8:28, 10:20], objects[8:28, 20:30] = 1, 2
    write_instance_png(default_instances(ids, COCO, objects), tmp_path / "inst.png")
    write_instance_png(np.zeros((4, 4), np.uint16), tmp_path / "small.png")
    demo = build(model="landscape", studio=studio)
    client = Client(launch(demo), verbose=False)
    try:
        m = handle_file(str(tmp_path / "map.png"))
        with_inst = [client.predict(m, "spade-coco", 2, handle_file(str(tmp_path / "inst.png")), api_name="/render")]
        with_inst.append(
            client.predict(m, "spade-coco", 2, handle_file(str(tmp_path / "inst.png")), api_name="/render")
        )
        without = client.predict(m, "spade-coco", 2, api_name="/render")  # the three-argument call still works
        a, b, c = (np.asarray(Image.open(p)) for p in (*with_inst, without))
        assert a.shape == (32, 64, 3) and np.array_equal(a, b) and not np.array_equal(a, c)
        with pytest.raises(Exception, match="instance map is 4x4, the label map 64x32") as err:
            client.predict(m, "spade-coco", 2, handle_file(str(tmp_path / "small.png")), api_name="/render")
        assert "\n" not in str(err.value).strip()
        land = synth.palette("landscape")
        write_index_png(np.full(ids.shape, land.id_of("sky"), np.uint8), tmp_path / "sky.png", land)
        sky = handle_file(str(tmp_path / "sky.png"))
        ignored = client.predict(sky, "landscape", 2, handle_file(str(tmp_path / "inst.png")), api_name="/render")
        plain = client.predict(sky, "landscape", 2, api_name="/render")
        assert np.array_equal(np.asarray(Image.open(ignored)), np.asarray(Image.open(plain)))  # ignored
    finally:
        client.close()
        demo.close()
