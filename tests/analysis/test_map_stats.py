"""A pixel map's statistics (``analysis.maps``) against their definitions on a partly covered
map: fractions, mean confidence and the unsure share over the covered pixels only."""

import numpy as np
import pytest

from analysis import maps
from workers.fewshot.profiles import line_counts


def test_pixel_stats_count_the_covered_pixels_only():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, (64, 80)).astype(np.int16)
    confidence = rng.uniform(0.3, 1.0, labels.shape).astype(np.float32)
    labels[:, 70:] = -1  # the grid does not reach the right margin: no class, confidence 0
    labels[60:] = -1
    confidence[labels < 0] = 0.0
    covered = labels >= 0
    lines = line_counts(labels, 3)
    stats = maps.pixel_stats(lines["y"].sum(0), confidence, 0.5, "nm")
    assert stats["n_pixels"] == covered.sum() == 60 * 70
    assert stats["counts"] == [int((labels == k).sum()) for k in range(3)]
    np.testing.assert_allclose(stats["fractions"], np.asarray(stats["counts"]) / covered.sum())
    assert stats["mean_confidence"] == pytest.approx(confidence[covered].mean(), rel=1e-6)
    unsure = (confidence[covered] < maps.UNCERTAIN_BELOW).mean()
    assert stats["uncertain_fraction"] == pytest.approx(unsure)
    assert stats["areas"] == [c * 0.25 for c in stats["counts"]]
    assert stats["area_unit"] == "nm^2"
    layers = maps.layer_stats(labels, lines, 0.5, "nm")
    assert layers["y"]["fractions"][-1] == [None, None, None]  # a band with no covered pixel
    assert layers["main_axis"] in ("y", "x")
