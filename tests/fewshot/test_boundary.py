"""Boundary refinement: spectral peaks, area-linear chip features, unmixing of boundary chips."""

import math

import numpy as np
import pytest
import torch

from tests.fewshot.synthetic import stripes
from workers.fewshot.boundary import BoundaryConfig, chip_features, refine_boundaries
from workers.fewshot.chipping import ChipGrid, chip_truth, normalise
from workers.fewshot.encoders import build_encoder
from workers.fewshot.frequencies import support_frequencies
from workers.fewshot.pipeline import SegmentOptions, segment


def two_domains(width: int, split: int, *, height: int = 64, seed: int = 0):
    """0 deg fringes of period 6 left of column ``split``, 60 deg fringes right of it."""
    rng = np.random.default_rng(seed)
    a = stripes((height, width), 6.0, 0.0, rng)
    b = stripes((height, width), 6.0, 60.0, rng)
    truth = np.zeros((height, width), np.int32)
    truth[:, split:] = 1
    return np.where(truth == 0, a, b).astype(np.float32), truth


def _nearest(freqs: np.ndarray, f: tuple[float, float]) -> float:
    """Distance from f to the closest returned frequency, +k and -k alike."""
    return min(min(math.dist(g, f), math.dist(g, (-f[0], -f[1]))) for g in freqs)


def test_support_frequencies_find_each_class_fringe():
    image, _ = two_domains(128, 64)
    grid = ChipGrid.for_shape(image.shape, 16)
    support = {0: [(0, 0), (2, 1)], 1: [(0, 6), (3, 7)]}
    freqs = support_frequencies([normalise(image)], [grid], [support], n_peaks=2)
    assert freqs.shape[1] == 2 and 2 <= len(freqs) <= 4
    one_bin = 1 / 32  # windows are twice the 16 px chip
    t = math.radians(60)
    assert _nearest(freqs, (0.0, 1 / 6)) <= one_bin
    assert _nearest(freqs, (math.sin(t) / 6, math.cos(t) / 6)) <= one_bin


def test_support_frequencies_without_support_are_empty():
    image, _ = two_domains(64, 32)
    grid = ChipGrid.for_shape(image.shape, 16)
    assert support_frequencies([normalise(image)], [grid], [{}]).shape == (0, 2)


@pytest.mark.parametrize("inside", [6, 10, 16, 24])
def test_chip_features_mix_linearly_with_class_area(inside):
    """A chip with ``inside`` of its 32 columns in class 0 has features ~ f a + (1 - f) b."""
    image, _ = two_domains(256, 64 + inside)
    grid = ChipGrid.for_shape(image.shape, 32)
    norm = normalise(image)
    support = {0: [(0, 0)], 1: [(0, 7)]}
    x = chip_features(norm, grid, support_frequencies([norm], [grid], [support]))
    assert x.shape == (2, 8, 2 + len(support_frequencies([norm], [grid], [support])))
    pure_a, pure_b, mixed = x[:, 0].mean(0), x[:, 5:].mean((0, 1)), x[:, 2].mean(0)
    d = pure_a - pure_b
    f = float((mixed - pure_b) @ d / (d @ d))
    assert f == pytest.approx(inside / 32, abs=0.08)
    # the intensity columns are exact chip means
    np.testing.assert_allclose(x[..., 0], norm.reshape(2, 32, 8, 32).mean((1, 3)), rtol=1e-5)


