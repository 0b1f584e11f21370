"""Prototypes, distances, calibrated probabilities and refinements against hand-computed cases."""

import numpy as np
import pytest
import torch

from workers.fewshot.classifier import (
    calibrate_temperature,
    fit_prototypes,
    predict,
    refine_prototypes,
    smooth_log_probs,
    squared_distances,
)


def test_prototypes_and_probabilities_hand_computed():
    support = {0: np.array([[0.0, 0.0], [2.0, 0.0]]), 1: np.array([[0.0, 4.0]])}
    protos = fit_prototypes(support)
    torch.testing.assert_close(protos.centres, torch.tensor([[1.0, 0.0], [0.0, 4.0]]))
    assert protos.classes == (0, 1) and protos.counts.tolist() == [2.0, 1.0]
    query = np.array([[1.0, 1.0], [0.0, 3.0]])
    # squared distances: q0 -> (1, 10), q1 -> (10, 1)
    torch.testing.assert_close(
        squared_distances(torch.tensor(query, dtype=torch.float32), protos.centres),
        torch.tensor([[1.0, 10.0], [10.0, 1.0]]),
    )
    pred = predict(query, protos, temperature=3.0)
    p0 = np.exp(-1 / 3) / (np.exp(-1 / 3) + np.exp(-10 / 3))
    np.testing.assert_allclose(pred.probs[0], [p0, 1 - p0], rtol=1e-5)
    np.testing.assert_array_equal(pred.labels, [0, 1])
    np.testing.assert_allclose(pred.confidence, pred.probs.max(1))


def test_probabilities_sum_to_one_and_labels_use_class_ids():
    rng = np.random.default_rng(0)
    support = {
        3: rng.normal(0, 1, (4, 8)),
        7: rng.normal(3, 1, (2, 8)),
        9: rng.normal(-3, 1, (3, 8)),
    }
    pred = predict(rng.normal(0, 3, (50, 8)), fit_prototypes(support), support_emb=support)
    np.testing.assert_allclose(pred.probs.sum(1), 1.0, rtol=1e-5)
    assert set(pred.labels) <= {3, 7, 9}
    assert pred.probs.dtype == np.float32


def test_calibrated_temperature_tracks_embedding_scale():
    rng = np.random.default_rng(0)
    support = {0: rng.normal(0, 1, (5, 4)), 1: rng.normal(1.5, 1, (5, 4))}
    t1 = calibrate_temperature(support)
    t10 = calibrate_temperature({k: 10 * v for k, v in support.items()})
    assert t10 == pytest.approx(100 * t1, rel=1e-3)  # distances scale by 100


def test_calibration_prefers_confident_temperature_for_separated_classes():
    rng = np.random.default_rng(0)
    near = {0: rng.normal(0, 1, (5, 4)), 1: rng.normal(0.3, 1, (5, 4))}
    far = {0: near[0], 1: near[1] + 20}
    p_far = predict(far[1][:1] * 0 + 20, fit_prototypes(far), support_emb=far).confidence[0]
    p_near = predict(near[1][:1] * 0 + 0.3, fit_prototypes(near), support_emb=near).confidence[0]
    assert p_far > 0.99 and p_near < 0.9


def test_refinement_moves_prototypes_towards_confident_queries():
    support = {0: np.array([[0.0, 0.0]]), 1: np.array([[10.0, 0.0]])}
    protos = fit_prototypes(support)
    queries = torch.tensor([[1.0, 1.0]] * 20 + [[9.0, -1.0]] * 20 + [[5.0, 0.0]])
    refined = refine_prototypes(queries, protos, temperature=1.0, threshold=0.9, query_weight=1.0)
    # equal weight of the support chip and the confident queries -> halfway
    torch.testing.assert_close(refined.centres, torch.tensor([[0.5, 0.5], [9.5, -0.5]]))


def test_smoothing_flips_an_isolated_chip_but_keeps_probabilities_normalised():
    logp = torch.log(torch.tensor([0.9, 0.1])).expand(5, 5, 2).clone()
    logp[2, 2] = torch.log(torch.tensor([0.4, 0.6]))
    out = smooth_log_probs(logp, strength=1.0)
    assert out[2, 2].argmax() == 0
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(5, 5))
