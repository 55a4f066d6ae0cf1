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
    ids = np.full((32, 48), SKY, np.uint8)
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
    ids[2:6, 40:46] = PERSON  # a second, separate person
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
