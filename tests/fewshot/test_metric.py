"""Per-task metric: a direction the support chips vary along within their class counts less."""

import numpy as np
import pytest
import torch

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.metric import within_class_metric
from workers.fewshot.pipeline import Segmenter, SegmentOptions

DIM = 64  # the isotropic floor is the mean variance over DIM: few directions stand out
# the nuisance (where a particle's edge falls in a chip) is not orthogonal to the class
# difference along axis 0: moving along it, a chip of class 1 comes nearer class 0's prototype
NUISANCE = np.r_[1.0, 1.0, np.zeros(DIM - 2)] / np.sqrt(2)


def _chips(rng, cls, offsets):
    """(n, DIM): class centre (cls, 0, ...) + offsets along the nuisance + a little noise."""
    centre = np.zeros(DIM)
    centre[0] = cls
    return centre + np.outer(offsets, NUISANCE) + rng.normal(0, 0.02, (len(offsets), DIM))


def _task(seed=0):
    rng = np.random.default_rng(seed)
    support = {c: _chips(rng, c, [-3.0, 0.0, 3.0]) for c in (0, 1)}
    # queries displaced along the nuisance towards the other class
    query = np.concatenate([_chips(rng, 0, np.full(20, 1.5)), _chips(rng, 1, np.full(20, -1.5))])
    return support, query, np.repeat([0, 1], 20)


def test_nuisance_direction_is_shrunk_and_classification_becomes_right():
    support, query, truth = _task()
    m = within_class_metric(support)
    mapped = {c: m(torch.as_tensor(v, dtype=torch.float32)).numpy() for c, v in support.items()}
    q = m(torch.as_tensor(query, dtype=torch.float32)).numpy()

    def nearest(sup, x):
        centres = np.stack([sup[c].mean(0) for c in (0, 1)])
        return (((x[:, None] - centres[None]) ** 2).sum(-1)).argmin(1)

    assert (nearest(support, query) == truth).mean() < 0.2  # Euclidean: every query wrong
    assert (nearest(mapped, q) == truth).mean() == 1.0


def test_metric_keeps_the_support_distance_scale_and_zero_groups():
    support, _, _ = _task()
    support = {c: np.concatenate([v, np.zeros((3, 2))], 1) for c, v in support.items()}
    m = within_class_metric(support)
    x = np.concatenate(list(support.values()))
    y = m(torch.as_tensor(x, dtype=torch.float32)).numpy()
    assert y.var(0).sum() == pytest.approx(x.var(0).sum(), rel=1e-4)
    np.testing.assert_array_equal(y[:, DIM:], 0.0)  # a switched-off group stays off
    # the embedding's scale does not matter
    scaled = within_class_metric({c: 10.0 * v for c, v in support.items()})
    np.testing.assert_allclose(scaled.gains.numpy(), m.gains.numpy(), rtol=1e-5, atol=1e-6)


def test_one_chip_per_class_keeps_the_euclidean_metric():
    rng = np.random.default_rng(1)
    assert within_class_metric({0: rng.normal(size=(1, DIM)), 1: rng.normal(size=(1, DIM))}) is None
    with pytest.raises(ValueError, match="shrinkage"):
        within_class_metric({0: rng.normal(size=(2, DIM))}, shrinkage=0.0)


def test_segmenter_applies_the_metric_to_support_and_queries():
    support, query, truth = _task()
    grid = ChipGrid.for_shape((2 * 4, 20 * 4), 4)  # 2 rows x 20 chips
    emb = query.reshape(2, 20, DIM).astype(np.float32)
    base = {"bootstrap": 0, "boundary": None, "pixel_vote": False, "weighting": None}
    on = Segmenter(support, options=SegmentOptions(**base))
    off = Segmenter(support, options=SegmentOptions(**base, metric=None))
    assert on.space.metric is not None and off.space.metric is None
    truth = truth.reshape(2, 20)
    assert (on.classify(emb, grid=grid).labels == truth).mean() == 1.0
    assert (off.classify(emb, grid=grid).labels == truth).mean() < 0.2


def test_separation_kept_and_the_support_check_before_the_metric():
    support, _, _ = _task()
    m = within_class_metric(support)
    centres = torch.as_tensor(np.stack([v.mean(0) for v in support.values()]), dtype=torch.float32)
    assert 0.0 < m.separation_kept(centres) < 1.0  # the class difference leans on the nuisance
    base = {"bootstrap": 0, "boundary": None, "pixel_vote": False, "weighting": None}
    on = Segmenter(support, options=SegmentOptions(**base))
    off = Segmenter(support, options=SegmentOptions(**base, metric=None))
    assert on.support_check == off.support_check
    assert on.calibration_scale < off.calibration_scale
