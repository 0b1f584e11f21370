"""Object edges moved to the frame's intensity (workers.fewshot.pixels.edges): blurred discs on
a noisy support, with outlines made too wide or too narrow as a coarse pixel map gives them."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tests.fewshot.test_pixels import PARTICLE_SUPPORT, _particles, _segmentation
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.frequencies import support_frequencies
from workers.fewshot.pixels import pixel_map
from workers.fewshot.pixels.edges import MOVED_CONFIDENCE, refine_object_edges

SIZE = 160


def _discs(discs, *, support=0.3, noise=0.03, seed=0):
    """(image, truth) of SIZE^2: discs [(y, x, radius, class, intensity)], blurred (1.5 px)."""
    yy, xx = np.indices((SIZE, SIZE))
    truth = np.zeros((SIZE, SIZE), np.int16)
    image = np.full((SIZE, SIZE), support, np.float64)
    for y, x, r, cls, value in discs:
        inside = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        truth[inside] = cls
        image[inside] = value
    image = ndimage.gaussian_filter(image, 1.5)
    image += np.random.default_rng(seed).normal(0, noise, image.shape)
    return image.astype(np.float32), truth


def _radius(mask: np.ndarray) -> float:
    """The radius of a disc of the mask's area."""
    return float(np.sqrt(mask.sum() / np.pi))


def _refined(image, labels, classes=(1,)):
    labels, confidence = labels.copy(), np.full(labels.shape, 0.9, np.float32)
    grid = ChipGrid.for_shape(image.shape, 32)
    moved = refine_object_edges(labels, confidence, image, grid, classes)
    return labels, confidence, moved


def test_an_outline_a_cell_too_wide_or_too_narrow_moves_to_the_particle_edge():
    image, truth = _discs([(80, 80, 20, 1, 0.8)])
    disc = truth == 1
    for wrong in (
        ndimage.binary_dilation(disc, iterations=5),
        ndimage.binary_erosion(disc, iterations=5),
    ):
        labels, confidence, moved = _refined(image, wrong.astype(np.int16))
        assert abs(_radius(wrong) - 20) > 4
        # within 1.5 px: an object pixel stays down to a quarter of the contrast, so the
        # 1.5 px blur's skirt keeps about a pixel
        assert abs(_radius(labels == 1) - 20) < 1.5, _radius(labels == 1)
        assert moved > 0
        changed = labels != wrong
        assert np.all(confidence[changed] <= MOVED_CONFIDENCE)
        assert np.all(confidence[~changed] == np.float32(0.9))


def test_dark_particles_on_a_bright_support_too():
    image, truth = _discs([(80, 80, 20, 1, 0.1)], support=0.7)  # bright field
    wrong = ndimage.binary_dilation(truth == 1, iterations=5)
    labels, _, _ = _refined(image, wrong.astype(np.int16))
    assert abs(_radius(labels == 1) - 20) < 1.5, _radius(labels == 1)


def test_a_fainter_particle_beside_a_bright_one_is_kept():
    # a third of the bright one's contrast: below the midpoint between the bright particle and
    # the support (which a pixel needs to join an object), above the quarter it needs to stay
    image, truth = _discs([(60, 60, 18, 1, 0.9), (60, 112, 8, 1, 0.5)], noise=0.02)
    labels, _, _ = _refined(image, truth)
    faint = np.zeros_like(truth, bool)
    faint[45:76, 100:125] = True
    assert (labels[faint & (truth == 1)] == 1).mean() > 0.9


def test_pixels_added_to_a_particle_take_its_kind():
    image, truth = _discs([(50, 50, 16, 1, 0.8), (110, 110, 16, 2, 0.8)])
    wrong = np.where(ndimage.binary_erosion(truth > 0, iterations=4), truth, 0).astype(np.int16)
    labels, _, _ = _refined(image, wrong, classes=(1, 2))
    assert abs(_radius(labels == 1) - 16) < 1.5 and abs(_radius(labels == 2) - 16) < 1.5


def test_no_object_class_nothing_moves():
    image, truth = _discs([(80, 80, 20, 1, 0.8)])
    wrong = ndimage.binary_dilation(truth == 1, iterations=5).astype(np.int16)
    labels, _, moved = _refined(image, wrong, classes=())
    assert moved == 0 and np.array_equal(labels, wrong)


def test_the_pixel_map_of_a_class_marked_as_objects_follows_its_edges():
    image, truth = _particles()
    grid = ChipGrid.for_shape(image.shape, 32)
    seg = _segmentation(truth, grid)
    freqs = support_frequencies([image], [grid], [PARTICLE_SUPPORT])
    kw = {"frequencies": freqs, "support": PARTICLE_SUPPORT}
    as_region = pixel_map(image, seg, **kw)
    as_objects = pixel_map(image, seg, object_classes=(1,), **kw)
    err = [int(((pm.labels == 1) != (truth == 1)).sum()) for pm in (as_region, as_objects)]
    assert err[1] < err[0], err
    assert "edges" in as_objects.timings


def test_the_core_moves_the_edges_of_the_classes_marked_as_objects_unless_asked_not_to():
    from workers.fewshot.pipeline import SegmentOptions, segment

    image, truth = _particles()
    maps = {
        edges: segment(
            image,
            chip_size=32,
            support=PARTICLE_SUPPORT,
            encoder="fourier",
            options=SegmentOptions(object_classes=(1,), object_edges=edges, bootstrap=0),
        ).pixel_map
        for edges in (False, True)
    }
    err = {edges: int(((pm.labels == 1) != (truth == 1)).sum()) for edges, pm in maps.items()}
    assert err[True] < err[False], err


def test_the_pixel_settings_reach_the_jobs_own_pixel_map():
    """``SegmentOptions.pixel_config`` is what ``bench.pixels`` varies: None and the defaults
    give the same map, a variant (no chip prior, the pixel classifier alone) another one."""
    from workers.fewshot.pipeline import SegmentOptions, segment
    from workers.fewshot.pixels import PixelConfig

    image, _ = _particles()

    def labels(config):
        opts = SegmentOptions(object_classes=(1,), bootstrap=0, pixel_config=config)
        kw = {"chip_size": 32, "support": PARTICLE_SUPPORT, "encoder": "fourier"}
        return segment(image, options=opts, **kw).pixel_map.labels

    default = labels(None)
    assert np.array_equal(labels(PixelConfig()), default)
    assert not np.array_equal(labels(PixelConfig(prior_weight=0.0)), default)
