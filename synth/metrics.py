"""Figures for ``daub eval``: segmentation scores, power spectra, streak energy, KID, seed diversity.

All take numpy arrays; images are ``[N, H, W, 3]`` uint8 (or float in [0, 1]) at the model's size.
"""

from __future__ import annotations

import numpy as np


def _gray(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, np.float64)
    if x.max() > 1.5:
        x = x / 255.0
    return x.mean(-1) if x.ndim == 4 else x


def power_spectra(images: np.ndarray) -> np.ndarray:
    """Mean power spectrum ``[H, W]`` (fftshifted) of the grey images, each mean-removed and Hann-windowed.

    The window keeps the image borders (not periodic) from adding energy on the two axes.
    """
    g = _gray(images)
    g = g - g.mean((1, 2), keepdims=True)
    h, w = g.shape[1:]
    win = np.outer(np.hanning(h), np.hanning(w))
    f = np.fft.fftshift(np.fft.fft2(g * win), axes=(1, 2))
    return (np.abs(f) ** 2).mean(0)


def _freq_grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None] * np.ones((1, w))
    fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :] * np.ones((h, 1))
    return fy, fx


def radial_profile(power: np.ndarray, bins: int | None = None) -> np.ndarray:
    """Radially averaged power over frequency rings of width ``1 / min(H, W)`` (DC ring excluded)."""
    fy, fx = _freq_grid(power.shape)
    r = np.hypot(fy, fx)
    step = 1.0 / min(power.shape)
    bins = bins or int(0.5 / step)
    idx = np.floor(r / step).astype(int)
    keep = (idx >= 1) & (idx <= bins)
    sums = np.bincount(idx[keep], power[keep], minlength=bins + 1)[1:]
    counts = np.bincount(idx[keep], minlength=bins + 1)[1:]
    return sums / np.maximum(counts, 1)


