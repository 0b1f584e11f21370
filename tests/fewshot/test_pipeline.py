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


def test_support_moves_to_half_and_double_chip_sizes():
    from workers.fewshot.pipeline import rescale_support

    half = ChipGrid.for_shape((96, 128), 8)
    assert rescale_support({0: [(1, 2)], 1: [(5, 7)]}, 0.5, half) == {
        0: [(2, 4), (2, 5), (3, 4), (3, 5)],
        1: [(10, 14), (10, 15), (11, 14), (11, 15)],
    }
    double = ChipGrid.for_shape((96, 128), 32)  # 3 x 4 chips
    moved = rescale_support({0: [(0, 0), (1, 1), (2, 3)], 1: [(0, 1), (5, 7), (4, 2)]}, 2, double)
    # (0, 0) holds examples of both classes: left out; (1, 1) and (2, 3) are one chip
    assert moved == {0: [(1, 1)], 1: [(2, 1), (2, 3)]}
    # with the s px map: a 2s chip stays an example only where all four of its chips are
    # of the example's class (a small particle's 2s chip is mostly support)
    labels = np.zeros((6, 8), np.int64)
    labels[4:6, 2:4] = 1
    labels[0, 3] = 1
    checked = rescale_support({1: [(4, 2), (0, 2)], 0: [(2, 6)]}, 2, double, labels)
    assert checked == {1: [(2, 1)], 0: [(1, 3)]}
    with pytest.raises(ValueError, match=r"0\.5 or 2"):
        rescale_support({0: [(0, 0)]}, 3, double)


def test_fractions_at_neighbouring_chip_sizes(two_phase):
    from workers.fewshot.pipeline import neighbour_fractions, normalised_frames
    from workers.fewshot.uncertainty import chip_size_sensitivity

    image, _ = two_phase
    frame = normalised_frames(image)[0]
    moved = neighbour_fractions([frame], [SUPPORT], encoder=build_encoder("fourier"), chip_size=16)
    assert sorted(moved) == [8, 32]
    for size, (fractions,) in moved.items():
        assert fractions == pytest.approx([0.5, 0.5], abs=0.1), size  # half of the image each
    summary = chip_size_sensitivity(
        {16: [0.5, 0.5], **{s: f[0] for s, f in moved.items()}}, 16, [0.45, 0.45], [0.55, 0.55]
    )
    assert summary["compared"] == [8, 32] and len(summary["max_shift"]) == 2
    # a chip size whose half no longer fits 8 px, and a double that does not fit the image
    assert (
        sorted(
            neighbour_fractions([frame], [SUPPORT], encoder=build_encoder("fourier"), chip_size=48)
        )
        == []
    )
