"""Layer profiles and interface positions from pixel maps."""

import numpy as np
import pytest

from workers.fewshot.profiles import class_profile, interfaces


def layers(height=300, width=200, bounds=(100.0, 220.0), rough=0.0, seed=0):
    """Three horizontal layers 0 / 1 / 2 meeting at ``bounds`` (rows), edges displaced per
    column by up to ``rough`` px."""
    rng = np.random.default_rng(seed)
    y = np.arange(height)[:, None]
    labels = np.zeros((height, width), np.int16)
    for k, b in enumerate(bounds, start=1):
        edge = b + rough * rng.uniform(-1, 1, width)[None, :]
        labels[y >= edge] = k
    return labels


def test_profile_fractions_per_row_band_and_uncovered_pixels():
    labels = layers()
    labels[:, :20] = -1  # an uncovered margin does not count
    p = class_profile(labels, 3, axis="y", band=10)
    assert p.fractions.shape == (30, 3) and p.positions[0] == 4.5
    np.testing.assert_allclose(p.fractions.sum(1), 1.0)
    assert p.fractions[0].tolist() == [1.0, 0.0, 0.0]
    assert p.covered[0] == 10 * 180
    x = class_profile(labels, 3, axis="x", band=20)
    assert x.fractions.shape == (10, 3)
    assert np.isnan(x.fractions[0]).all() and np.isfinite(x.fractions[1:]).all()  # no pixel
    assert x.to_dict()["fractions"][0] == [None, None, None]
    d = p.to_dict(pixel_size=0.2, pixel_unit="nm")
    assert d["positions"][0] == pytest.approx(0.9) and d["unit"] == "nm"


def test_interfaces_at_the_layer_boundaries_in_nm_with_their_roughness():
    sharp = interfaces(class_profile(layers(), 3), pixel_size=0.5, pixel_unit="nm")
    assert [i["between"] for i in sharp] == [[0, 1], [1, 2]]
    assert [i["position_px"] for i in sharp] == pytest.approx([99.5, 219.5], abs=0.51)
    assert sharp[0]["position"] == pytest.approx(sharp[0]["position_px"] * 0.5)
    rough = interfaces(class_profile(layers(rough=8.0), 3))
    assert [i["position_px"] for i in rough] == pytest.approx([99.5, 219.5], abs=1.5)
    assert rough[0]["width_px"] > sharp[0]["width_px"] + 8  # rougher interface, wider transition


def test_specks_do_not_make_interfaces():
    labels = layers()
    labels[150:152, :] = 2  # a two-row misclassified streak inside layer 1
    found = interfaces(class_profile(labels, 3), min_run=3)
    assert [i["between"] for i in found] == [[0, 1], [1, 2]]


@pytest.mark.parametrize(
    "kwargs",
    [{"axis": "z"}, {"band": 0}, {"band": 10**6}],
)
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        class_profile(layers(), 3, **kwargs)