def test_refine_boundaries_gives_a_straddling_chip_its_majority_class():
    image, truth = two_domains(256, 64 + 22)  # chip column 2: 22 px class 0, 10 px class 1
    grid = ChipGrid.for_shape(image.shape, 32)
    norm = normalise(image)
    expected = chip_truth(truth, grid)
    assert (expected[:, 2] == 0).all()
    support = {0: [(0, 0)], 1: [(0, 7)]}
    # the Gabor columns: both domains have the same intensity, so the intensity columns are
    # noise, which the unmixing's standardisation scales up to the fringes' weight
    freqs = support_frequencies([norm], [grid], [support])
    features = chip_features(norm, grid, freqs)[..., 2:]
    wrong = expected.copy()
    wrong[:, 2] = 1  # what a classifier reading context might say
    confidence = np.full(wrong.shape, 0.99)
    confidence[:, 1:4] = 0.6
    out = refine_boundaries(wrong, confidence, features, [0, 1])
    np.testing.assert_array_equal(out.labels, expected)
    decided = out.decided
    assert decided[:, 2].all() and not decided[:, 5:].any()
    np.testing.assert_allclose(out.fractions[decided].sum(-1), 1.0)
    assert out.fractions[0, 2, 0] == pytest.approx(22 / 32, abs=0.12)
    # a confident chip keeps its label, however wrong
    confidence[:, 2] = 0.95
    kept = refine_boundaries(wrong, confidence, features, [0, 1])
    np.testing.assert_array_equal(kept.labels[:, 2], wrong[:, 2])
    assert not kept.decided[:, 2].any()


def test_classes_without_interior_chips_keep_their_labels():
    """Objects of a chip or less (particles) have no interior chips to unmix against."""
    rng = np.random.default_rng(1)
    labels = np.zeros((8, 8), np.int64)
    labels[2, 2] = labels[5, 6] = 1
    features = rng.normal(size=(8, 8, 5))
    out = refine_boundaries(labels, np.full((8, 8), 0.5), features, [0, 1], BoundaryConfig())
    np.testing.assert_array_equal(out.labels, labels)
    assert not out.decided.any()


