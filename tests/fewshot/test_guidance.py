"""Chip-size suggestion and label-next guidance."""

import numpy as np
import pytest
from scipy import ndimage

from tests.fewshot.synthetic import stripes
from workers.fewshot.guidance import label_next, suggest_chip_size


def test_periodic_image_gets_a_multiple_of_its_period():
    img = stripes((256, 256), 8.0, 30.0, np.random.default_rng(0))
    s = suggest_chip_size(img)
    assert s.method == "periodicity"
    assert abs(s.period_px - 8.0) < 0.6
    assert s.chip_size == 48 and "8.0 px" in s.reason


def test_aperiodic_image_uses_feature_scale_and_grows_with_it():
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(256, 256))
    small = suggest_chip_size(ndimage.gaussian_filter(noise, 2))
    large = suggest_chip_size(ndimage.gaussian_filter(noise, 6))
    assert small.method == large.method == "feature_scale"
    assert large.correlation_length_px > 2 * small.correlation_length_px
    assert large.chip_size > small.chip_size
    assert 16 <= small.chip_size <= 64


def test_label_next_prefers_ambiguous_then_skips_support_and_neighbours():
    probs = np.tile([0.95, 0.05], (4, 6, 1))
    probs[1, 1] = [0.5, 0.5]
    probs[1, 2] = [0.55, 0.45]  # neighbour of the first pick: suppressed
    probs[3, 5] = [0.6, 0.4]
    probs[0, 0] = [0.5, 0.5]  # a support chip: never suggested
    emb = np.zeros((4, 6, 2))
    support = {0: [(0, 0)], 1: [(3, 0)]}
    picks = label_next(probs, emb, support, n=2, strategy="margin")
    assert [(p.row, p.col) for p in picks] == [(1, 1), (3, 5)]
    assert picks[0].score > picks[1].score


def test_label_next_novelty_finds_the_outlier():
    rng = np.random.default_rng(0)
    emb = rng.normal(0, 0.1, (5, 5, 3))
    emb[4, 2] += 10.0
    probs = np.full((5, 5, 2), 0.5)
    picks = label_next(probs, emb, {0: [(0, 0)], 1: [(0, 4)]}, n=1, strategy="novelty")
    assert (picks[0].row, picks[0].col) == (4, 2)


def test_label_next_fills_up_when_spacing_runs_out():
    probs = np.full((2, 3, 2), 0.5)
    picks = label_next(
        probs, np.zeros((2, 3, 1)), {0: [(0, 0)], 1: [(1, 2)]}, n=10, strategy="entropy"
    )
    assert len(picks) == 4
    assert len({(p.row, p.col) for p in picks}) == 4
    assert (0, 0) not in {(p.row, p.col) for p in picks}


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (4, 4), (2, 400), (400, 3), (8, 8)])
def test_chip_size_suggestion_fits_tiny_and_thin_images(shape):
    image = np.random.default_rng(0).integers(0, 255, shape).astype(np.uint8)
    s = suggest_chip_size(image)
    assert 1 <= s.chip_size <= min(shape)
    assert s.method == "feature_scale"  # too small to hold several periods


def test_aperiodic_images_get_at_least_8_x_8_chips_and_say_what_the_grid_leaves_out():
    """Large blobs (particles) on a 512 px image: 4 x the correlation length would be a 4 x 4
    grid that hides most particles; the suggestion is capped at 8 x 8 chips and says so."""
    rng = np.random.default_rng(1)
    blobs = ndimage.gaussian_filter(rng.normal(size=(512, 512)), 12)
    s = suggest_chip_size(blobs)
    assert s.method == "feature_scale" and 4 * s.correlation_length_px > 64
    assert s.chip_size == 64 and s.grid == (8, 8)
    assert "capped at 64 px" in s.reason and "8 x 8 grid" in s.reason
    assert s.uncovered_fraction == 0.0


def test_among_close_sizes_the_one_with_small_margins_is_taken():
    """A 790 px periodic image: 6 periods of 12 px would be 72 px chips leaving 17 % out;
    64 px (within 20 %) leaves 5 %, and the reason names the share."""
    img = stripes((790, 787), 12.0, 30.0, np.random.default_rng(0))
    s = suggest_chip_size(img)
    assert s.method == "periodicity"
    assert s.chip_size == 64 and s.grid == (12, 12)
    assert s.uncovered_fraction == pytest.approx(1 - 768 * 768 / (790 * 787))
    assert "5.1% of the image outside" in s.reason


def test_a_periodic_grid_below_8_x_8_says_why():
    s = suggest_chip_size(stripes((256, 256), 8.0, 30.0, np.random.default_rng(0)))
    assert s.grid == (5, 5) and "a chip must hold 6 periods" in s.reason
