"""End-to-end segmentation: a known image, determinism, multi-image, real micrographs."""

from pathlib import Path

import numpy as np
import pytest

from tests.support.micrographs import SHARED as PYCHIP
from workers.fewshot.chipping import ChipGrid, chip_truth, normalise
from workers.fewshot.encoders import build_encoder
from workers.fewshot.pipeline import SegmentOptions, segment, segment_images

SUPPORT = {0: [(0, 0), (5, 1)], 1: [(0, 7), (4, 6)]}


@pytest.mark.parametrize("name", ["fourier", "default"])
def test_segment_recovers_two_phases(two_phase, name):
    image, truth = two_phase
    seg = segment(
        image,
        chip_size=16,
        support=SUPPORT,
        encoder=build_encoder(name),
        pixel_size=0.1,
        pixel_unit="nm",
    )
    expected = chip_truth(truth, ChipGrid.for_shape(image.shape, 16))
    assert seg.labels.shape == (6, 8) and seg.probs.shape == (6, 8, 2)
    assert (seg.labels == expected).mean() >= 0.9
    np.testing.assert_allclose(seg.probs.sum(-1), 1.0, rtol=1e-5)
    assert 0.4 <= seg.stats["fractions"][1] <= 0.6
    assert seg.stats["area_unit"] == "nm^2" and len(seg.stats["fractions_std"]) == 2
    assert {"embed", "prototypes", "classify", "boundary", "statistics", "total"} <= set(
        seg.timings
    )


def test_segment_is_deterministic(two_phase):
    image, _ = two_phase
    enc = build_encoder("default")
    a = segment(
        image,
        chip_size=16,
        support=SUPPORT,
        encoder=enc,
        options=SegmentOptions(refine=True, smooth=0.5),
    )
    b = segment(
        image,
        chip_size=16,
        support=SUPPORT,
        encoder=enc,
        options=SegmentOptions(refine=True, smooth=0.5),
    )
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.probs, b.probs)
    assert a.stats == b.stats


def test_multi_image_support_pools_classes(two_phase):
    image, _ = two_phase
    left, right = np.ascontiguousarray(image[:, :64]), np.ascontiguousarray(image[:, 64:])
    segs = segment_images(
        [left, right],
        chip_size=16,
        support=[{0: [(0, 0), (3, 2)]}, {1: [(1, 1), (4, 3)]}],
        encoder=build_encoder("fourier"),
    )
    assert (segs[0].labels == 0).mean() >= 0.9 and (segs[1].labels == 1).mean() >= 0.9


def test_class_ids_need_not_be_contiguous(two_phase):
    image, _ = two_phase
    sup = {1: SUPPORT[0], 4: SUPPORT[1]}
    seg = segment(image, chip_size=16, support=sup, encoder="fourier")
    assert seg.classes == (1, 4) and set(np.unique(seg.labels)) == {1, 4}
    assert seg.stats["counts"][0] == 0 and len(seg.stats["fractions"]) == 5
    assert sum(seg.stats["counts"]) == seg.labels.size
    with pytest.raises(ValueError, match="2 classes"):
        segment(image, chip_size=16, support={1: [(0, 0)], 2: []}, encoder="fourier")
    with pytest.raises(IndexError):
        segment(image, chip_size=16, support={0: [(0, 0)], 1: [(9, 9)]}, encoder="fourier")


def _extreme_chips(image: np.ndarray, chip: int, n: int) -> dict[int, list[tuple[int, int]]]:
    """Support from the data itself: the n darkest chips (class 0) and n brightest (class 1)."""
    grid = ChipGrid.for_shape(image.shape[:2], chip)
    means = grid.chips(normalise(image)).mean(axis=(1, 2))
    order = np.argsort(means)
    return {0: [grid.position(i) for i in order[:n]], 1: [grid.position(i) for i in order[-n:]]}


@pytest.mark.parametrize("encoder", ["default", "fourier"])
def test_smoke_moo3_particles_tiff(encoder):
    tifffile = pytest.importorskip("tifffile")
    image = tifffile.imread(Path(PYCHIP) / "moo3_particles_jeol_stem_df.tiff")
    assert image.dtype == np.uint16
    support = _extreme_chips(image, 32, 3)
    seg = segment(image, chip_size=32, support=support, encoder=encoder)
    for cls, chips in support.items():  # every support chip keeps its own class
        assert all(seg.labels[r, c] == cls for r, c in chips)
    grid = ChipGrid.for_shape(image.shape, 32)
    means = grid.chips(normalise(image)).mean(axis=(1, 2)).reshape(grid.rows, grid.cols)
    assert (seg.labels[means < 0.1] == 0).mean() > 0.95  # the dark carbon support is background
    assert 0 < seg.stats["fractions"][1] < 0.3  # a few particles on a mostly empty support
    assert seg.stats["mean_confidence"] > 0.5


def test_smoke_lsfo_rgb_jpeg():
    from PIL import Image

    image = np.asarray(Image.open(Path(PYCHIP) / "lsfo_film_haadf.jpg"))
    assert image.ndim == 3
    seg = segment(image, chip_size=48, support=_extreme_chips(image, 48, 2), encoder="fourier")
    assert seg.grid.rows == 787 // 48 and seg.grid.cols == 790 // 48
    assert set(np.unique(seg.labels)) == {0, 1}


@pytest.mark.parametrize("name", ["fourier", "default"])
def test_a_wrong_example_is_flagged_not_silently_relabelled(two_phase, name):
    """A chip of phase 1 clicked as phase 0 is reported, with the class it looks like."""
    image, _ = two_phase
    wrong = {0: [(0, 0), (5, 1), (1, 2), (4, 6)], 1: [(0, 7), (3, 6), (2, 7)]}
    seg = segment(image, chip_size=16, support=wrong, encoder=name)
    check = seg.stats["support_check"]
    assert check["n_checked"] == check["n_examples"] == 7
    assert [
        (d["image"], d["row"], d["col"], d["class"], d["predicted"]) for d in check["disagree"]
    ] == [(0, 4, 6, 0, 1)]
    right = segment(image, chip_size=16, support=SUPPORT, encoder=name)
    assert right.stats["support_check"]["disagree"] == []