def test_segment_labels_straddling_chips_by_majority_and_reports_fractions():
    image, truth = two_domains(256, 64 + 22, height=96, seed=2)
    support = {0: [(0, 0), (2, 1)], 1: [(0, 6), (1, 7)]}
    grid = ChipGrid.for_shape(image.shape, 32)
    seg = segment(image, chip_size=32, support=support, encoder=build_encoder("default"))
    np.testing.assert_array_equal(seg.labels, chip_truth(truth, grid))
    np.testing.assert_allclose(seg.probs.sum(-1), 1.0, rtol=1e-5)
    # confidence is the probability of the chip's label; a re-decided chip where the
    # classifier disagrees with the unmixing is shown as unsure (here one chip, 0.42)
    own = np.take_along_axis(seg.probs, seg.labels[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(seg.confidence, own)
    assert (seg.confidence[seg.confidence < seg.probs.max(-1)] < 0.5).all()
    assert "boundary" in seg.timings
    off = segment(
        image,
        chip_size=32,
        support=support,
        encoder=build_encoder("default"),
        options=SegmentOptions(boundary=None),
    )
    assert "boundary" not in off.timings


def test_fraction_intervals_contain_the_refined_fractions():
    """Support resampling relabels chips by prototype; chips decided by unmixing keep their
    label in every resample, so the interval stays around the reported fractions."""
    image, _ = two_domains(256, 64 + 22, height=96, seed=2)
    support = {0: [(0, 0), (2, 1)], 1: [(0, 6), (1, 7)]}
    seg = segment(image, chip_size=32, support=support, encoder=build_encoder("default"))
    st = seg.stats
    assert st["fractions"][0] == pytest.approx(9 / 24)  # three columns of three chips
    for k in (0, 1):
        assert st["fractions_ci_low"][k] <= st["fractions"][k] <= st["fractions_ci_high"][k]


@pytest.mark.parametrize("chip", [27, 37])
def test_chip_features_of_chip_sizes_that_4_does_not_divide(chip):
    """4 Gabor samples per chip side at fractional spacing: the features stay area-linear
    (the unmixing's premise) and the intensity columns exact, for a prime chip size too."""
    split = 2 * chip + chip // 2  # chip column 2 is half class 0, half class 1
    image, _ = two_domains(8 * chip, split, height=2 * chip)
    grid = ChipGrid.for_shape(image.shape, chip)
    norm = normalise(image)
    freqs = support_frequencies([norm], [grid], [{0: [(0, 0)], 1: [(0, 7)]}])
    x = chip_features(norm, grid, freqs)
    assert x.shape == (2, 8, 2 + len(freqs)) and np.isfinite(x).all()
    pure_a, pure_b, mixed = x[:, 0].mean(0), x[:, 5:].mean((0, 1)), x[:, 2].mean(0)
    d = pure_a - pure_b
    f = float((mixed - pure_b) @ d / (d @ d))
    assert f == pytest.approx((chip // 2) / chip, abs=0.1)
    np.testing.assert_allclose(x[..., 0], norm.reshape(2, chip, 8, chip).mean((1, 3)), rtol=1e-5)


def test_a_frame_spectrum_computed_once_serves_every_support_set():
    from workers.fewshot.boundary import frame_spectrum

    image, _ = two_domains(256, 90)
    norm = normalise(image)
    grid = ChipGrid.for_shape(norm.shape, 32)
    spectrum = frame_spectrum(norm, grid)
    for support in ({0: [(0, 0)], 1: [(0, 7)]}, {0: [(1, 1)], 1: [(1, 6), (0, 5)]}):
        freqs = support_frequencies([norm], [grid], [support])
        np.testing.assert_array_equal(
            chip_features(norm, grid, freqs, spectrum=spectrum), chip_features(norm, grid, freqs)
        )
    with pytest.raises(ValueError, match="grid"):
        chip_features(norm, ChipGrid.for_shape(norm.shape, 16), freqs, spectrum=spectrum)


def test_gabor_amplitudes_do_not_read_the_opposite_edge():
    """The frame is zero-padded and each amplitude divided by the filter's weight inside it:
    at the right edge the left domain's fringe has no amplitude (a periodic FFT read the left
    edge there), and at the frame's edges a fringe keeps its interior amplitude."""
    from workers.fewshot.boundary import frame_spectrum, gabor_amplitudes, gabor_sigma

    image, _ = two_domains(256, 128, height=96)
    norm = normalise(image)
    grid = ChipGrid.for_shape(norm.shape, 32)
    spectrum = frame_spectrum(norm, grid)
    assert spectrum.shape[0] > norm.shape[0] and spectrum.shape[1] > norm.shape[1]
    left = np.array([[0.0, 1 / 6]])  # the 0 deg fringe of period 6 px, left of x = 128
    amp = gabor_amplitudes(spectrum, left, samples=4, sigma=gabor_sigma(32))[0].numpy()
    assert amp.shape == (3 * 4, 8 * 4)  # one sample per 8 px cell
    interior = amp[4:8, 4:10].mean()
    assert amp[:, -2:].max() < 0.1 * interior
    np.testing.assert_allclose(amp[:, 0], interior, rtol=0.15)  # left edge
    np.testing.assert_allclose(amp[[0, -1], :10], interior, rtol=0.15)  # top and bottom


@pytest.mark.parametrize("shape", [(32, 32), (96, 70), (101, 128)])
def test_support_windows_are_the_symmetrically_padded_frames(shape):
    """Each support chip's window is cut without padding the frame: the same pixels as from
    ``np.pad(frame, s, mode="symmetric")``, at the corners and edges too."""
    from workers.fewshot.frequencies import _context_window

    frame = np.random.default_rng(0).random(shape, dtype=np.float32)
    s = 32
    grid = ChipGrid.for_shape(shape, s)
    padded = np.pad(frame, s, mode="symmetric")
    for r in range(grid.rows):
        for c in range(grid.cols):
            y0, x0, _, _ = grid.chip_box(r, c)
            y, x = y0 + s // 2, x0 + s // 2  # the window's corner in the padded frame
            want = padded[y : y + 2 * s, x : x + 2 * s]
            np.testing.assert_array_equal(_context_window(frame, y0, x0, s), want)


def test_the_frame_spectrum_is_that_of_the_zero_padded_mean_free_region():
    from workers.fewshot.boundary import frame_spectrum, padded_shape

    image, _ = two_domains(200, 90)
    norm = normalise(image)
    grid = ChipGrid.for_shape(norm.shape, 32)
    region = torch.from_numpy(np.ascontiguousarray(norm[grid.covered], dtype=np.float32))
    want = torch.fft.rfft2(region - region.mean(), s=padded_shape(grid))
    assert torch.equal(frame_spectrum(norm, grid).spectrum, want)
