"""Pixel maps from chip segmentations (workers.fewshot.pixels): tiny images, hand-made chip maps."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fewshot.synthetic import stripes
from workers.fewshot.boundary import support_frequencies
from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.pipeline import Segmentation, segment
from workers.fewshot.pixels import PixelConfig, pixel_map


def _segmentation(truth: np.ndarray, grid: ChipGrid, confidence: float = 0.95) -> Segmentation:
    """A chip map as the classifier would give it: each chip's majority class, with
    ``confidence`` on pure chips and the chip's purity on mixed ones."""
    labels, purity = chip_truth(truth, grid, return_purity=True)
    classes = tuple(int(k) for k in np.unique(truth))
    K = len(classes)
    conf = np.where(purity == 1, confidence, np.maximum(purity, 1 / K)).astype(np.float32)
    probs = np.repeat(((1 - conf) / (K - 1))[..., None], K, -1).astype(np.float32)
    np.put_along_axis(probs, np.searchsorted(classes, labels)[..., None], conf[..., None], -1)
    return Segmentation(labels.astype(np.int64), probs, conf, {}, {}, grid, classes)


def _two_phase(boundary_x: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """128 x 160: 0 deg fringes left of ``boundary_x`` (class 0), 60 deg fringes right (1)."""
    rng = np.random.default_rng(0)
    left = stripes((128, 160), 6.0, 0.0, rng)
    right = stripes((128, 160), 6.0, 60.0, rng)
    truth = np.zeros((128, 160), np.int32)
    truth[:, boundary_x:] = 1
    return np.where(truth == 0, left, right).clip(0, 1), truth


def _particles() -> tuple[np.ndarray, np.ndarray]:
    """224 x 224 noisy support (0) with a bright block on chips (1..3, 1..3) and one disc of
    radius 10 px (a third of a chip) in the middle of chip (5, 5) (particle, 1)."""
    rng = np.random.default_rng(1)
    truth = np.zeros((224, 224), np.int32)
    truth[32:128, 32:128] = 1
    yy, xx = np.indices(truth.shape)
    truth[(yy - 176) ** 2 + (xx - 176) ** 2 <= 100] = 1
    image = 0.2 + 0.6 * truth + rng.normal(0, 0.05, truth.shape)
    return image.astype(np.float32), truth


PARTICLE_SUPPORT = {0: [(0, 4), (5, 0), (6, 3)], 1: [(1, 1), (2, 2)]}


def _run(image, truth, support, chip=32, offset=(0, 0), config=None):
    grid = ChipGrid.for_shape(image.shape, chip, offset)
    seg = _segmentation(truth, grid)
    freqs = support_frequencies([image], [grid], [support])
    return pixel_map(image, seg, frequencies=freqs, support=support, config=config), seg


def test_a_boundary_through_the_middle_of_chips_is_placed_within_a_few_pixels():
    image, truth = _two_phase(boundary_x=48)
    pm, seg = _run(image, truth, {0: [(0, 0), (2, 0)], 1: [(0, 4), (3, 4)]})
    # the chip map can only put the boundary at 32 or 64 px
    assert set(np.unique(seg.labels[:, 1])) == {0}
    rows = pm.labels[8:-8]
    first = (rows == 1).argmax(axis=1)  # first class-1 pixel of each row
    assert np.all(np.abs(first - 48) <= 6), first
    assert (pm.labels == truth).mean() > 0.97
    # less sure on the boundary than inside a domain (only just: on these clean fringes the
    # class features are tight and the margin crosses zero within a pixel; the support chips
    # all touch the frame's edges, whose wrap-around inflated the classes' spread before)
    profile = pm.confidence[8:-8].mean(axis=0)
    assert profile[40:56].min() < profile[100:120].min() and profile[100:120].min() > 0.95


def test_a_particle_smaller_than_a_chip_appears():
    image, truth = _particles()
    pm, seg = _run(image, truth, PARTICLE_SUPPORT)
    assert seg.labels[5, 5] == 0  # the chip map misses it
    disc = truth.astype(bool) & (np.indices(truth.shape)[0] > 150)
    assert (pm.labels[disc] == 1).mean() > 0.6
    assert (pm.labels[150:, 150:] == 1).sum() < 1.2 * disc.sum()


def test_confident_interiors_keep_their_chip_label():
    image, truth = _particles()
    pm, _ = _run(image, truth, PARTICLE_SUPPORT)
    assert np.all(pm.labels[36:124, 36:124] == 1)
    assert np.all(pm.labels[136:, :150] == 0)


def test_shapes_dtypes_and_the_uncovered_margin():
    image, truth = _two_phase()
    image, truth = image[:110, :150], truth[:110, :150]
    pm, _ = _run(image, truth, {0: [(0, 0), (1, 0)], 1: [(0, 3), (1, 3)]}, offset=(5, 3))
    assert pm.labels.shape == pm.confidence.shape == image.shape
    assert pm.labels.dtype == np.int16 and pm.confidence.dtype == np.float32
    grid = ChipGrid.for_shape(image.shape, 32, (5, 3))
    inside = np.zeros(image.shape, bool)
    inside[grid.covered] = True
    assert np.all(pm.labels[~inside] == -1) and np.all(pm.confidence[~inside] == 0)
    assert np.all(pm.labels[inside] >= 0)
    assert np.all((pm.confidence[inside] > 0) & (pm.confidence[inside] <= 1))
    assert pm.classes == (0, 1)


def test_class_ids_need_not_be_consecutive_and_three_classes_work():
    image, truth = _two_phase(boundary_x=80)
    truth = np.where(truth == 1, 7, 2)
    truth[96:, :] = 4
    image = np.where(truth == 4, 0.1, image).astype(np.float32)
    pm, seg = _run(image, truth, {2: [(0, 0), (1, 1)], 7: [(0, 4), (1, 3)], 4: [(3, 1), (3, 3)]})
    assert seg.classes == (2, 4, 7)
    assert set(np.unique(pm.labels)) == {2, 4, 7}
    assert (pm.labels == truth).mean() > 0.95


def test_deterministic():
    image, truth = _particles()
    a, _ = _run(image, truth, PARTICLE_SUPPORT, config=PixelConfig(samples=4))
    b, _ = _run(image, truth, PARTICLE_SUPPORT, config=PixelConfig(samples=4))
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.confidence, b.confidence)


