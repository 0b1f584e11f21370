"""Abundance statistics, the support bootstrap and the fraction interval."""

import numpy as np
import pytest

from workers.fewshot.interval import (
    INTERVAL_EXPONENT,
    fraction_interval,
    interval_multiplier,
    interval_probs,
)
from workers.fewshot.stats import abundance, bootstrap_labels


def test_counts_fractions_and_physical_areas():
    labels = np.array([[0, 0, 1], [1, 1, 2]])
    probs = np.eye(3)[labels.ravel()]
    st = abundance(labels, probs, n_classes=4, chip_area_px=100, pixel_size=0.5, pixel_unit="nm")
    assert st["counts"] == [2, 3, 1, 0]
    np.testing.assert_allclose(st["fractions"], [2 / 6, 3 / 6, 1 / 6, 0])
    np.testing.assert_allclose(st["soft_fractions"], st["fractions"])
    assert st["areas_px"] == [200, 300, 100, 0]
    np.testing.assert_allclose(st["areas"], [50.0, 75.0, 25.0, 0.0])
    assert st["area_unit"] == "nm^2"
    # no spread from chips treated as independent: it claimed far more certainty than maps
    # have (their errors come in regions); the fraction interval is the uncertainty
    assert "fractions_std_prob" not in st


def test_without_pixel_size_no_physical_area():
    st = abundance(np.zeros((2, 2), int), np.ones((4, 1)), n_classes=1, chip_area_px=4)
    assert "areas" not in st and st["fractions"] == [1.0]


def test_bootstrap_spread_grows_with_ambiguous_support():
    rng = np.random.default_rng(0)
    query = rng.normal(0, 1, (400, 2))
    tight = {
        0: np.array([[-2.0, 0], [-2.1, 0], [-1.9, 0]]),
        1: np.array([[2.0, 0], [2.1, 0], [1.9, 0]]),
    }
    loose = {
        0: np.array([[-3.0, 0], [1.0, 0], [-1.0, 0]]),
        1: np.array([[3.0, 0], [-1.0, 0], [1.0, 0]]),
    }
    b_tight = bootstrap_labels(query, tight, n_resamples=100, seed=1)
    b_loose = bootstrap_labels(query, loose, n_resamples=100, seed=1)
    assert b_tight.shape == (100, 400)
    labels = b_tight[0].reshape(20, 20)
    probs = np.eye(2)[labels.ravel()]
    st_t = abundance(labels, probs, n_classes=2, chip_area_px=1, bootstrap=b_tight)
    st_l = abundance(labels, probs, n_classes=2, chip_area_px=1, bootstrap=b_loose)
    assert st_l["fractions_std"][0] > 3 * st_t["fractions_std"][0]
    assert st_l["fractions_ci_low"][0] <= st_l["fractions_ci_high"][0]
    np.testing.assert_array_equal(b_tight, bootstrap_labels(query, tight, n_resamples=100, seed=1))


def test_bootstrap_single_chip_classes_have_no_spread():
    b = bootstrap_labels(
        np.random.default_rng(0).normal(size=(30, 3)),
        {0: np.zeros((1, 3)), 1: np.ones((1, 3))},
        n_resamples=10,
    )
    assert (b == b[0]).all()
    st = abundance(b[0].reshape(5, 6), np.eye(2)[b[0]], n_classes=2, chip_area_px=1, bootstrap=b)
    assert st["fractions_std"] == pytest.approx([0.0, 0.0])


