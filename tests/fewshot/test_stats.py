"""Abundance statistics and the support bootstrap."""

import numpy as np
import pytest

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
    np.testing.assert_allclose(st["fractions_std_prob"], 0.0)


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
