"""Chip-size suggestion and label-next guidance."""

import numpy as np
import pytest
from scipy import ndimage

from tests.fewshot.synthetic import stripes
from workers.fewshot import sim
from workers.fewshot.guidance import features, suggest_chip_size
from workers.fewshot.label_next import label_next


def test_periodic_image_gets_a_multiple_of_its_period():
    img = stripes((256, 256), 8.0, 30.0, np.random.default_rng(0))
    s = suggest_chip_size(img)
    assert s.method == "periodicity"
    assert abs(s.period_px - 8.0) < 0.6
    assert s.chip_size == 24 and "8.0 px" in s.reason and "3 periods = 24 px" in s.reason


def test_a_texture_gets_at_least_the_encoders_input_and_grows_with_its_grain():
    """Smoothed noise thresholded gives percolating blobs, not objects: a texture, whose chip
    holds 3 of its features and is at least 32 px (0.6 x the feature size gave 16 px)."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(256, 256))
    fine, coarse = ndimage.gaussian_filter(noise, 2), ndimage.gaussian_filter(noise, 6)
    small, large = suggest_chip_size(fine), suggest_chip_size(coarse)
    assert small.method == large.method == "texture" and small.period_px is None
    assert features(fine).solidity < 0.7
    assert features(coarse).diameter > 2 * features(fine).diameter
    assert large.correlation_length_px > 2 * small.correlation_length_px
    assert small.chip_size == 32 and "a texture: its features are irregular" in small.reason
    assert "at least 32 px -> 32 px" in small.reason
    bigger = suggest_chip_size(ndimage.gaussian_filter(rng.normal(size=(512, 512)), 12))
    assert bigger.method == "texture" and bigger.chip_size == 64 > small.chip_size


def test_a_coarse_arrangement_of_fine_grain_is_a_texture_not_a_lattice():
    """Fine irregular grain modulated with a 32 px period (bricks over their grain): the peak
    is real, but 3 periods (96 px) would size chips for the arrangement, not for the grain."""
    rng = np.random.default_rng(0)
    grain = ndimage.gaussian_filter(rng.normal(size=(512, 512)), 1.5)
    yy, xx = np.indices(grain.shape)
    img = grain / grain.std() + np.cos(2 * np.pi * yy / 32) + np.cos(2 * np.pi * xx / 32)
    s = suggest_chip_size(img)
    assert s.peak_prominence >= 1.5 and s.method == "texture" and s.chip_size == 32
    assert "the radial power peak at 32.0 px is" in s.reason
    assert "their arrangement, not their lattice" in s.reason


def _disks(radii: list[int], size: int = 512, seed: int = 0) -> np.ndarray:
    """Bright disks of these radii at random places on a noisy dark film, 4 px apart (where
    10 000 tries find room)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.indices((size, size))
    img = np.zeros((size, size))
    placed: list[tuple[float, float, int]] = []
    for r in radii:
        for _ in range(10_000):
            y, x = rng.uniform(r, size - r, 2)
            if all((y - a) ** 2 + (x - b) ** 2 > (r + q + 4) ** 2 for a, b, q in placed):
                break
        placed.append((y, x, r))
        img[(yy - y) ** 2 + (xx - x) ** 2 < r**2] = 1
    return img + rng.normal(0, 0.05, img.shape)


def test_one_large_particle_does_not_set_the_chip_size_of_many_small_ones():
    """25 particles 40 px across, with and without one 220 px across: the area-weighted
    autocorrelation length grows by half with the large one (the old rule, 4 x that length,
    gave 64 px either way); the median feature diameter, which counts particles, does not."""
    small = _disks([20] * 25)
    mixed = _disks([110] + [20] * 25)
    assert suggest_chip_size(mixed).correlation_length_px > 1.5 * (
        suggest_chip_size(small).correlation_length_px
    )
    d, n, contrast, _ = features(mixed)
    assert d == pytest.approx(40, abs=2) and n == 26 and contrast == "bright"
    s = suggest_chip_size(mixed)
    assert s.method == "feature_scale" and s.chip_size == suggest_chip_size(small).chip_size == 24
    assert "typical feature 40.0 px across (median of 26 bright features" in s.reason


