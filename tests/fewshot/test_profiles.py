"""Layer profiles and interface positions from pixel maps."""

import math

import numpy as np
import pytest

from workers.fewshot.profiles import class_profile, direction_profile, interfaces, line_counts


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


def test_a_graded_interface_measures_its_whole_transition():
    """Class 1's share rising linearly over 100 rows (a graded or rough interface, read
    across): the 10-90 % width is 80 px, however far it reaches from the crossing."""
    rng = np.random.default_rng(1)
    share = np.clip((np.arange(400) - 150) / 100, 0, 1)[:, None]
    labels = (rng.random((400, 600)) < share).astype(np.int16)
    (found,) = interfaces(class_profile(labels, 2, band=2))
    assert found["between"] == [0, 1]
    assert found["position_px"] == pytest.approx(200, abs=4)
    assert found["width_px"] == pytest.approx(80, abs=6)


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


@pytest.mark.parametrize(("angle", "axis"), [(0, "x"), (-90, "y"), (270, "y")])
def test_a_direction_along_an_axis_is_that_axis_profile(angle, axis):
    labels = layers(rough=5.0)
    labels[:, :20] = -1
    d = direction_profile(labels, 3, angle=angle, band=7)
    a = class_profile(labels, 3, axis=axis, band=7)
    np.testing.assert_allclose(d.positions, a.positions)
    np.testing.assert_allclose(d.fractions, a.fractions)
    np.testing.assert_array_equal(d.covered, a.covered)


def test_layers_cut_at_an_angle_give_their_interfaces_along_the_chosen_direction():
    """Layers whose normal points 30 degrees above the x axis (on screen): across that
    direction the interfaces are sharp and where they were drawn, in nm; along the rows they
    smear over the whole tilt."""
    h, w, theta = 300, 400, math.radians(30)
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    along = xx * math.cos(theta) - yy * math.sin(theta) + (h - 1) * math.sin(theta)
    labels = (along >= 120).astype(np.int16) + (along >= 260)
    prof = direction_profile(labels, 3, angle=30, band=2)
    assert prof.positions[-1] == pytest.approx((w - 1) * math.cos(theta) + (h - 1) * 0.5, abs=1)
    found = interfaces(prof, pixel_size=0.25, pixel_unit="nm")
    assert [i["between"] for i in found] == [[0, 1], [1, 2]]
    assert [i["position_px"] for i in found] == pytest.approx([119.5, 259.5], abs=1.0)
    assert [i["position"] for i in found] == pytest.approx([119.5 / 4, 259.5 / 4], abs=0.25)
    assert all(i["width_px"] <= 4 for i in found)
    rows = interfaces(class_profile(labels, 3, axis="x", band=2))
    assert max(i["width_px"] or 0 for i in rows) > 3 * max(i["width_px"] for i in found)


@pytest.mark.parametrize(
    "kwargs", [{"angle": float("nan")}, {"angle": 400}, {"angle": 0, "band": 0}]
)
def test_bad_directions_are_refused(kwargs):
    with pytest.raises(ValueError):
        direction_profile(layers(), 3, **kwargs)


def test_line_counts_are_each_class_per_row_and_column():
    rng = np.random.default_rng(3)
    labels = rng.integers(-1, 4, (37, 53)).astype(np.int16)  # -1: not covered, 3: no class
    lines = line_counts(labels, 3)
    for k in range(3):
        np.testing.assert_array_equal(lines["y"][:, k], (labels == k).sum(1))
        np.testing.assert_array_equal(lines["x"][:, k], (labels == k).sum(0))
    assert line_counts(labels, 3, "x").keys() == {"x"}
    # the profile from counts made beforehand is the profile
    for axis in ("y", "x"):
        given = class_profile(labels, 3, axis=axis, band=5, per_line=lines[axis])
        own = class_profile(labels, 3, axis=axis, band=5)
        np.testing.assert_array_equal(given.fractions, own.fractions)
        np.testing.assert_array_equal(given.covered, own.covered)
    with pytest.raises(ValueError, match="per_line"):
        class_profile(labels, 3, axis="y", per_line=lines["x"])
