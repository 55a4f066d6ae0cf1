"""Ids -> model input: one-hot channels (SPADE layout), instance edges, nearest resizing, size snapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import synth
from synth.labels import instance_edges, one_hot, resize_labels, snap_size

ADE = synth.palette("ade20k")


def spade_ade20k_one_hot(ids: np.ndarray) -> torch.Tensor:
    """What SPADE's ade20k pipeline feeds its generator, written out from its steps.

    ADE annotation PNG value = train id + 1, 0 = "other"; the loader takes ``label - 1`` and maps the
    resulting -1 to ``label_nc`` (150), then scatters into ``label_nc + 1`` channels.
    """
    annotation = np.where(ids == 255, 0, ids.astype(np.int64) + 1)
    label = annotation - 1
    label[label == -1] = 150
    t = torch.from_numpy(label)[None, None]
    out = torch.zeros(1, 151, *ids.shape)
    return out.scatter_(1, t, 1.0)[0]


def test_ade20k_one_hot_matches_spade_loader():
    rng = np.random.default_rng(0)
    ids = rng.choice(ADE.lut_ids, size=(9, 11)).astype(np.uint8)
    ids[0, 0], ids[0, 1], ids[0, 2] = 255, 0, 149
    x = one_hot(ids, ADE)
    assert x.shape == (151, 9, 11) and x.dtype == torch.float32
    torch.testing.assert_close(x, spade_ade20k_one_hot(ids), rtol=0, atol=0)
    assert x[150, 0, 0] == 1 and x[:150, 0, 0].sum() == 0  # "other" -> channel 150
    assert x[0, 0, 1] == 1 and x[149, 0, 2] == 1
    assert set(torch.unique(x).tolist()) == {0.0, 1.0}
    assert torch.equal(x.sum(0), torch.ones(9, 11))


def test_dontcare_channel_switch():
    ids = np.array([[0, 255], [3, 149]], np.uint8)
    no_dc = one_hot(ids, "ade20k", dontcare=False)
    assert no_dc.shape == (150, 2, 2)
    assert no_dc[:, 0, 1].sum() == 0  # don't-care pixels are all-zero without the channel
    assert no_dc[3, 1, 0] == 1 and no_dc[149, 1, 1] == 1
    assert torch.equal(one_hot(ids, "ade20k", dontcare=True), one_hot(ids, "ade20k"))


@pytest.mark.parametrize(
    ("name", "channels"),
    [("ade20k", 151), ("cocostuff", 183), ("cityscapes", 35), ("coco133", 134), ("facades", 12), ("landscape", 9)],
)
def test_channel_counts(name, channels):
    pal = synth.palette(name)
    ids = np.zeros((4, 5), np.uint8)
    assert one_hot(ids, pal).shape == (channels, 4, 5)
    assert one_hot(ids, pal, instance=np.zeros((4, 5), int)).shape == (channels + 1, 4, 5)


def test_landscape_unknown_goes_to_channel_8():
    ids = np.array([[15, 7, 0]], np.uint8)
    x = one_hot(ids, "landscape")
    assert x[:, 0, 0].tolist() == [0] * 8 + [1]
    assert x[7, 0, 1] == 1 and x[0, 0, 2] == 1


def test_no_dontcare_palette():
    with pytest.raises(ValueError, match="palette 'facades' has no don't-care id"):
        one_hot(np.zeros((2, 2), np.uint8), "facades", dontcare=True)
    x = one_hot(np.array([[11, 0]]), "facades")
    assert x.shape == (12, 1, 2) and x[11, 0, 0] == 1 and x[0, 0, 1] == 1


def test_instance_edge_channel():
    ids = np.zeros((4, 5), np.uint8)
    inst = np.array(
        [
            [1, 1, 2, 2, 2],
            [1, 1, 2, 2, 2],
            [3, 3, 3, 2, 2],
            [3, 3, 3, 2, 2],
        ]
    )
    # 1 where a 4-neighbour differs (SPADE's get_edges)
    want = np.array(
        [
            [0, 1, 1, 0, 0],
            [1, 1, 1, 0, 0],
            [1, 1, 1, 1, 0],
            [0, 0, 1, 1, 0],
        ],
        np.float32,
    )
    x = one_hot(ids, "landscape", instance=inst)
    assert x.shape == (10, 4, 5)
    np.testing.assert_array_equal(x[9].numpy(), want)
    np.testing.assert_array_equal(instance_edges(inst).numpy(), want)
    np.testing.assert_array_equal(x[0].numpy(), np.ones((4, 5)))  # class channels untouched
    # diagonal neighbours do not count
    diag = np.array([[1, 0], [0, 1]])
    np.testing.assert_array_equal(instance_edges(diag).numpy(), np.ones((2, 2)))
    assert instance_edges(np.full((3, 3), 7)).sum() == 0


def test_instance_edges_match_spade_get_edges():
    """Same result as SPADE's ``get_edges`` (pix2pixHD), which compares horizontal and vertical neighbours."""
    t = torch.from_numpy(np.random.default_rng(1).integers(0, 4, (2, 1, 8, 9)))
    edge = torch.zeros(t.size(), dtype=torch.bool)
    edge[:, :, :, 1:] |= t[:, :, :, 1:] != t[:, :, :, :-1]
    edge[:, :, :, :-1] |= t[:, :, :, 1:] != t[:, :, :, :-1]
    edge[:, :, 1:, :] |= t[:, :, 1:, :] != t[:, :, :-1, :]
    edge[:, :, :-1, :] |= t[:, :, 1:, :] != t[:, :, :-1, :]
    assert torch.equal(instance_edges(t[:, 0]), edge[:, 0].float())


