"""Support-peak features: one lattice in two orientations, brightness independent of the
class, is told apart by the chips' amplitude profile at the support chips' spectral peaks."""

from types import SimpleNamespace

import numpy as np
import pytest

from workers.fewshot.boundary import chip_features
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.frequencies import support_frequencies
from workers.fewshot.pipeline import Embedded, Segmenter, SegmentOptions
from workers.fewshot.sim.render import Lattice
from workers.fewshot.spectral_peaks import (
    PEAK_GROUP,
    SupportPeaks,
    peak_profile,
    support_peak_features,
)
from workers.fewshot.weighting import group_weights

S = 32  # chip size
ROWS, COLS = 8, 8


def _rotated_frame(delta=8.0, seed=0):
    """(256, 256) frame: a hexagonal lattice at 10 deg in the left half and at 10 + delta deg
    in the right half; each quarter (top / bottom) at its own thickness, so brightness and
    contrast vary within a class. Returns (frame, chip classes (ROWS, COLS))."""
    rng = np.random.default_rng(seed)
    h, w = ROWS * S, COLS * S
    y, x = np.mgrid[:h, :w].astype(np.float32)
    frame = np.zeros((h, w), np.float32)
    for half, angle in ((slice(0, w // 2), 10.0), (slice(w // 2, w), 10.0 + delta)):
        for rows, thickness in ((slice(0, h // 2), 1.0), (slice(h // 2, h), 0.45)):
            lat = Lattice(
                "hexagonal", 14.0, angle, origin=(3.0, 5.0), sigma=1.5, thickness=thickness
            )
            frame[rows, half] = lat.render(y[rows, half], x[rows, half], (h, w), rng)
    frame += rng.normal(0, 0.02, frame.shape).astype(np.float32)
    classes = np.zeros((ROWS, COLS), int)
    classes[:, COLS // 2 :] = 1
    return frame, classes


# support: 3 chips per class, from both thickness quarters, away from the class boundary
SUPPORT = {0: [(1, 1), (5, 1), (6, 2)], 1: [(1, 6), (5, 6), (2, 5)]}


def _profiles(frame):
    grid = ChipGrid.for_shape(frame.shape, S)
    freqs = support_frequencies([frame], [grid], [SUPPORT])
    return grid, freqs, peak_profile(chip_features(frame, grid, freqs))


def test_two_rotated_lattices_separate_whatever_their_brightness():
    frame, classes = _rotated_frame()
    _, _, prof = _profiles(frame)
    centres = np.stack([np.mean([prof[r, c] for r, c in SUPPORT[k]], 0) for k in (0, 1)])
    d = ((prof[..., None, :] - centres) ** 2).sum(-1)
    labels = d.argmin(-1)
    interior = np.ones_like(classes, bool)
    interior[:, COLS // 2 - 1 : COLS // 2 + 1] = False  # chips whose features straddle
    assert (labels[interior] == classes[interior]).all()


def test_profile_does_not_change_with_contrast_gain():
    frame, _ = _rotated_frame()
    _, _, prof = _profiles(frame)
    _, _, brighter = _profiles(2.5 * frame + 0.3)
    np.testing.assert_allclose(brighter, prof, atol=1e-3)


def test_support_chips_from_crops_match_the_whole_frame():
    frame, _ = _rotated_frame()
    grid, freqs, _ = _profiles(frame)
    whole = chip_features(frame, grid, freqs)
    crops = support_peak_features([frame], [grid], [SUPPORT], freqs)
    for k, chips in SUPPORT.items():
        expected = np.stack([whole[r, c] for r, c in chips])
        np.testing.assert_allclose(crops[k], expected, rtol=0.02, atol=1e-4)


def test_optional_group_is_on_only_when_it_fixes_leave_one_out_errors():
    rng = np.random.default_rng(0)
    groups = [("learned", slice(0, 4)), (PEAK_GROUP, slice(4, 6))]
    # the learned part does not see the class, the peak group does
    support = {
        k: np.concatenate([rng.normal(0, 1, (3, 4)), np.full((3, 2), 3.0 * k)], 1) for k in (0, 1)
    }
    w = group_weights(support, groups, optional=(PEAK_GROUP,))
    assert np.all(w[4:] > 0)
    # a class the learned part already separates: the group stays off
    clean = {
        k: np.concatenate([np.full((3, 4), 3.0 * k), rng.normal(0, 1, (3, 2))], 1) for k in (0, 1)
    }
    np.testing.assert_array_equal(
        group_weights(clean, groups, optional=(PEAK_GROUP,)), [1, 1, 1, 1, 0, 0]
    )
    # one chip per class cannot be scored: off
    one = {k: v[:1] for k, v in support.items()}
    np.testing.assert_array_equal(
        group_weights(one, groups, optional=(PEAK_GROUP,)), [1, 1, 1, 1, 0, 0]
    )


def test_segmenter_switches_the_group_on_for_rotated_lattices():
    frame, classes = _rotated_frame()
    grid = ChipGrid.for_shape(frame.shape, S)
    # an embedding that reads brightness (thickness), not the class: only the peak group can
    # tell the orientations apart
    rng = np.random.default_rng(1)
    brightness = np.where(np.arange(ROWS) < ROWS // 2, 1.0, -1.0)[None, :, None, None]
    emb = (brightness + rng.normal(0, 0.1, (1, ROWS, COLS, 8))).astype(np.float32)
    image = Embedded(frame[None], grid, emb)
    encoder = SimpleNamespace(groups=[("learned", slice(0, 8))], name="blind")
    opts = SegmentOptions(bootstrap=0, pixel_vote=False, mean_field=0.0, temperature="auto")
    seg = Segmenter.fit([image], [SUPPORT], encoder=encoder, options=opts)
    assert isinstance(seg.peaks, SupportPeaks) and seg.space.weights is not None
    assert (seg.space.weights > 0).all()  # every group on, the peak group included
    labels = seg.classify(emb[0], grid=grid, pixels=frame).labels
    assert (labels == classes).mean() >= 0.9
    off = Segmenter.fit(
        [image], [SUPPORT], encoder=encoder, options=SegmentOptions(bootstrap=0, peaks=False)
    )
    assert off.peaks is None
    # the weighting is what gates the group: without it the group is not added at all
    ungated = SegmentOptions(bootstrap=0, weighting=None)
    assert Segmenter.fit([image], [SUPPORT], encoder=encoder, options=ungated).peaks is None


@pytest.mark.parametrize("peaks", [True, False])
def test_without_boundary_refinement_there_is_no_peak_group(peaks):
    frame, _ = _rotated_frame()
    grid = ChipGrid.for_shape(frame.shape, S)
    emb = np.zeros((1, ROWS, COLS, 8), np.float32)
    opts = SegmentOptions(bootstrap=0, boundary=None, pixel_vote=False, peaks=peaks)
    seg = Segmenter.fit([Embedded(frame[None], grid, emb)], [SUPPORT], encoder=None, options=opts)
    assert seg.peaks is None
