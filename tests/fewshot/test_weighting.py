"""Per-task group weighting: a nuisance group is switched off, clean support is left alone."""

from dataclasses import replace

import numpy as np
import pytest

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.encoders import build_encoder
from workers.fewshot.pipeline import Segmenter, SegmentOptions
from workers.fewshot.weighting import group_weights, loo_scores, mask_weights

# a learned group that reads brightness, and an angular-profile group that holds the class
GROUPS = [("learned", slice(0, 8)), ("chip_angular", slice(8, 12))]


def _chips(rng, cls, n, *, brightness=6.0):
    """(n, 12): brightness (varies within a class, independent of it) along one direction of
    the learned group; the class in the angular group."""
    b = rng.uniform(-brightness, brightness, n)[:, None]
    learned = b * np.ones(8) / np.sqrt(8) + rng.normal(0, 0.05, (n, 8))
    angular = np.full((n, 4), float(cls)) + rng.normal(0, 0.1, (n, 4))
    return np.concatenate([learned, angular], 1)


def _nuisance_task(seed=0, k=3):
    rng = np.random.default_rng(seed)
    support = {c: _chips(rng, c, k) for c in (0, 1)}
    query = np.concatenate([_chips(rng, c, 40) for c in (0, 1)])
    truth = np.repeat([0, 1], 40)
    return support, query, truth


def _nearest(support, query, w):
    centres = np.stack([(support[c] * w).mean(0) for c in (0, 1)])
    d = (((query * w)[:, None] - centres[None]) ** 2).sum(-1)
    return d.argmin(1)


def test_nuisance_group_is_switched_off_and_classification_becomes_right():
    support, query, truth = _nuisance_task()
    w = group_weights(support, GROUPS)
    assert w.shape == (12,) and w.dtype == np.float64
    assert np.all(w[:8] == 0) and np.all(w[8:] > 0)
    assert (_nearest(support, query, np.ones(12)) == truth).mean() < 0.8
    assert (_nearest(support, query, w) == truth).mean() == 1.0


def test_weights_keep_the_support_distance_scale():
    support, _, _ = _nuisance_task()
    x = np.concatenate(list(support.values()))
    w = group_weights(support, GROUPS)
    assert (x * w).var(0).sum() == pytest.approx(x.var(0).sum())


def test_clean_support_keeps_the_embedding():
    rng = np.random.default_rng(1)
    support = {c: _chips(rng, c, 3, brightness=0.0) for c in (0, 1)}
    np.testing.assert_array_equal(group_weights(support, GROUPS), np.ones(12))


def test_unscorable_support_and_none_keep_the_embedding():
    support, _, _ = _nuisance_task()
    one_each = {c: v[:1] for c, v in support.items()}
    np.testing.assert_array_equal(group_weights(one_each, GROUPS), np.ones(12))
    np.testing.assert_array_equal(group_weights(support, GROUPS, method="none"), np.ones(12))
    np.testing.assert_array_equal(group_weights(support, [("all", slice(0, 12))]), np.ones(12))
    with pytest.raises(ValueError, match="weighting method"):
        group_weights(support, GROUPS, method="fisher")


def test_deterministic():
    support, _, _ = _nuisance_task(seed=3)
    np.testing.assert_array_equal(group_weights(support, GROUPS), group_weights(support, GROUPS))


def test_loo_scores_and_masks():
    support, _, _ = _nuisance_task()
    x = np.concatenate([support[0], support[1]])
    y = np.repeat([0, 1], 3)
    errors, ratio = loo_scores(x, y, mask_weights(GROUPS, 12, {"learned": 0.0}))
    assert errors == 0 and ratio < 0
    # the ratio does not depend on the weights' scale
    assert loo_scores(x, y, 3 * np.ones(12))[1] == pytest.approx(loo_scores(x, y, np.ones(12))[1])
    w = mask_weights(GROUPS, 12, {"chip_": 0.0, "chip_angular": 2.0})
    assert np.all(w[:8] == 1) and np.all(w[8:] == 2)  # the longest prefix wins


@pytest.mark.parametrize("name", ["default", "fourier"])
def test_encoder_groups_cover_the_embedding(name):
    enc = build_encoder(name)
    stops = [sl.stop for _, sl in enc.groups]
    starts = [sl.start for _, sl in enc.groups]
    assert starts[0] == 0 and stops[-1] == enc.dim and starts[1:] == stops[:-1]
    assert len({n for n, _ in enc.groups}) == len(enc.groups)


def test_segmenter_applies_the_weights_to_support_and_queries():
    support, query, truth = _nuisance_task()
    grid = ChipGrid.for_shape((2 * 4, 40 * 4), 4)  # 2 rows x 40 chips
    opts = SegmentOptions(bootstrap=0, boundary=None, temperature=1.0, pixel_vote=False)
    emb = query.reshape(2, 40, 12).astype(np.float32)
    on = Segmenter(support, options=opts, groups=GROUPS)
    off = Segmenter(
        support,
        options=SegmentOptions(bootstrap=0, boundary=None, weighting=None, pixel_vote=False),
    )
    assert on.space.weights is not None and off.space.weights is None
    truth = truth.reshape(2, 40)
    assert (on.classify(emb, grid=grid).labels == truth).mean() == 1.0
    assert (off.classify(emb, grid=grid).labels == truth).mean() < 0.8


def test_no_weighting_where_a_class_is_an_object():
    """Marked as objects (particles), the classes keep the embedding as it is: their examples
    are chips partly of the support, whose spread the leave-one-out choice would read as
    noise (SegmentOptions.task_weighting); the same support as regions is weighted."""
    support, _, _ = _nuisance_task()
    opts = SegmentOptions(bootstrap=0, boundary=None, temperature=1.0, pixel_vote=False)
    regions = Segmenter(support, options=opts, groups=GROUPS)
    objects = Segmenter(support, options=replace(opts, object_classes=(1,)), groups=GROUPS)
    assert opts.task_weighting == "loo" and regions.space.weights is not None
    assert objects.options.task_weighting is None and objects.space.weights is None
