"""Pixel maps from chip segmentations (workers.fewshot.pixels): tiny images, hand-made chip maps."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fewshot.synthetic import stripes
from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.frequencies import support_frequencies
from workers.fewshot.pipeline import Segmentation, segment
from workers.fewshot.pixels import PixelConfig, core, pixel_map


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
    from workers.fewshot.chipping import normalise
    from workers.fewshot.frequencies import support_frequencies as freqs_of

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


def test_a_faint_spot_in_a_confident_support_chip_is_not_shown_as_certain(monkeypatch):
    """A faint small particle (a tenth of the bright ones' contrast, 4 px radius) inside a
    support chip the chip map calls support with 0.99: the pixel map may miss it, but not
    with confidence; the support around it and elsewhere stays certain. (The background's
    noise test, off here, finds this one: see the test after the next.)"""
    monkeypatch.setattr(core, "BACKGROUND_Z", (np.inf, np.inf))
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


def test_a_lone_noise_spike_is_not_flagged_but_a_faint_particle_is():
    """The flag's significance: a spot's summed excess over the square root of its samples.
    A single sample just over the seed (a noise spike: on the real MoO3 image hundreds of them
    speckled the support) has 3.2; a faint particle over 3 x 3 samples at 2-3 has ~7.5."""
    from workers.fewshot.pixels.upsample import spot_field

    z = np.zeros((40, 40))
    z[5, 5] = 3.2  # a spike
    z[20:23, 20:23] = 2.5
    z[21, 21] = 3.1  # a faint particle: its peak seeds it, its neighbours extend it
    every = spot_field(z, 3.0, 0.5, snr=0.0)
    assert every[5, 5] > 0 and every[21, 21] > 0
    field = spot_field(z, 3.0, 0.5, snr=PixelConfig().blob_snr)
    assert field[5, 5] < 0 and (field[20:23, 20:23] > 0).all()
    assert spot_field(np.where(z > 3, 0, z) + (z == 3.2) * 3.2, 3.0, 0.5, snr=5.0) is None


def _faint_disc_map():
    """The particle scene plus a faint disc (8 px radius, a fifth of the bright particles'
    contrast) in support chip (5, 1), whose chip map says support with 0.99: the pixel map,
    the chip map and the disc."""
    image, truth = _particles()
    yy, xx = np.indices(image.shape)
    disc = (yy - 176) ** 2 + (xx - 48) ** 2 <= 64
    image = image + 0.12 * disc
    grid = ChipGrid.for_shape(image.shape, 32)
    seg = _segmentation(truth, grid, confidence=0.99)
    freqs = support_frequencies([image], [grid], [PARTICLE_SUPPORT])
    return pixel_map(image, seg, frequencies=freqs, support=PARTICLE_SUPPORT), seg, disc


def test_the_uncertain_patch_of_a_faint_spot_follows_the_spot(monkeypatch):
    """The flag on a missed faint spot (8 px radius) traces the spot's outline, not squares of
    the pixel map's samples: the uncertain pixels cover the disc and little else (a flag on
    whole samples, dilated, gave a square patch: IoU 0.55 with the disc). The background's
    noise test, which finds this spot, is off."""
    monkeypatch.setattr(core, "BACKGROUND_Z", (np.inf, np.inf))
    pm, _seg, disc = _faint_disc_map()
    assert (pm.labels[disc] == 0).all()  # missed
    window = (slice(146, 206), slice(18, 78))
    unsure, spot = pm.confidence[window] < 0.75, disc[window]
    assert unsure[spot].mean() > 0.95
    assert (unsure & spot).sum() / (unsure | spot).sum() > 0.7
    assert np.median(pm.confidence[disc]) <= 0.55


def test_a_faint_particle_far_out_of_the_supports_noise_is_found():
    """A faint particle (a fifth of the bright ones' contrast, well short of the midpoint
    between support and the bright particles that train the classifier, but many times the
    support's noise) in a support chip the chip map calls support with 0.99: the
    background's noise test gives it to the particles, to about its outline."""
    pm, seg, disc = _faint_disc_map()
    assert seg.labels[5, 1] == 0
    found = pm.labels[146:206, 18:78] == 1
    spot = disc[146:206, 18:78]
    assert found[spot].mean() > 0.6
    assert (found & spot).sum() / (found | spot).sum() > 0.7


@pytest.mark.parametrize("grain", [0.0, 1.5])
def test_the_background_noise_test_adds_no_particles_on_pure_support_noise(grain):
    """Support noise alone (white, or correlated like a carbon film's grain), heavier than
    in the other scenes: no particle pixel away from the bright particles, as without it."""
    from scipy import ndimage

    image, truth = _particles()
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 1, image.shape)
    if grain:
        noise = ndimage.gaussian_filter(noise, grain)
    image = (image + 0.1 * noise / noise.std()).astype(np.float32)
    pm, _ = _run(image, truth, PARTICLE_SUPPORT)
    near = ndimage.binary_dilation(truth > 0, iterations=6)
    assert not ((pm.labels == 1) & ~near).any()


