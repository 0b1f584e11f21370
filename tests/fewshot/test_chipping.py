"""Chip grid geometry, normalisation and per-chip truth."""

import numpy as np
import pytest
import torch

from workers.fewshot.chipping import ChipGrid, chip_truth, normalise


def test_grid_geometry_and_margins_on_odd_size():
    g = ChipGrid.for_shape((101, 77), chip_size=10, offset=(3, 5))
    assert (g.rows, g.cols) == (9, 7)
    assert g.margins == (3, 5, 101 - 3 - 90, 77 - 5 - 70)
    assert g.chip_box(0, 0) == (3, 5, 13, 15)
    assert g.chip_box(8, 6) == (83, 65, 93, 75)
    assert g.index(2, 3) == 2 * 7 + 3
    assert g.position(g.index(2, 3)) == (2, 3)


@pytest.mark.parametrize("chip", [1, 7, 33])
def test_chips_cover_exactly_the_boxes(chip):
    img = np.arange(33 * 35, dtype=np.float32).reshape(33, 35)
    g = ChipGrid.for_shape(img.shape, chip)
    chips = g.chips(img)
    assert chips.shape == (g.rows * g.cols, chip, chip)
    r, c = g.rows - 1, g.cols - 1
    y0, x0, y1, x1 = g.chip_box(r, c)
    np.testing.assert_array_equal(chips[g.index(r, c)], img[y0:y1, x0:x1])
    torch.testing.assert_close(
        g.chips(torch.from_numpy(img))[g.index(r, c)], torch.from_numpy(img[y0:y1, x0:x1])
    )


def test_grid_rejects_bad_sizes():
    with pytest.raises(ValueError):
        ChipGrid.for_shape((20, 20), chip_size=0)
    with pytest.raises(ValueError):
        ChipGrid.for_shape((20, 20), chip_size=21)
    with pytest.raises(ValueError):
        ChipGrid.for_shape((20, 20), chip_size=15, offset=(10, 0))
    with pytest.raises(IndexError):
        ChipGrid.for_shape((20, 20), chip_size=10).chip_box(2, 0)


def test_grid_shape_from_rgb_and_stack():
    assert (ChipGrid.for_shape((40, 50, 3), 10).rows, ChipGrid.for_shape((40, 50, 3), 10).cols) == (
        4,
        5,
    )
    assert ChipGrid.for_shape((7, 40, 50), 10).cols == 5


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_normalise_uses_image_percentiles_not_dtype_range(dtype):
    rng = np.random.default_rng(1)
    raw = rng.integers(100, 200, size=(64, 64)).astype(dtype)
    before = raw.copy()
    out = normalise(raw)
    np.testing.assert_array_equal(raw, before)
    assert out.dtype == np.float32 and out.shape == (64, 64)
    assert out.min() == 0.0 and out.max() == 1.0  # dtype range would squeeze uint16 into ~0.002
    assert 0.3 < float(np.median(out)) < 0.7


def test_normalise_is_robust_to_hot_pixels_and_non_finite():
    img = np.full((50, 50), 10.0)
    img[10:20] = 20.0
    img[0, 0] = 1e9
    img[1, 1] = np.nan
    img[2, 2] = -np.inf
    out = normalise(img)
    assert np.isfinite(out).all() and out[1, 1] == 0.0 and out[2, 2] == 0.0
    assert out[15, 15] == pytest.approx(1.0) and out[30, 30] == pytest.approx(0.0)


def test_normalise_percentiles_see_every_column_of_a_large_lattice():
    """Atoms on every 4th column of a 4M-pixel image: a subsample that read the same columns
    of every row (a step dividing the width) would miss them and clip them with the background."""
    image = np.random.default_rng(0).uniform(0, 0.2, (4096, 1024)).astype(np.float32)
    image[2::4, 2::4] = 1.0
    norm = normalise(image)
    assert (norm[2::4, 2::4] == 1.0).all()
    assert norm[0::4, 0::4].max() < 0.25  # the background keeps its place below the atoms


def test_normalise_rgb_and_frame_stack():
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, 15:] = 200
    grey = normalise(rgb)
    assert grey.shape == (20, 30) and grey[0, 0] == 0 and grey[0, 29] == 1
    stack = np.stack([np.full((8, 8), 1.0), np.full((8, 8), 3.0)]).astype(np.float32)
    stack[0, 0, 0] = 0
    out = normalise(stack)
    assert out.shape == (2, 8, 8)
    assert out[0, 1, 1] < out[1, 1, 1]  # frames share one scale


def test_chip_truth_majority_and_purity():
    truth = np.zeros((20, 30), np.int32)
    truth[:, 12:] = 2  # chips of 10: col 0 pure 0, col 1 80 % class 2, col 2 pure 2
    g = ChipGrid.for_shape(truth.shape, 10)
    labels, purity = chip_truth(truth, g, return_purity=True)
    np.testing.assert_array_equal(labels, [[0, 2, 2], [0, 2, 2]])
    np.testing.assert_allclose(purity[0], [1.0, 0.8, 1.0])