@pytest.mark.parametrize("chip", [16, 20])
def test_chip_sizes_the_sample_count_does_not_divide(chip):
    image, truth = _two_phase(boundary_x=50)
    pm, _ = _run(image, truth, {0: [(0, 0), (2, 0)], 1: [(0, 5), (2, 5)]}, chip=chip)
    assert (pm.labels[pm.labels >= 0] == truth[pm.labels >= 0]).mean() > 0.95


def test_from_the_segmentation_core():
    """As a job calls it: the frame, the core's Segmentation and the segmenter's frequencies."""
    from workers.fewshot.boundary import support_frequencies as freqs_of
    from workers.fewshot.chipping import normalise

    image, truth = _two_phase(boundary_x=48)
    support = {0: [(0, 0), (2, 0)], 1: [(0, 4), (3, 4)]}
    seg = segment(image, chip_size=32, support=support, encoder="fourier")
    frame = normalise(image)
    freqs = freqs_of([frame], [seg.grid], [support])
    pm = pixel_map(frame, seg, frequencies=freqs, support=support)
    assert (pm.labels == truth).mean() > 0.95


def test_without_frequencies_the_chip_map_decides_what_pixels_cannot_tell():
    """Fringes that differ only in orientation look alike without Gabor features: the map
    follows the chips (a job with boundary refinement off has no frequencies)."""
    image, truth = _two_phase(boundary_x=64)
    grid = ChipGrid.for_shape(image.shape, 32)
    seg = _segmentation(truth, grid)
    pm = pixel_map(image, seg, frequencies=None, support={0: [(0, 0)], 1: [(0, 4)]})
    assert (pm.labels == truth).mean() > 0.9


def test_with_nothing_to_train_on_the_chip_map_decides():
    """No support chip on this grid and no confident interior chip (a 4 x 5 grid of unsure
    chips, as the chip-size check at double size can give): the pixel map is the chip map."""
    image, truth = _two_phase(boundary_x=64)
    grid = ChipGrid.for_shape(image.shape, 32)
    seg = _segmentation(truth, grid, confidence=0.55)  # below PixelConfig.confident (0.6)
    pm = pixel_map(image, seg, frequencies=None, support=None)
    chips = np.repeat(np.repeat(seg.labels, 32, 0), 32, 1)
    assert (pm.labels == chips).mean() > 0.97


