"""The pixel benchmark's boundary metric (workers.fewshot.bench.pixels): what a boundary error
of N px means on hand-made label maps."""

from __future__ import annotations

import numpy as np
import pytest

from workers.fewshot.bench.pixels import boundary_error, boundary_parts


def _halves(split: int, shape=(64, 96)) -> np.ndarray:
    out = np.zeros(shape, int)
    out[:, split:] = 1
    return out


@pytest.mark.parametrize("shift", [0, 1, 3, 7])
def test_a_straight_boundary_shifted_by_n_pixels_is_n_pixels_off(shift):
    truth, pred = _halves(40), _halves(40 + shift)
    assert boundary_error(truth, pred) == pytest.approx(shift)
    parts = boundary_parts(truth, pred, near=16)
    assert parts["mean"] == pytest.approx(shift)
    assert parts["placement"] == pytest.approx(shift) and parts["gross"] == 0
    assert parts["far_share"] == 0 and parts["domains"] == 0


def test_the_error_is_symmetric_and_counts_both_directions():
    """A spurious boundary: the predicted edges far from the true one count, and so does the
    true edge's distance to the nearest predicted edge."""
    truth = _halves(40)
    pred = truth.copy()
    pred[:, 80:] = 0  # a strip of class 0 at the right: a second boundary 40 px away
    e = boundary_error(truth, pred)
    assert e == pytest.approx(boundary_error(pred, truth))
    # 64 true edge pixels at 0 px, 64 predicted at 0 px and 64 predicted at 40 px
    assert e == pytest.approx(64 * 40 / (3 * 64))


def test_a_mislabelled_domain_is_gross_error_not_placement():
    truth = _halves(96, (64, 128))
    pred = _halves(98, (64, 128))  # the boundary 2 px off ...
    pred[8:40, 8:40] = 1  # ... and a 32 px domain of the wrong class far from it
    parts = boundary_parts(truth, pred, near=16)
    assert parts["mean"] == pytest.approx(boundary_error(truth, pred))
    assert parts["placement"] + parts["gross"] == pytest.approx(parts["mean"])
    assert parts["gross"] > parts["placement"] > 0
    assert parts["near_mean"] == pytest.approx(2, abs=0.1)
    assert parts["domains"] == pytest.approx(32 * 32 / truth.size, rel=0.01)
    # a 2 px wide sliver (no domain) is not counted in "domains"
    assert boundary_parts(truth, _halves(98, (64, 128)), near=16)["domains"] == 0


def test_a_map_without_boundary_scores_nan():
    truth = _halves(40)
    assert np.isnan(boundary_error(truth, np.zeros_like(truth)))
    assert np.isnan(boundary_parts(truth, np.zeros_like(truth), near=16)["mean"])


def test_the_benchmark_splits_each_images_boundary_error(tmp_path, capsys):
    import json

    from workers.fewshot.bench.pixels import main

    out = tmp_path / "rows.json"
    args = ["--cases", "sto_ge_interface", "--size", "192", "--draws", "1", "--no-peer"]
    assert main([*args, "--per-case", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "placement + gross" in printed and "sto_ge_interface" in printed
    (row,) = json.loads(out.read_text())["rows"]
    for key, bnd in [("chip_parts", "chip_bnd"), ("parts:default", "bnd:default")]:
        parts = row[key]
        assert parts["mean"] == pytest.approx(row[bnd])
        assert parts["placement"] + parts["gross"] == pytest.approx(parts["mean"])
        assert 0 <= parts["far_share"] <= 1 and parts["p95"] >= 0


def test_missed_and_extra_objects_on_hand_made_maps():
    """Three truth particles; the map finds two, cuts one in two pieces that are each mostly
    particle (not extra), and adds one where there is only film (extra)."""
    from workers.fewshot.bench.pixel_scores import extra_objects, missed_objects

    truth = np.zeros((64, 96), int)
    truth[5:15, 5:15] = 1  # found whole
    truth[5:15, 40:60] = 1  # found in two pieces
    truth[40:50, 5:15] = 1  # missed
    labels = np.zeros_like(truth)
    labels[5:15, 5:15] = 1
    labels[5:15, 40:49] = 1
    labels[5:15, 51:60] = 1
    labels[40:50, 70:80] = 1  # nothing there
    confidence = np.ones(truth.shape)
    assert missed_objects(truth, labels, confidence) == (3, 1, 0)
    assert extra_objects(truth, labels) == 1
    assert extra_objects(truth, truth) == 0
    labels[30:33, 30:33] = 1  # a 3 x 3 speck on the film: below 16 px, not an object
    assert extra_objects(truth, labels) == 1


def test_uncertain_spots_on_nothing_are_counted_apart_from_rims_and_misses():
    """Two spots shown as uncertain on plain film count; a particle's uncertain rim, an
    uncertain missed particle and a wrongly labelled spot do not."""
    from workers.fewshot.bench.pixel_scores import false_alarms

    truth = np.zeros((64, 96), int)
    truth[5:15, 5:15] = 1
    truth[40:50, 5:15] = 1  # missed, shown uncertain
    labels = truth.copy()
    labels[40:50, 5:15] = 0
    confidence = np.ones(truth.shape)
    confidence[4:16, 4:16] = 0.5  # the first particle and its rim
    confidence[40:50, 5:15] = 0.5
    assert false_alarms(truth, labels, confidence) == 0
    confidence[30:33, 60:63] = 0.5  # on nothing
    confidence[55:57, 80:82] = 0.6
    labels[20:23, 40:43] = 1  # a false find, shown uncertain: an extra object, not this
    confidence[20:23, 40:43] = 0.5
    assert false_alarms(truth, labels, confidence) == 2