def test_a_period_too_long_for_the_largest_chip_is_not_a_lattice():
    """64 px stripes on 512 px: 3 periods would not fit a 128 px chip (a particle spacing
    read as a period sized 128 px chips before); the feature scale sizes them instead."""
    s = suggest_chip_size(stripes((512, 512), 64.0, 30.0, np.random.default_rng(0)))
    assert s.method == "feature_scale" and s.period_px is None
    assert s.chip_size == 64 and "capped at 64 px" in s.reason


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
    """Particles 200 px across on a 512 px image: 0.6 x their diameter would be a 2 x 2 grid
    that hides most of them; the suggestion is capped at 8 x 8 chips and says so."""
    s = suggest_chip_size(_disks([100] * 4))
    assert s.method == "feature_scale" and 0.6 * features(_disks([100] * 4)).diameter > 64
    assert s.chip_size == 64 and s.grid == (8, 8)
    assert "capped at 64 px" in s.reason and "8 x 8 grid" in s.reason
    assert s.uncovered_fraction == 0.0


def test_among_close_sizes_the_one_with_small_margins_is_taken():
    """A 790 px periodic image: 3 periods of 16 px would be 48 px chips leaving 5.1 % out;
    56 px (within 20 %) leaves 1.1 %, and the reason names the share."""
    img = stripes((790, 787), 16.0, 30.0, np.random.default_rng(0))
    s = suggest_chip_size(img)
    assert s.method == "periodicity"
    assert s.chip_size == 56 and s.grid == (14, 14)
    assert s.uncovered_fraction == pytest.approx(1 - 784 * 784 / (790 * 787))
    assert "56 px leaves smaller margins than 48 px" in s.reason
    assert "1.1% of the image outside" in s.reason


def test_a_periodic_grid_below_8_x_8_says_why():
    s = suggest_chip_size(stripes((256, 256), 16.0, 30.0, np.random.default_rng(0)))
    assert s.chip_size == 48 and s.grid == (5, 5) and "a chip must hold 3 periods" in s.reason


def _halved(image: np.ndarray) -> np.ndarray:
    """A preview downscaled 2x (2 x 2 block means), as the platform measures on."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    return image[:h, :w].reshape(h // 2, 2, w // 2, 2).mean((1, 3))


def test_a_preview_gives_the_original_its_own_size():
    """Measured on a 2x preview, sizes, bounds and lengths are the original's: 40 px particles
    get the 24 px chips they get at full size, and a texture the encoder's 32 px (on the
    preview alone, 16 and 32 preview px would be 32 and 64 image px)."""
    particles = _disks([20] * 25)
    full = suggest_chip_size(particles)
    shown = suggest_chip_size(_halved(particles), original_shape=particles.shape)
    assert full.chip_size == shown.chip_size == 24 and shown.grid == (21, 21)
    assert "typical feature 40.5 px across (median of 25 bright features" in shown.reason
    texture = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=(1024, 1024)), 2)
    shown = suggest_chip_size(_halved(texture), original_shape=texture.shape)
    assert shown.method == "texture" and shown.chip_size == 32
    stripes_full = stripes((512, 512), 16.0, 30.0, np.random.default_rng(0))
    shown = suggest_chip_size(_halved(stripes_full), original_shape=(512, 512))
    assert shown.method == "periodicity" and abs(shown.period_px - 16.0) < 1.2


def test_the_packing_of_dense_particles_is_not_a_lattice():
    """2048 px of round and rod particles 50 px across at 40 % cover: their packing gives a
    radial power peak at ~114 px over the prominence threshold, which sized 408 px chips; it
    is broad (a lattice's is narrow), so the particles' size sets the chips."""
    from workers.fewshot.chipping import normalise
    from workers.fewshot.guidance import PEAK_MAX_WIDTH, _strongest_peak

    image = sim.generate("particles_round_rod", seed=0, size=(2048, 2048)).image
    period, prominence, width = _strongest_peak(normalise(image), periods=3.0, largest=512)
    assert prominence >= 1.5 and 100 < period < 130 and width > PEAK_MAX_WIDTH
    s = suggest_chip_size(image)
    assert s.method == "feature_scale" and s.chip_size == 32
    assert "is broad" in s.reason and "the packing of the features, not a lattice" in s.reason
    lattice = sim.generate("sto_ge_interface", seed=0, size=(2048, 2048)).image
    assert _strongest_peak(normalise(lattice), periods=3.0, largest=512)[2] < PEAK_MAX_WIDTH
    assert suggest_chip_size(lattice).method == "periodicity"