def spectrum_gap_db(fake: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute gap (dB) between the radially averaged power spectra of two image sets."""
    return _profile_gap_db(radial_profile(power_spectra(fake)), radial_profile(power_spectra(real)))


def _profile_gap_db(pf: np.ndarray, pr: np.ndarray) -> float:
    return float(np.mean(np.abs(10 * np.log10(pf + 1e-12) - 10 * np.log10(pr + 1e-12))))


def radial_profiles(images: np.ndarray) -> np.ndarray:
    """Per-image :func:`radial_profile` of :func:`power_spectra` ``[N, R]``: their mean over any subset is
    that subset's profile (both steps are linear), for :func:`spectrum_gap_difference`."""
    return np.stack([radial_profile(power_spectra(im[None])) for im in images])


def spectrum_gap_difference(
    fake1: np.ndarray, fake2: np.ndarray, real: np.ndarray, groups: np.ndarray, rounds: int = 200, seed: int = 0
) -> tuple[float, float]:
    """:func:`spectrum_gap_db` of version 1 minus version 2 (against the same photos) and its paired se.

    Inputs are :func:`radial_profiles`: ``fake1`` and ``fake2`` row for row from the same maps and seeds,
    ``groups`` the map index of each of their rows, ``real`` one row per map. The se is the std of the
    difference over random halves of the maps, both versions on the same halves.
    """
    fake1, fake2, real, groups = (np.asarray(x) for x in (fake1, fake2, real, groups))
    if (
        fake1.shape != fake2.shape
        or len(groups) != len(fake1)
        or not np.array_equal(np.unique(groups), np.arange(len(real)))
    ):
        raise ValueError("fake1 / fake2 / groups / real: two versions row for row, each row a map index of real")

    def diff(maps: np.ndarray) -> float:
        rows, pr = np.isin(groups, maps), real[maps].mean(0)
        return _profile_gap_db(fake1[rows].mean(0), pr) - _profile_gap_db(fake2[rows].mean(0), pr)

    return diff(np.arange(len(real))), float(np.std([diff(h) for h in _halves(len(real), rounds, seed)]))


def _halves(n: int, rounds: int, seed: int) -> list[np.ndarray]:
    """``rounds`` random halves of ``range(n)`` (each drawn without replacement); the same for one seed."""
    if n < 4:
        raise ValueError(f"at least 4 maps to split into halves, got {n}")
    rng = np.random.default_rng(seed)
    return [rng.choice(n, n // 2, replace=False) for _ in range(rounds)]


def axis_energy_share(images: np.ndarray, width: int = 1) -> float:
    """Share of spectral energy within ``width`` bins of the horizontal/vertical axes, ring by ring.

    Each frequency ring (width ``1 / min(H, W)``, from the third ring out) gives the share of its energy
    that lies on the two axes; the rings are averaged with equal weight, so the low frequencies (where
    natural images hold most energy) do not drown out streaks and grids, which put energy on the axes
    at middle and high frequencies.
    """
    p = power_spectra(images)
    h, w = p.shape
    fy, fx = _freq_grid(p.shape)
    on_axis = (np.abs(fy) * h <= width) | (np.abs(fx) * w <= width)
    step = 1.0 / min(h, w)
    ring = np.floor(np.hypot(fy, fx) / step).astype(int)
    keep = (ring >= 2) & (ring <= int(0.5 / step))
    total = np.bincount(ring[keep], p[keep])
    axis = np.bincount(ring[keep & on_axis], p[keep & on_axis], minlength=len(total))
    rings = total > 0
    return float(np.mean(axis[rings] / total[rings]))


#: frequency-ring bands of :func:`axis_band_db` (ring = 1 / min(H, W)), low to high
AXIS_BANDS = ((2, 8), (8, 16), (16, 32), (32, 64), (64, 129))


def axis_band_db(fake: np.ndarray, real: np.ndarray, bands=AXIS_BANDS) -> dict[str, tuple[float, float]]:
    """Per band of rings ``[lo, hi)``: the fakes' power against the reals' in dB, on the axes and off them.

    What :func:`axis_energy_share` summarises, taken apart: straight horizontal/vertical edges put energy on
    the axes (within one bin, as there), grain everywhere. 0 dB = as much as the real images. Bands past
    the Nyquist ring are left out.
    """
    pf, pr = power_spectra(fake), power_spectra(real)
    fy, fx = _freq_grid(pf.shape)
    h, w = pf.shape
    on = (np.abs(fy) * h <= 1) | (np.abs(fx) * w <= 1)
    ring = np.floor(np.hypot(fy, fx) * min(h, w)).astype(int)
    out = {}
    for lo, hi in bands:
        band = (ring >= lo) & (ring < hi) & (ring <= min(h, w) // 2)  # up to the Nyquist ring, as the share
        if not band.any():
            continue
        on_db, off_db = (float(10 * np.log10(pf[band & s].sum() / pr[band & s].sum())) for s in (on, ~on))
        out[f"{lo}-{hi - 1}"] = (round(on_db, 2), round(off_db, 2))
    return out


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """KID's cubic polynomial kernel ``(x . y / D + 1)^3`` between the rows of ``x`` and ``y``."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def _mmd2(kaa: np.ndarray, kbb: np.ndarray, kab: np.ndarray) -> float:
    """Unbiased MMD^2 from the three kernel matrices (diagonals of the within-set ones left out)."""
    m, n = len(kaa), len(kbb)
    return float(
        (kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2 * kab.mean()
    )


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel) between feature sets ``[N, D]``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return _mmd2(_poly_kernel(a, a), _poly_kernel(b, b), _poly_kernel(a, b))


def _half_split_kids(sets: list[np.ndarray], b: np.ndarray, groups_a, groups_b, rounds: int, seed: int) -> np.ndarray:
    """KID of each of ``sets`` (feature arrays sharing ``groups_a``) against ``b`` on ``rounds`` random halves
    of the groups, the same halves for every set: ``[rounds, len(sets)]``."""
    groups_a, groups_b = np.asarray(groups_a), np.asarray(groups_b)
    if any(len(groups_a) != len(a) for a in sets) or len(groups_b) != len(b):
        raise ValueError("groups_a / groups_b: one group id per row of a / b")
    ids = np.unique(groups_b)
    if len(ids) < 4 or not np.array_equal(np.unique(groups_a), ids):
        raise ValueError("groups_a / groups_b: at least 4 groups, each in both sets")
    kbb = _poly_kernel(b, b)
    kernels = [(_poly_kernel(a, a), _poly_kernel(a, b)) for a in sets]
    vals = np.empty((rounds, len(sets)))
    for r, picked in enumerate(_halves(len(ids), rounds, seed)):
        half = ids[picked]
        ia, ib = np.flatnonzero(np.isin(groups_a, half)), np.flatnonzero(np.isin(groups_b, half))
        for k, (kaa, kab) in enumerate(kernels):
            vals[r, k] = _mmd2(kaa[np.ix_(ia, ia)], kbb[np.ix_(ib, ib)], kab[np.ix_(ia, ib)])
    return vals


def kid_standard_error(
    a: np.ndarray, b: np.ndarray, groups_a: np.ndarray, groups_b: np.ndarray, rounds: int = 200, seed: int = 0
) -> float:
    """Approximate standard error of :func:`kid` ``(a, b)``, to tell a real difference from noise.

    KID is taken on ``rounds`` random halves of the groups (val maps: a map's seeds in ``a`` and its photo in
    ``b`` share a group id, so they stay together); its std over the halves is the estimate: a half drawn
    from the n groups without replacement varies around the full-sample value by about as much as the
    full-sample value varies between fresh samples (var (2/n - 1/n) = 1/n for a mean). Groups must be
    shared by both sets.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    vals = _half_split_kids([a], b, groups_a, groups_b, rounds, seed)[:, 0]
    return float(np.std(vals))


def kid_difference(
    a1: np.ndarray,
    a2: np.ndarray,
    b: np.ndarray,
    groups_a: np.ndarray,
    groups_b: np.ndarray,
    rounds: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """``kid(a1, b) - kid(a2, b)`` and its approximate standard error, for two versions rendered from the
    same maps and seeds (``a1`` and ``a2`` row for row, sharing ``groups_a``).

    Paired: both KIDs are taken on the same random halves (as :func:`kid_standard_error`), so the noise
    the two share (which photos, which maps) cancels and a smaller real difference shows.
    """
    a1, a2, b = (np.asarray(x, np.float64) for x in (a1, a2, b))
    if a1.shape != a2.shape:
        raise ValueError(f"a1 / a2: the same maps and seeds row for row, got shapes {a1.shape} and {a2.shape}")
    vals = _half_split_kids([a1, a2], b, groups_a, groups_b, rounds, seed)
    return kid(a1, b) - kid(a2, b), float(np.std(vals[:, 0] - vals[:, 1]))


def seed_diversity(images_per_map: list[np.ndarray]) -> float:
    """Mean pairwise L1 distance (0..1 scale) between the images different seeds give for one map."""
    dists = []
    for imgs in images_per_map:
        x = np.asarray(imgs, np.float64) / 255.0
        for i in range(len(x)):
            for j in range(i + 1, len(x)):
                dists.append(np.abs(x[i] - x[j]).mean())
    return float(np.mean(dists)) if dists else 0.0


def confusion(pred: np.ndarray, true: np.ndarray, num_classes: int, ignore: int | None) -> np.ndarray:
    """``[C, C]`` confusion counts (rows = true) over pixels whose true id is a class."""
    pred, true = np.asarray(pred).ravel().astype(np.int64), np.asarray(true).ravel().astype(np.int64)
    keep = true < num_classes
    if ignore is not None:
        keep &= true != ignore
    return np.bincount(true[keep] * num_classes + pred[keep], minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def miou(conf: np.ndarray) -> float:
    """Mean IoU over the classes present in the ground truth (rows) of a ``[C, C]`` confusion matrix."""
    tp = np.diag(conf).astype(np.float64)
    gt, pr = conf.sum(1), conf.sum(0)
    present = gt > 0
    return float((tp[present] / np.maximum(gt[present] + pr[present] - tp[present], 1)).mean())


def miou_ratio_difference(
    gen1: np.ndarray, gen2: np.ndarray, real: np.ndarray, rounds: int = 200, seed: int = 0
) -> tuple[float, float]:
    """Judge mIoU ratio (generated / real) of version 1 minus version 2, and its approximate standard error.

    ``gen1``, ``gen2``, ``real``: per-map confusion matrices ``[M, C, C]`` (the versions rendered from the
    same M maps and seeds, the real photos of those maps). The se is the std of the difference over
    ``rounds`` random halves of the maps, both versions on the same halves (paired, as
    :func:`kid_difference`).
    """
    gen1, gen2, real = (np.asarray(x, np.int64) for x in (gen1, gen2, real))
    if not (gen1.shape == gen2.shape == real.shape and gen1.ndim == 3 and len(gen1) >= 4):
        raise ValueError(
            f"gen1 / gen2 / real: per-map confusion matrices [M >= 4, C, C] of one shape, got "
            f"{gen1.shape}, {gen2.shape}, {real.shape}"
        )

    def diff(maps) -> float:
        r = miou(real[maps].sum(0))
        return (miou(gen1[maps].sum(0)) - miou(gen2[maps].sum(0))) / max(r, 1e-9)

    return diff(np.arange(len(real))), float(np.std([diff(h) for h in _halves(len(real), rounds, seed)]))


def scores(conf: np.ndarray) -> dict:
    """mIoU (over classes present in the ground truth) and pixel accuracy from a confusion matrix."""
    tp = np.diag(conf).astype(np.float64)
    gt, pr = conf.sum(1), conf.sum(0)
    present = gt > 0
    return {
        "miou": round(miou(conf), 4),
        "pixel_acc": round(float(tp.sum() / max(conf.sum(), 1)), 4),
        "iou_per_class": [round(float(v), 4) if p else None for v, p in zip(tp / np.maximum(gt + pr - tp, 1), present)],
    }


def _eroded(labels: np.ndarray, cls: int, margin: int) -> np.ndarray:
    """``labels == cls`` shrunk by ``margin`` pixels (left, right, up and down), so boundaries do not count."""
    m = labels == cls
    if margin <= 0:
        return m
    p = np.pad(m, ((0, 0), (margin, margin), (margin, margin)), constant_values=False)
    h, w = m.shape[1:]
    out = m.copy()
    for dy, dx in ((-margin, 0), (margin, 0), (0, -margin), (0, margin)):
        out &= p[:, margin + dy : margin + dy + h, margin + dx : margin + dx + w]
    return out


def high_pass(gray: np.ndarray, size: int = 7) -> np.ndarray:
    """``[N, H, W]`` luminance minus its ``size``×``size`` box mean (edges padded by repetition): the fine grain."""
    k = size // 2
    p = np.pad(gray, ((0, 0), (k, k), (k, k)), mode="edge")
    c = np.pad(p.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    h, w = gray.shape[1:]
    box = c[:, size : size + h, size : size + w] - c[:, :h, size : size + w] - c[:, size : size + h, :w] + c[:, :h, :w]
    return gray - box / size**2


def _lag_correlation(hp: np.ndarray, mask: np.ndarray, dy: int, dx: int) -> float | None:
    """Correlation of ``hp`` with itself shifted by (``dy``, ``dx``), over pixel pairs both inside ``mask``."""
    h, w = hp.shape[1:]
    a, b = hp[:, : h - dy, : w - dx], hp[:, dy:, dx:]
    both = mask[:, : h - dy, : w - dx] & mask[:, dy:, dx:]
    a, b = a[both], b[both]
    energy = float(np.sqrt((a * a).mean() * (b * b).mean())) if a.size else 0.0
    return float((a * b).mean()) / energy if energy > 1e-12 else None


def grain_orientation(gray: np.ndarray, mask: np.ndarray, lag: int = 3, size: int = 7) -> float | None:
    """Which way a region's fine grain runs: the high-passed luminance's correlation with itself ``lag``
    pixels to the right minus ``lag`` pixels down (-2..2). Horizontal grain (ripples on water, lanes on a
    road) scores high, vertical grain (columns, streaks) low, isotropic texture (foliage, rock) near 0.
    Measured on the landscape val photos: road 1.00, water 0.67, tree -0.03, mountain -0.11, building -0.25.
    ``None`` where the region has no grain at all (flat) or no pixel pairs."""
    return _grain_of(high_pass(np.asarray(gray, np.float64), size), mask, lag)


def _grain_of(hp: np.ndarray, mask: np.ndarray, lag: int = 3) -> float | None:
    """:func:`grain_orientation` of an already high-passed stack (one high pass serves every class)."""
    along, across = _lag_correlation(hp, mask, 0, lag), _lag_correlation(hp, mask, lag, 0)
    return None if along is None or across is None else along - across


def class_texture(
    images: np.ndarray, labels: np.ndarray, num_classes: int, margin: int = 3, min_pixels: int = 200
) -> list[dict | None]:
    """Per class: how much texture its regions carry, which way it runs, and how much colour variety.

    ``detail``: mean luminance gradient (|dx| + |dy|, 0..2 scale) over the class's pixels, ``margin`` pixels
    inside its regions. ``grain``: :func:`grain_orientation` there (a further 3 pixels inside, so region
    edges stay out of the high pass). ``colour_spread``: the standard deviation, over the images where the
    class covers at least ``min_pixels`` such pixels, of the region's mean colour (0..1, mean of R, G, B).
    ``labels`` are ``[N, H, W]`` ids for ``images`` ``[N, H, W, 3]``; ``None`` for a class with no such pixels.
    """
    x = np.asarray(images, np.float64)
    x = x / 255.0 if x.max() > 1.5 else x
    g = x.mean(-1)
    grad = np.zeros_like(g)
    grad[:, :-1, :-1] = np.abs(np.diff(g, axis=2))[:, :-1] + np.abs(np.diff(g, axis=1))[:, :, :-1]
    hp = high_pass(g)
    labels = np.asarray(labels)
    out: list[dict | None] = []
    for c in range(num_classes):
        m = _eroded(labels, c, margin)
        m[:, -1], m[:, :, -1] = False, False  # no gradient there
        if not m.any():
            out.append(None)
            continue
        per_image = [x[i][m[i]].mean(0) for i in range(len(x)) if m[i].sum() >= min_pixels]
        spread = float(np.std(per_image, axis=0).mean()) if len(per_image) > 1 else None
        grain = _grain_of(hp, _eroded(labels, c, margin + 3))
        out.append(
            {
                "detail": round(float(grad[m].mean()), 4),
                "grain": None if grain is None else round(grain, 3),
                "colour_spread": None if spread is None else round(spread, 4),
            }
        )
    return out