def _regional_truth(rng, probs, shape, block):
    """True labels drawn from the probabilities with one uniform per block x block region."""
    rows, cols = shape
    u = rng.random((rows // block, cols // block)).repeat(block, 0).repeat(block, 1).ravel()
    return (u > probs[:, 0]).astype(int)


def test_fraction_interval_covers_regionally_wrong_maps():
    """Calibrated chips whose errors come in 16 regions: the interval holds the true fraction
    in >= 90 % of maps, where independent-chip binomial error bars would not."""
    rng = np.random.default_rng(0)
    hits, naive_hits, widths = 0, 0, []
    trials = 300
    for _ in range(trials):
        p0 = rng.beta(0.6, 0.6, 256)
        probs = np.stack([p0, 1 - p0], 1)
        labels = probs.argmax(1)
        truth = np.bincount(_regional_truth(rng, probs, (16, 16), 4), minlength=2) / 256
        point = np.bincount(labels, minlength=2) / 256
        iv = fraction_interval(probs, point, multiplier=interval_multiplier("default"))
        lo, hi = np.array(iv["low"]), np.array(iv["high"])
        assert (lo <= point).all() and (point <= hi).all() and lo.min() >= 0 and hi.max() <= 1
        hits += int(lo[0] <= truth[0] <= hi[0])
        widths.append(hi[0] - lo[0])
        naive = 1.96 * np.sqrt((p0 * (1 - p0)).sum()) / 256
        naive_hits += int(abs(truth[0] - p0.mean()) <= naive)
    assert hits / trials >= 0.9
    assert naive_hits / trials < 0.6
    # 2 x the multiplier x these very unsure chips' spread (about 0.37): far from [0, 1]
    assert np.mean(widths) < 0.65


def test_interval_probs_fix_support_and_unmixed_chips():
    probs = np.full((4, 2), 0.5)
    fixed = interval_probs(
        probs,
        support={1: [0]},
        decided=np.array([False, True, False, False]),
        decided_probs=np.array([[0, 0], [0.8, 0.2], [0, 0], [0, 0]]),
    )
    np.testing.assert_allclose(fixed, [[0, 1], [0.8, 0.2], [0.5, 0.5], [0.5, 0.5]])
    assert probs[0, 0] == 0.5  # input untouched


def test_abundance_reports_the_interval_and_keeps_the_bootstrap():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, (8, 8))
    probs = np.where(np.eye(2)[labels.ravel()] > 0, 0.8, 0.2)
    boot = np.stack([rng.permutation(labels.ravel()) for _ in range(20)])
    point = np.bincount(labels.ravel(), minlength=2) / 64
    iv = fraction_interval(probs, point, multiplier=0.5)
    st = abundance(
        labels, probs, n_classes=3, chip_area_px=4, pixel_size=1.0, bootstrap=boot, interval=iv
    )
    assert st["fractions_ci_low"][:2] == pytest.approx(iv["low"])
    assert st["fractions_ci_high"][2] == 0.0 and len(st["fractions_std"]) == 3
    assert st["interval"]["method"] == iv["method"] and "whole grid" in st["interval"]["covers"]
    assert st["bootstrap"]["ci_low"][0] <= st["bootstrap"]["ci_high"][0]
    assert st["areas_std"][0] == pytest.approx(st["fractions_std"][0] * 64 * 4)
    # half-width 0.5 * 0.16 ** 0.7 = 0.139 around the soft fraction (p (1 - p) = 0.16 everywhere)
    assert st["fractions_ci_high"][0] - st["fractions_ci_low"][0] == pytest.approx(
        2 * 0.5 * 0.16**INTERVAL_EXPONENT, abs=1e-6
    )


def test_mean_confidence_by_class():
    """A map of sure background and unsure particles: the overall mean hides the particles."""
    labels = np.array([[0, 0, 0, 0], [0, 0, 0, 1]])
    probs = np.array([[0.99, 0.01]] * 7 + [[0.4, 0.6]])
    st = abundance(labels, probs, n_classes=3, chip_area_px=1)
    assert st["mean_confidence"] == pytest.approx((7 * 0.99 + 0.6) / 8)
    assert st["mean_confidence_by_class"] == pytest.approx([0.99, 0.6, 0.0])


def test_a_class_never_reads_below_its_own_examples_share():
    """Unsure chips everywhere: the interval would reach 0 and 1, but 10 % of the chips are the
    user's examples of class 0 and 30 % of class 1, so class 0 lies in [0.1, 0.7]."""
    probs = np.full((100, 2), 0.5)
    point = np.array([0.5, 0.5])
    free = fraction_interval(probs, point, multiplier=2.0)
    assert free["low"] == [0.0, 0.0] and free["high"] == [1.0, 1.0]
    iv = fraction_interval(probs, point, multiplier=2.0, known=np.array([0.1, 0.3]))
    assert iv["low"] == pytest.approx([0.1, 0.3]) and iv["high"] == pytest.approx([0.7, 0.9])
    # where the spread alone keeps it inside, what is known changes nothing
    narrow = fraction_interval(probs, point, multiplier=0.2, known=np.array([0.1, 0.3]))
    half = 0.2 * 0.25**INTERVAL_EXPONENT  # 0.076
    assert narrow["low"] == pytest.approx([0.5 - half] * 2)
    assert narrow["high"] == pytest.approx([0.5 + half] * 2)


def test_a_clean_maps_interval_narrows_faster_than_the_square_root():
    """The half-width grows with the share of unsure chips u as u ** 0.7: a map with 16 times
    fewer unsure chips (a particle's outline against a wrong region) gets an interval 16 ** 0.7
    = 7 times narrower, where a square root would give 4 times."""
    assert 0.5 < INTERVAL_EXPONENT < 1
    unsure = np.tile([0.0, 1.0], (160, 1))
    unsure[:80] = 0.5
    clean = unsure.copy()
    clean[5:80] = [1.0, 0.0]  # 5 unsure chips where there were 80
    widths = []
    for probs in (unsure, clean):  # the reported fraction at the centre: the spread alone
        iv = fraction_interval(probs, probs.mean(0), multiplier=0.5)
        widths.append(iv["high"][0] - iv["low"][0])
    assert widths[0] / widths[1] == pytest.approx(16**INTERVAL_EXPONENT, rel=1e-6)