def _torch_upsampled(score: np.ndarray, spots, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference: every score plane bilinearly upsampled to full size by torch, the best
    class (ties to the lower column), the logistic of its margin over the second (capped by a
    spot field), and that margin."""
    import torch
    import torch.nn.functional as F

    up = torch.cat(
        [
            F.interpolate(torch.from_numpy(p)[None, None], size=shape, mode="bilinear")[0]
            for p in score
        ]
    )
    top2 = up.topk(2, dim=0).values
    margin = (top2[0] - top2[1]).numpy()
    conf = torch.sigmoid(top2[0] - top2[1])
    if spots is not None:
        f = F.interpolate(torch.from_numpy(spots)[None, None], size=shape, mode="bilinear")[0, 0]
        conf = torch.minimum(conf, 1 - 0.5 * torch.sigmoid(16 * f))
    return up.argmax(0).numpy(), conf.numpy(), margin


@pytest.mark.parametrize(
    ("classes", "sample_shape", "shape"), [(2, (24, 20), (96, 80)), (3, (12, 16), (107, 128))]
)
def test_the_full_resolution_map_is_the_upsampled_scores_decision(classes, sample_shape, shape):
    """Labels and confidence at full resolution equal those of torch's bilinear upsampling of
    every score plane (the map's definition), though only blocks between samples that
    disagree or are unsure are interpolated: certain areas, a boundary, a noisy band (rows of
    blocks interpolated whole), a spot and a scale that is not a whole number (107 / 12)."""
    from workers.fewshot.pixels import full_resolution

    rng = np.random.default_rng(3)
    h, w = sample_shape
    score = np.zeros((classes, h, w), np.float32)
    score[0, :, : w // 2] = 40  # certain: class 0 on the left, the last class on the right
    score[-1, :, w // 2 :] = 40
    score[:, h // 2 : h // 2 + 3] = rng.normal(0, 2, (classes, 3, w))  # an unsure band
    score += rng.normal(0, 0.5, score.shape).astype(np.float32)
    spots = np.full((h, w), -1, np.float32)
    spots[2:4, 2:4] = 0.5
    for field in (None, spots):
        labels, conf = full_resolution(score, field, shape)
        ref_labels, ref_conf, margin = _torch_upsampled(score, field, shape)
        assert labels.shape == conf.shape == shape and labels.dtype == np.int16
        # the same sums in another order: a label may differ only where two classes tie
        differ = labels != ref_labels
        assert differ.mean() < 1e-3 and (margin[differ] < 1e-4).all()
        np.testing.assert_allclose(conf, ref_conf, atol=2e-6)
        assert (conf >= np.float32(0.99999994)).mean() > 0.3  # blocks filled, not interpolated


def _two_phase_segmenter(support):
    from workers.fewshot.encoders import build_encoder
    from workers.fewshot.pipeline import Segmenter, embed

    image, _ = _two_phase(boundary_x=72)
    encoder = build_encoder("fourier")
    embedded = embed(image, encoder=encoder, chip_size=32)
    return embedded, Segmenter.fit([embedded], [support], encoder=encoder)


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.pixel_map.labels, b.pixel_map.labels)
    np.testing.assert_array_equal(a.pixel_map.confidence, b.pixel_map.confidence)
    assert a.stats["fractions"] == b.stats["fractions"]


def test_kept_pixel_features_give_the_same_result_and_spare_a_rerun_the_features(monkeypatch):
    """A worker keeps a frame's PixelFeatures between jobs: a re-run after a support-set edit
    (which moves one of the spectral peaks here) gives exactly what a fresh run gives, and a
    re-run whose peaks were all seen computes no feature of the frame again."""
    import workers.fewshot.pixels.features as pixel_features
    from workers.fewshot.pixels import PixelFeatures

    support = {0: [(0, 0), (2, 0), (3, 1)], 1: [(0, 4), (3, 4)]}
    edited = {0: [(0, 0), (2, 0)], 1: [(0, 4), (3, 4)]}
    embedded, segmenter = _two_phase_segmenter(support)
    _, edited_segmenter = _two_phase_segmenter(edited)
    frame, grid, emb = embedded.frames[0], embedded.grid, embedded.embeddings[0]
    peaks = {tuple(f) for f in segmenter.frequencies}
    assert {tuple(f) for f in edited_segmenter.frequencies} != peaks

    kept = PixelFeatures(grid)
    first = segmenter.classify(emb, grid=grid, pixels=frame, pixel_features=kept)
    assert kept.nbytes > 0
    assert (first.pixel_map.labels == _two_phase(boundary_x=72)[1]).mean() > 0.95
    fresh = edited_segmenter.classify(emb, grid=grid, pixels=frame)
    _same(edited_segmenter.classify(emb, grid=grid, pixels=frame, pixel_features=kept), fresh)

    def recomputed(*args, **kwargs):
        raise AssertionError("a support-independent feature was computed again")

    for name in ("gabor_amplitudes", "chip_features", "_intensity_features"):
        monkeypatch.setattr(pixel_features, name, recomputed)
    again = segmenter.classify(emb, grid=grid, pixels=frame, pixel_features=kept)
    _same(again, first)


def test_pixel_features_of_another_grid_are_refused():
    from workers.fewshot.pixels import PixelFeatures

    image, truth = _two_phase()
    grid = ChipGrid.for_shape(image.shape, 32)
    seg = _segmentation(truth, grid)
    with pytest.raises(ValueError, match="grid"):
        pixel_map(
            image,
            seg,
            frequencies=None,
            features=PixelFeatures(ChipGrid.for_shape(image.shape, 16)),
        )
    with pytest.raises(ValueError, match="does not match"):
        PixelFeatures(grid).matrix(image[:64], np.zeros((0, 2)))


@pytest.mark.parametrize("first", ["chips", "pixels"])
def test_pixel_and_chip_features_sampled_alike_share_their_gabor_amplitudes(first, monkeypatch):
    """Where the pixel map samples the Gabor amplitudes as boundary refinement does (4 per
    side of a 32 px chip: 32 px chips on a 4096^2 frame), they are computed once for both, and
    both features are the numbers each computes alone."""
    import workers.fewshot.pixels.features as pixel_features
    from workers.fewshot.boundary import chip_features
    from workers.fewshot.pixels import PixelFeatures

    image, _ = _two_phase()
    grid = ChipGrid.for_shape(image.shape, 32)
    freqs = support_frequencies([image], [grid], [{0: [(0, 0), (3, 0)], 1: [(0, 4)]}])
    config = PixelConfig(samples=4)
    alone = PixelFeatures(grid, config=config).matrix(image, freqs)  # the pixel map's own
    calls = []
    amplitudes = pixel_features.gabor_amplitudes

    def counted(*args, **kwargs):
        calls.append(kwargs["samples"])
        return amplitudes(*args, **kwargs)

    monkeypatch.setattr(pixel_features, "gabor_amplitudes", counted)
    kept = PixelFeatures(grid, config=config)
    if first == "pixels":
        x = kept.matrix(image, freqs)
    chips = kept.chip_features(image, freqs)
    x = kept.matrix(image, freqs)
    assert calls == [4]
    np.testing.assert_array_equal(chips, chip_features(image, grid, freqs))
    np.testing.assert_array_equal(x, alone)