def test_the_core_relabels_chips_by_their_pixels_and_returns_the_pixel_map():
    """With the pixel vote (default) a chip takes the class most of its pixels have, and the
    result carries the pixel map; without it the labels are the chip classifier's."""
    from workers.fewshot.pipeline import SegmentOptions

    image, truth = _particles()
    on = segment(image, chip_size=32, support=PARTICLE_SUPPORT, encoder="fourier")
    off = segment(
        image,
        chip_size=32,
        support=PARTICLE_SUPPORT,
        encoder="fourier",
        options=SegmentOptions(pixel_vote=False),
    )
    assert on.pixel_map is not None and off.pixel_map is None
    assert on.pixel_map.labels.shape == image.shape
    majority = chip_truth(truth, on.grid)
    assert (on.labels == majority).mean() >= (off.labels == majority).mean()
    changed = on.labels != off.labels
    # a relabelled chip says the two steps disagreed: its confidence is below the others'
    if changed.any():
        assert on.confidence[changed].max() < on.confidence[~changed].mean()


def test_chip_shares_count_each_chips_pixels_and_ignore_uncovered_ones():
    from workers.fewshot.chipping import ChipGrid
    from workers.fewshot.pixels import chip_shares

    grid = ChipGrid.for_shape((9, 12), 4, (1, 0))  # 2 x 3 chips, a top row uncovered
    labels = np.full((9, 12), -1, np.int16)
    labels[1:9, :] = 0
    labels[1:4, 4:8] = 2  # 12 of the 16 pixels of chip (0, 1)
    labels[5:9, 8:12] = -1  # chip (1, 2): nothing covered
    shares = chip_shares(labels, grid, (0, 2))
    assert shares.shape == (6, 2)
    np.testing.assert_allclose(shares[1], [0.25, 0.75])
    np.testing.assert_allclose(shares[0], [1.0, 0.0])
    np.testing.assert_allclose(shares[5], [0.0, 0.0])  # no vote: the chip keeps its label


def test_a_faint_spot_in_a_confident_support_chip_is_not_shown_as_certain():
    """A faint small particle (a tenth of the bright ones' contrast, 4 px radius) inside a
    support chip the chip map calls support with 0.99: the pixel map may miss it, but not
    with confidence; the support around it and elsewhere stays certain."""
    image, truth = _particles()
    yy, xx = np.indices(image.shape)
    spot = (yy - 176) ** 2 + (xx - 48) ** 2 <= 16  # chip (5, 1): support in the chip map
    image = image + 0.12 * spot
    grid = ChipGrid.for_shape(image.shape, 32)
    seg = _segmentation(truth, grid, confidence=0.99)
    freqs = support_frequencies([image], [grid], [PARTICLE_SUPPORT])
    on = pixel_map(image, seg, frequencies=freqs, support=PARTICLE_SUPPORT)
    off = pixel_map(
        image, seg, frequencies=freqs, support=PARTICLE_SUPPORT, config=PixelConfig(blob_z=0)
    )
    assert off.labels[176, 48] == 0 and off.confidence[spot].min() > 0.9  # missed, "certain"
    missed = spot & (on.labels == 0)
    assert missed.any()
    assert np.median(on.confidence[missed]) <= 0.55
    far = (truth == 0) & ((yy - 176) ** 2 + (xx - 48) ** 2 > 30**2)
    assert (on.confidence[far] > 0.9).mean() > 0.95


def test_the_uncertain_patch_of_a_faint_spot_follows_the_spot():
    """The flag on a missed faint spot (8 px radius) traces the spot's outline, not squares of
    the pixel map's samples: the uncertain pixels cover the disc and little else (a flag on
    whole samples, dilated, gave a square patch: IoU 0.55 with the disc)."""
    image, truth = _particles()
    yy, xx = np.indices(image.shape)
    disc = (yy - 176) ** 2 + (xx - 48) ** 2 <= 64
    image = image + 0.12 * disc
    grid = ChipGrid.for_shape(image.shape, 32)
    seg = _segmentation(truth, grid, confidence=0.99)
    freqs = support_frequencies([image], [grid], [PARTICLE_SUPPORT])
    pm = pixel_map(image, seg, frequencies=freqs, support=PARTICLE_SUPPORT)
    assert (pm.labels[disc] == 0).all()  # missed
    window = (slice(146, 206), slice(18, 78))
    unsure, spot = pm.confidence[window] < 0.75, disc[window]
    assert unsure[spot].mean() > 0.95
    assert (unsure & spot).sum() / (unsure | spot).sum() > 0.7
    assert np.median(pm.confidence[disc]) <= 0.55
