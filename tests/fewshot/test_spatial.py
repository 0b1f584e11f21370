"""The spatial prior on the chip grid: mean-field smoothing, contrast weights, pipeline rule."""

import numpy as np
import torch

from tests.fewshot.synthetic import stripes
from workers.fewshot.pipeline import SegmentOptions, segment
from workers.fewshot.spatial import edge_weights, mean_field, neighbour_mean, smoothed_log_probs


def _field(rows: int, cols: int, p0: float) -> np.ndarray:
    """(rows, cols, 2) probabilities, every chip p(class 0) = p0."""
    p = np.empty((rows, cols, 2))
    p[..., 0], p[..., 1] = p0, 1 - p0
    return p


def test_neighbour_mean_averages_the_neighbours_a_chip_has():
    x = np.arange(12, dtype=np.float64).reshape(3, 4, 1)
    out = neighbour_mean(x, neighbours=4)[..., 0]
    # corner (0, 0): right 1 and below 4; centre (1, 1): 1, 9, 4, 6
    assert out[0, 0] == (1 + 4) / 2
    assert out[1, 1] == (1 + 9 + 4 + 6) / 4
    eight = neighbour_mean(x, neighbours=8)[..., 0]
    assert eight[0, 0] == (1 + 4 + 5) / 3


def test_a_weakly_wrong_chip_among_sure_neighbours_is_relabelled():
    p = _field(5, 5, 0.95)
    p[2, 2] = [0.4, 0.6]  # leans the wrong way, weakly
    q = mean_field(p, strength=2.0)
    assert q[2, 2, 0] > 0.5
    np.testing.assert_allclose(q.sum(-1), 1.0)
    # strength 0: the input, unchanged
    np.testing.assert_array_equal(mean_field(p, strength=0.0), p)


def test_a_chip_unlike_its_neighbours_keeps_its_own_evidence():
    p = _field(5, 5, 0.95)
    p[2, 2] = [0.3, 0.7]
    emb = np.zeros((5, 5, 3))
    emb += np.random.default_rng(0).normal(0, 0.1, emb.shape)
    emb[2, 2] = [5.0, 5.0, 5.0]  # a small object: nothing like the chips around it
    w = edge_weights(emb, contrast=1.0)
    assert w[2, 2].max() < 1e-6 and w[0, 0].min() == 0.0  # off the grid: no weight
    plain = mean_field(p, strength=2.0)
    aware = mean_field(p, strength=2.0, weights=w)
    assert plain[2, 2, 0] > 0.5  # plain smoothing erases it
    assert aware[2, 2, 1] > 0.6  # contrast-sensitive smoothing keeps it


def test_smoothed_log_probs_keeps_the_flat_shape():
    logp = torch.log_softmax(torch.randn(12, 3), -1)
    out = smoothed_log_probs(logp, (3, 4), 2.0, emb=torch.randn(12, 5))
    assert out.shape == (12, 3)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(12))


def test_pipeline_smooths_with_several_examples_not_with_one():
    rng = np.random.default_rng(3)
    image = np.concatenate(
        [stripes((96, 192), 6.0, 0.0, rng), stripes((96, 192), 6.0, 12.0, rng)], 0
    )
    image = image + rng.normal(0, 0.35, image.shape).astype(np.float32)  # noisy chips
    off = SegmentOptions(bootstrap=0, mean_field=0.0, boundary=None, pixel_vote=False)
    on = SegmentOptions(bootstrap=0, boundary=None, pixel_vote=False)
    assert on.mean_field > 0  # on by default
    one = {0: [(0, 0)], 1: [(11, 11)]}
    a = segment(image, chip_size=16, support=one, encoder="fourier", options=on)
    b = segment(image, chip_size=16, support=one, encoder="fourier", options=off)
    np.testing.assert_array_equal(a.probs, b.probs)  # one example per class: off
    three = {0: [(0, 0), (2, 5), (4, 10)], 1: [(7, 1), (9, 6), (11, 11)]}
    a = segment(image, chip_size=16, support=three, encoder="fourier", options=on)
    b = segment(image, chip_size=16, support=three, encoder="fourier", options=off)
    assert not np.array_equal(a.probs, b.probs)
    truth = np.repeat([0, 1], 6)[:, None] * np.ones((1, 12), int)
    assert (a.labels == truth).mean() >= (b.labels == truth).mean()
