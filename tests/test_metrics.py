"""daub eval's image statistics: spectra, streak energy, KID, seed diversity."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from synth.metrics import (
    AXIS_BANDS,
    axis_band_db,
    axis_energy_share,
    class_texture,
    confusion,
    grain_orientation,
    high_pass,
    kid,
    kid_difference,
    kid_standard_error,
    miou,
    miou_ratio_difference,
    power_spectra,
    radial_profile,
    radial_profiles,
    scores,
    seed_diversity,
    spectrum_gap_db,
    spectrum_gap_difference,
)

rng = np.random.default_rng(0)


def noise_images(n=6, h=48, w=64):
    return rng.integers(0, 256, (n, h, w, 3)).astype(np.uint8)


def stripes(n=6, h=48, w=64, period=6):
    rows = (np.sin(2 * np.pi * np.arange(h) / period) * 100 + 128)[None, :, None, None]
    return np.broadcast_to(rows, (n, h, w, 3)).astype(np.uint8) + rng.integers(0, 3, (n, h, w, 3)).astype(np.uint8)


def test_streaks_put_energy_on_the_axes_and_noise_does_not():
    streaky, isotropic = axis_energy_share(stripes()), axis_energy_share(noise_images())
    # white noise: the axis bins' share of each ring (~0.18 at 48x64); stripes: most of the energy
    assert isotropic < 0.25 and streaky > 0.5 and streaky > 2.5 * isotropic


def test_axis_band_db_tells_lines_from_grain_band_by_band():
    noise = noise_images()
    same = axis_band_db(noise, noise)
    assert list(same) == [f"{lo}-{hi - 1}" for lo, hi in AXIS_BANDS if lo <= 24]  # 48x64: Nyquist at ring 24
    assert all(v == (0.0, 0.0) for v in same.values())
    # stripes of period 6 at h=48: ring 8 on the vertical axis, far more energy there than in the noise
    lines = axis_band_db(stripes(), noise)
    assert lines["8-15"][0] > 10 and lines["8-15"][0] - lines["8-15"][1] > 10
    # a wrong band (off-axis grain only): an isotropic extra adds as much on and off the axes
    louder = axis_band_db(np.clip(noise.astype(int) * 2 - 128, 0, 255).astype(np.uint8), noise)
    on, off = louder["16-31"]
    assert on > 1 and abs(on - off) < 1


def test_spectrum_gap_is_zero_for_the_same_images_and_grows_with_blur():
    imgs = noise_images()
    assert spectrum_gap_db(imgs, imgs) == pytest.approx(0.0, abs=1e-9)
    blurred = ((imgs[:, ::2, ::2].repeat(2, 1).repeat(2, 2)).astype(np.float64)).astype(np.uint8)
    assert spectrum_gap_db(blurred, imgs) > 1.0


def test_radial_profile_of_white_noise_is_flat():
    prof = radial_profile(power_spectra(noise_images(n=20)))
    assert prof.max() / prof.min() < 3


def test_kid_near_zero_for_one_distribution_and_positive_for_two():
    a, b = rng.normal(size=(200, 16)), rng.normal(size=(200, 16))
    assert abs(kid(a, b)) < 0.05
    assert kid(a, b + 1.0) > 0.5


def test_kid_standard_error_matches_the_spread_of_kid_over_fresh_samples():
    """The half-split estimate from one sample matches KID's actual std over independent samples (on
    average over 5 samples: within 0.9-1.5x; the std over halves divided by sqrt(2) read 0.7x here)."""
    draw = np.random.default_rng(1)

    def sample(n):  # n maps, 3 seeds each beside one photo, the fakes a little off the photos
        return draw.normal(size=(3 * n, 8)) + 0.3, draw.normal(size=(n, 8))

    actual = np.std([kid(*sample(60)) for _ in range(60)])
    groups = np.repeat(np.arange(60), 3), np.arange(60)
    est = np.mean([kid_standard_error(*sample(60), *groups) for _ in range(5)])
    assert 0.9 * actual < est < 1.5 * actual
    big_a, big_b = sample(240)
    assert kid_standard_error(big_a, big_b, np.repeat(np.arange(240), 3), np.arange(240)) < est


def test_kid_standard_error_refuses_groups_that_do_not_fit():
    a, b = rng.normal(size=(12, 4)), rng.normal(size=(4, 4))
    with pytest.raises(ValueError, match="one group id per row"):
        kid_standard_error(a, b, np.arange(11), np.arange(4))
    with pytest.raises(ValueError, match="each in both sets"):
        kid_standard_error(a, b, np.repeat(np.arange(1, 5), 3), np.arange(4))
    with pytest.raises(ValueError, match="each in both sets"):  # photo 3 has no seeds
        kid_standard_error(a, b, np.repeat(np.arange(3), 4), np.arange(4))


def test_seed_diversity():
    same = [np.zeros((3, 8, 8, 3), np.uint8)]
    assert seed_diversity(same) == 0.0
    diff = [np.stack([np.zeros((8, 8, 3)), np.full((8, 8, 3), 255)]).astype(np.uint8)]
    assert seed_diversity(diff) == pytest.approx(1.0)


def test_eval_compare_argument_errors_are_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "synth", "eval", "--model", "landscape", "--compare", "nonsense"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "NAME=PATH" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "synth",
            "eval",
            "--model",
            "landscape",
            "--compare",
            f"v2={tmp_path / 'no.safetensors'}",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "no weights" in r.stderr


def test_confusion_and_scores_are_exact():
    true = np.array([[0, 0, 1, 1], [2, 2, 15, 15]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 3, 3]])
    conf = confusion(pred, true, 8, ignore=15)
    assert conf.sum() == 6 and conf[0, 0] == 1 and conf[0, 1] == 1 and conf[2, 0] == 1
    s = scores(conf)
    # IoU: class 0 = 1/(2+2-1) = 1/3, class 1 = 2/(2+3-2) = 2/3, class 2 = 1/(2+1-1) = 1/2
    assert s["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3, abs=1e-4)
    assert s["pixel_acc"] == pytest.approx(4 / 6, abs=1e-4)


def test_class_texture_tells_flat_from_textured_regions():
    rng = np.random.default_rng(0)
    labels = np.zeros((4, 40, 40), np.int64)
    labels[:, :, 20:] = 1
    images = np.zeros((4, 40, 40, 3), np.uint8)
    images[:, :, :20] = 128  # class 0: flat mid grey in every image
    images[:, :, 20:] = rng.integers(0, 255, (4, 40, 20, 3))  # class 1: noise
    images[1, :, 20:] //= 2  # ... darker in one image: its mean colour varies
    flat, rough, absent = class_texture(images, labels, 3)
    assert flat == {"detail": 0.0, "grain": None, "colour_spread": 0.0} and absent is None
    assert rough["detail"] > 0.3 and rough["colour_spread"] > 0.05
    # the boundary between the two (a big step) is left out by the margin, and counts without it
    assert class_texture(images, labels, 2, margin=0)[0]["detail"] > 0


def test_grain_orientation_tells_ripples_from_columns_and_rock():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:48, :64]
    # rows of light and dark, 6 px apart
    ripples = 0.5 + 0.2 * np.sin(yy * np.pi / 3) + 0.02 * rng.standard_normal((48, 64))
    columns = ripples.T[:48, :48]  # the same, turned
    rock = rng.random((48, 64))
    everywhere = np.ones((1, 48, 64), bool)
    assert grain_orientation(ripples[None], everywhere) > 1.0
    assert grain_orientation(columns[None], everywhere[:, :, :48]) < -1.0
    assert abs(grain_orientation(rock[None], everywhere)) < 0.1
    # only pixel pairs inside the mask count: ripples masked to a region of rock still read as rock
    both = np.where(xx < 32, ripples, rock)[None]
    assert abs(grain_orientation(both, (xx >= 36)[None])) < 0.1 and grain_orientation(both, (xx < 28)[None]) > 1.0
    assert grain_orientation(np.full((1, 48, 64), 0.5), everywhere) is None  # flat: no grain to orient
    assert grain_orientation(rock[None], np.zeros((1, 48, 64), bool)) is None


def test_high_pass_keeps_grain_and_drops_slow_shading():
    yy, xx = np.mgrid[:40, :40].astype(np.float64)
    ramp = (xx + yy) / 80  # a slow gradient: the box mean follows it exactly inside
    assert np.abs(high_pass(ramp[None])[0, 4:-4, 4:-4]).max() < 1e-9
    checker = ((xx + yy) % 2)[None]
    assert np.abs(high_pass(checker)[0, 4:-4, 4:-4]).min() > 0.4


def test_eval_sheet_class_picks_the_maps_with_most_of_it(tmp_path):
    from synth.evaluate import rows_with_most, sheet_class_id

    assert sheet_class_id("landscape", "mountain") == 6 and sheet_class_id("landscape", None) is None
    maps = [np.full((4, 4), 0), np.full((4, 4), 6), np.where(np.eye(4) > 0, 6, 0)]
    rows = [(m, None, []) for m in maps]
    assert [r[0].mean() for r in rows_with_most(rows, 6)] == [6, 1.5, 0]
    assert rows_with_most(rows, None) == rows
    r = subprocess.run(
        [sys.executable, "-m", "synth", "eval", "--model", "landscape", "--sheet-class", "volcano"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--sheet-class" in r.stderr and "mountain" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_kid_difference_is_paired_so_a_small_real_difference_shows():
    """Two versions from the same maps and seeds: the paired se of their KID difference is far below each
    KID's own se, close to the difference's actual spread over fresh samples, and the sign is right."""
    draw = np.random.default_rng(2)

    def sample(n):  # version 2 = version 1 pushed a little further from the photos, per row
        a1 = draw.normal(size=(3 * n, 8)) + 0.3
        return a1, a1 + 0.1 + 0.05 * draw.normal(size=a1.shape), draw.normal(size=(n, 8))

    groups = np.repeat(np.arange(60), 3), np.arange(60)
    diffs = [kid(a1, b) - kid(a2, b) for a1, a2, b in (sample(60) for _ in range(40))]
    a1, a2, b = sample(60)
    diff, se = kid_difference(a1, a2, b, *groups)
    assert diff == pytest.approx(kid(a1, b) - kid(a2, b)) and diff < 0
    assert 0.7 * np.std(diffs) < se < 1.5 * np.std(diffs)
    assert se < kid_standard_error(a1, b, *groups) / 3
    assert abs(np.mean(diffs)) > 3 * se  # a difference this small is told apart from noise
    with pytest.raises(ValueError, match="row for row"):
        kid_difference(a1, a2[:-3], b, *groups)


def test_miou_ratio_difference_is_paired_and_its_se_matches_fresh_samples():
    """Per-map confusions of two versions judged on the same maps: the difference of their mIoU ratios, its
    se close to the difference's spread over fresh samples; identical versions differ by exactly 0 +- 0."""
    draw = np.random.default_rng(3)

    def confusions(n, hit, common):  # per map: 400 pixels of 4 classes, a share ``hit`` judged right
        right = np.clip(hit + common, 0, 1)
        c = np.zeros((n, 4, 4), np.int64)
        for m in range(n):
            for k in range(4):
                ok = draw.binomial(100, right[m])
                c[m, k, k], c[m, k, (k + 1) % 4] = ok, 100 - ok
        return c

    def sample(n):  # how hard a map is, shared by both versions and the photo
        hard = draw.normal(0, 0.15, n)
        return confusions(n, 0.62, hard), confusions(n, 0.6, hard), confusions(n, 0.55, hard)

    diffs = [miou_ratio_difference(*sample(60))[0] for _ in range(40)]
    g1, g2, real = sample(60)
    diff, se = miou_ratio_difference(g1, g2, real)
    assert diff == pytest.approx((miou(g1.sum(0)) - miou(g2.sum(0))) / miou(real.sum(0)))
    assert 0.7 * np.std(diffs) < se < 1.5 * np.std(diffs)
    assert np.mean(diffs) > 2 * se > 0
    assert miou_ratio_difference(g1, g1, real) == (0.0, 0.0)
    with pytest.raises(ValueError, match="gen1 / gen2 / real"):
        miou_ratio_difference(g1, g2[:-1], real)