def test_batched_and_tensor_input():
    rng = np.random.default_rng(2)
    ids = rng.choice(ADE.lut_ids, size=(3, 6, 7)).astype(np.uint8)
    inst = rng.integers(0, 3, (3, 6, 7))
    x = one_hot(torch.from_numpy(ids), ADE, instance=torch.from_numpy(inst))
    assert x.shape == (3, 152, 6, 7)
    for b in range(3):
        torch.testing.assert_close(x[b], one_hot(ids[b], ADE, instance=inst[b]), rtol=0, atol=0)
    assert one_hot(ids, ADE, dtype=torch.float16).dtype == torch.float16


def test_one_hot_bad_input():
    with pytest.raises(ValueError, match=r"ids not in palette 'ade20k': \[150, 254\]"):
        one_hot(np.array([[150, 254, 3]]), ADE)
    with pytest.raises(ValueError, match=r"ids not in palette 'landscape': \[-1\]"):
        one_hot(np.array([[-1, 0]]), "landscape")
    with pytest.raises(ValueError, match="ids must be integers, got torch.float32"):
        one_hot(torch.zeros(2, 2), ADE)
    with pytest.raises(ValueError, match=r"expected \[H, W\] or \[B, H, W\] ids, got shape \(4,\)"):
        one_hot(np.zeros(4, np.uint8), ADE)
    with pytest.raises(ValueError, match=r"instance map shape \(3, 3\) differs from label shape \(2, 2\)"):
        one_hot(np.zeros((2, 2), np.uint8), ADE, instance=np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="instance ids must be integers"):
        instance_edges(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unknown palette"):
        one_hot(np.zeros((2, 2), np.uint8), "nope")


# --------------------------------------------------------------------------------------------------
# resize_labels


def test_resize_integer_upscale_repeats_pixels():
    ids = np.arange(12, dtype=np.uint8).reshape(3, 4)
    out = resize_labels(ids, (12, 9))  # (width, height): x3 both ways
    np.testing.assert_array_equal(out, np.repeat(np.repeat(ids, 3, 0), 3, 1))
    assert out.dtype == np.uint8


def test_resize_downscale_uses_pixel_centres():
    ids = np.arange(100, dtype=np.int64).reshape(10, 10)
    out = resize_labels(ids, (5, 2))  # x: floor((x + .5) * 2) = 2x + 1; y: floor((y + .5) * 5) = 2, 7
    np.testing.assert_array_equal(out, ids[[2, 7]][:, [1, 3, 5, 7, 9]])


def test_resize_never_invents_ids():
    ids = np.random.default_rng(3).choice([0, 5, 9, 15], size=(37, 23)).astype(np.uint8)
    for size in [(11, 50), (100, 3), (23, 37), (1, 1), (64, 64)]:
        out = resize_labels(ids, size)
        assert out.shape == (size[1], size[0])
        assert set(np.unique(out)) <= {0, 5, 9, 15}
    assert resize_labels(ids, (23, 37)) is ids


def test_resize_bad_size():
    with pytest.raises(ValueError, match="target size must be positive, got 0x4"):
        resize_labels(np.zeros((2, 2), np.uint8), (0, 4))


# --------------------------------------------------------------------------------------------------
# snap_size: round(x / multiple) * multiple, ties away from zero, at least one multiple;
# with max_side both sides first scale down together, then stay within max_side.


@pytest.mark.parametrize(
    ("args", "kwargs", "want"),
    [
        ((512, 384, 8), {}, (512, 384)),
        ((100, 100, 8), {}, (104, 104)),  # 12.5 -> 13: ties away from zero
        ((99, 91, 8), {}, (96, 88)),  # 12.375 -> 12, 11.375 -> 11
        ((3, 5, 8), {}, (8, 8)),  # at least one multiple
        ((4000, 3000, 64), {"max_side": 1024}, (1024, 768)),  # scaled down together
        ((1000, 10, 64), {"max_side": 1000}, (960, 64)),  # 1000 rounds to 1024 > max_side: one step down
        ((300, 200, 1), {}, (300, 200)),
        ((257, 255, 256), {"max_side": 512}, (256, 256)),
    ],
)
def test_snap_size(args, kwargs, want):
    assert snap_size(*args, **kwargs) == want


def test_snap_size_bad_input():
    with pytest.raises(ValueError, match="size must be positive, got 0x5"):
        snap_size(0, 5, 8)
    with pytest.raises(ValueError, match="multiple must be >= 1"):
        snap_size(5, 5, 0)


def test_one_hot_takes_a_read_only_array_quietly():
    """A read-only map (a cached one, ``np.frombuffer``) gives the same one-hot, with no torch warning."""
    import warnings

    ids = np.array([[0, 1], [2, 7]], np.uint8)
    frozen = ids.copy()
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = one_hot(frozen, "landscape")
    assert torch.equal(got, one_hot(ids, "landscape"))
    assert not frozen.flags.writeable and np.array_equal(frozen, ids)
    floats = np.array([[0.5, 1.0]], np.float32)
    floats.flags.writeable = False
    with pytest.raises(ValueError, match="ids must be integers"):  # the copy keeps the dtype check
        one_hot(floats, "landscape")