def test_spectrum_gap_difference_agrees_with_the_gap_and_is_paired():
    """Per-image profiles average to the set's profile, so the full-sample difference is exactly the two
    gaps' difference; a version with more fine grain than the photos is worse, beyond its paired se."""
    draw = np.random.default_rng(4)
    real = _pink(8, 48, 64, draw)
    smooth = np.repeat(_pink(8, 48, 64, draw), 2, axis=0)  # 2 seeds per map
    grainy = np.clip(smooth + draw.normal(0, 0.08, smooth.shape), 0, 1)
    groups = np.repeat(np.arange(8), 2)
    p1, p2, pr = radial_profiles(grainy), radial_profiles(smooth), radial_profiles(real)
    diff, se = spectrum_gap_difference(p1, p2, pr, groups)
    assert diff == pytest.approx(spectrum_gap_db(grainy, real) - spectrum_gap_db(smooth, real), abs=1e-9)
    assert diff > 3 * se > 0
    assert spectrum_gap_difference(p2, p2, pr, groups) == (0.0, 0.0)
    with pytest.raises(ValueError, match="row for row"):
        spectrum_gap_difference(p1, p2, pr, groups[:-1])


def _pink(n: int, h: int, w: int, draw) -> np.ndarray:
    """``[n, h, w, 3]`` photo-like grey images in [0, 1]: white noise shaped to a 1/f amplitude spectrum."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None]
    amp = 1 / np.maximum(np.hypot(fy, fx), 1 / max(h, w))
    x = np.real(np.fft.ifft2(np.fft.fft2(draw.normal(size=(n, h, w))) * amp))
    x = 0.5 + 0.15 * x / x.std((1, 2), keepdims=True)
    return np.repeat(np.clip(x, 0, 1)[..., None], 3, axis=-1)
