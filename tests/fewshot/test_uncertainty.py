"""Held-out support checks, calibrated confidence, ECE and the chip-size sensitivity helper."""

import numpy as np
import pytest

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.uncertainty import (
    calibrated_probs,
    chip_size_sensitivity,
    disagreements,
    expected_calibration_error,
    outliers,
    support_check,
)


def _blobs(rng, centres, n, spread=0.3):
    return {k: rng.normal(c, spread, (n, len(c))) for k, c in enumerate(centres)}


def test_mislabelled_support_chip_is_flagged():
    rng = np.random.default_rng(0)
    support = _blobs(rng, [(-2.0, 0.0), (2.0, 0.0)], 4)
    # a class-1 chip clicked as class 0: it helps build prototype 0, yet held out it is nearer 1
    support[0] = np.vstack([support[0], [[2.1, 0.1]]])
    check = support_check(support)
    assert len(check) == 9
    bad = disagreements(check)
    assert [(c["class_id"], c["index"], c["predicted"]) for c in bad] == [(0, 4, 1)]
    assert bad[0]["flagged"] and bad[0]["probability"] > 0.9 and bad[0]["own_probability"] < 0.1
    assert all(c["agrees"] for c in check if c is not bad[0] and c["class_id"] == 1)


def test_in_sample_scoring_would_hide_it():
    """Why leave-one-out: with 2 chips the wrong one is half of its own prototype."""
    support = {0: np.array([[-2.0, 0.0], [2.0, 0.0]]), 1: np.array([[2.2, 0.0], [1.8, 0.0]])}
    check = support_check(support, temperature=1.0)
    assert not check[1]["agrees"] and check[1]["predicted"] == 1
    assert check[1]["own_probability"] < 1e-6


def test_single_chip_class_uses_typical_held_out_distance():
    rng = np.random.default_rng(1)
    support = _blobs(rng, [(-2.0, 0.0), (2.0, 0.0)], 3)
    support[2] = np.array([[8.0, 8.0]])  # far from the others: agrees
    support[3] = np.array([[2.05, 0.0]])  # on top of class 1's mean: disagrees
    check = {(c["class_id"], c["index"]): c for c in support_check(support)}
    assert check[(2, 0)]["single"] and check[(2, 0)]["checked"] and check[(2, 0)]["agrees"]
    assert not check[(3, 0)]["agrees"] and check[(3, 0)]["predicted"] == 1
    # one chip per class: nothing to compare with, reported unchecked rather than certain
    lone = support_check({0: np.zeros((1, 2)), 1: np.ones((1, 2))})
    assert all(not c["checked"] and c["probability"] is None for c in lone)
    assert disagreements(lone) == []


def test_ece_known_values():
    # all at 0.8 confidence, 80 % correct: perfectly calibrated
    assert expected_calibration_error(np.full(10, 0.8), np.arange(10) < 8) == pytest.approx(0.0)
    # half at 0.95 all right, half at 0.65 all wrong: (0.05 + 0.65) / 2
    conf = np.r_[np.full(5, 0.95), np.full(5, 0.65)]
    corr = np.r_[np.ones(5, bool), np.zeros(5, bool)]
    assert expected_calibration_error(conf, corr) == pytest.approx(0.35)
    # a confidence of exactly 1 falls in the last bin; empty input is 0
    assert expected_calibration_error([1.0, 1.0], [True, False]) == pytest.approx(0.5)
    assert expected_calibration_error([], []) == 0.0


def test_calibrated_probs_on_a_simulated_gaussian_task_are_calibrated():
    """Two isotropic Gaussian classes in 5-D (about the effective dimension the scale was
    fitted at): the calibrated probabilities match the accuracy, a low fixed T does not."""
    rng = np.random.default_rng(2)
    centres = np.zeros((2, 5))
    centres[:, 0] = [-0.8, 0.8]
    y = rng.integers(0, 2, 20000)
    x = centres[y] + rng.normal(0, 1, (20000, 5))
    d = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    p, t = calibrated_probs(d)
    assert p.shape == (20000, 2) and t.shape == (20000,)
    np.testing.assert_allclose(p.sum(1), 1.0)
    ece = expected_calibration_error(p.max(1), p.argmax(1) == y)
    assert ece < 0.05
    # a temperature far too low (a confident encoder) is badly calibrated on the same data
    z = np.exp(-(d - d.min(1, keepdims=True)) / 0.05)
    assert expected_calibration_error((z / z.sum(1, keepdims=True)).max(1), p.argmax(1) == y) > 0.1


def test_outlier_chip_gets_low_confidence():
    rng = np.random.default_rng(3)
    centres = np.zeros((2, 5))
    centres[:, 0] = [-1.0, 1.0]
    chips = centres[rng.integers(0, 2, 200)] + rng.normal(0, 0.3, (200, 5))
    x = np.vstack([chips, [[3.0, 40.0, 0, 0, 0]]])
    d = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
    p, _ = calibrated_probs(d)
    # nearer class 1 by 8 (squared) units: a fixed temperature calls it certain ...
    assert 1 / (1 + np.exp(-(d[-1, 0] - d[-1, 1]) / 0.5)) > 0.999
    # ... but it is 40 x farther from both than chips usually are: close to a coin flip
    assert p[-1].max() < 0.65
    assert outliers(d)[-1] and outliers(d)[:-1].mean() < 0.02
    assert np.median(p[:-1].max(1)) > 0.9


def test_chip_size_sensitivity():
    out = chip_size_sensitivity(
        {32: [0.24, 0.76], 16: [0.15, 0.85], 64: [0.22, 0.78]},
        32,
        ci_low=[0.20, 0.70],
        ci_high=[0.28, 0.80],
    )
    assert out["compared"] == [16, 64]
    np.testing.assert_allclose(out["max_shift"], [0.09, 0.09])
    np.testing.assert_allclose(out["half_width"], [0.04, 0.05])
    assert out["exceeds"] == [True, True] and out["any_exceeds"]
    calm = chip_size_sensitivity({32: [0.5, 0.5], 64: [0.51, 0.49]}, 32, [0.4, 0.4], [0.6, 0.6])
    assert not calm["any_exceeds"]
    alone = chip_size_sensitivity({32: [0.5, 0.5]}, 32, [0.4, 0.4], [0.6, 0.6])
    assert alone["max_shift"] == [0.0, 0.0] and not alone["any_exceeds"]


def test_a_narrow_held_out_disagreement_is_not_flagged():
    """An example on a class boundary, held out slightly nearer the other class: it disagrees
    (argmax) but its own class keeps a fair probability, so it is not shown as wrong."""
    square = np.array([[0.0, 0.5], [0.0, -0.5], [-0.5, 0.0], [0.5, 0.0]])
    shift = np.array([1.0, 0.0])
    support = {0: np.vstack([square - shift, [[0.05, 0.0]]]), 1: square + shift}
    chip = next(c for c in support_check(support) if c["class_id"] == 0 and c["index"] == 4)
    assert chip["checked"] and chip["own_probability"] > 0.2
    assert not chip["flagged"] and chip not in disagreements(support_check(support))


def test_uncertainty_bench_on_a_tiny_image():
    from tests.fewshot.synthetic import stripes
    from workers.fewshot.bench.uncertainty import Prepared, evaluate_draw, summarise
    from workers.fewshot.chipping import ChipGrid, normalise
    from workers.fewshot.encoders import build_encoder

    rng = np.random.default_rng(0)
    image = np.concatenate(
        [stripes((128, 64), 6.0, 0.0, rng), stripes((128, 64), 6.0, 60.0, rng)], axis=1
    )
    grid = ChipGrid.for_shape(image.shape, 16)
    truth = np.zeros((grid.rows, grid.cols), int)
    truth[:, grid.cols // 2 :] = 1
    frame = normalise(image)
    enc = build_encoder("fourier")
    prep = Prepared("tiny", "test", grid, frame, truth, truth)
    prep.emb["fourier"] = enc.embed(frame, grid).reshape(grid.n_chips, -1).float()
    draws = [evaluate_draw(prep, "fourier", None, 3, d) for d in range(3)]
    out = summarise(draws)
    assert out["n_draws"] == 3 and out["n_chips"] == 3 * (grid.n_chips - 6)
    for when in ("before", "after"):
        assert 0 <= out[when]["ece"] <= 1 and 0 <= out[when]["coverage"] <= 1
    assert out["accuracy"] > 0.9 and out["after"]["coverage"] == 1.0
    assert out["moved_found_rate"] == 1.0


def test_one_example_per_class_is_recalibrated():
    """k = 1 uses the wider per-chip temperature scale (SINGLE_EXAMPLE_SCALE), k >= 2 the usual
    one; at k = 1 (no spatial prior) each chip's confidence is then Platt-scaled by
    SINGLE_EXAMPLE_MAP, labels unchanged; at k = 2 it is not."""
    from workers.fewshot.pipeline import Segmenter, SegmentOptions
    from workers.fewshot.uncertainty import (
        SINGLE_EXAMPLE_MAP,
        SINGLE_EXAMPLE_SCALE,
        TEMPERATURE_SCALE,
        temperature_scale,
    )

    assert temperature_scale(1) == SINGLE_EXAMPLE_SCALE > TEMPERATURE_SCALE
    assert temperature_scale(2) == temperature_scale(5) == TEMPERATURE_SCALE
    rng = np.random.default_rng(7)
    query = rng.normal(0, 1, (6, 5, 4)).astype(np.float32)
    # no prior, no metric: the calibration alone at k = 2
    opts = SegmentOptions(
        bootstrap=0, boundary=None, pixel_vote=False, weighting=None, mean_field=0.0, metric=None
    )
    grid = ChipGrid.for_shape((24, 20), 4)
    one = {0: np.full((1, 4), -1.0, np.float32), 1: np.full((1, 4), 1.0, np.float32)}
    # two chips per class with the same means: the same prototypes
    two = {k: np.vstack([v + 0.01, v - 0.01]) for k, v in one.items()}
    a = Segmenter(one, options=opts).classify(query, grid=grid)
    b = Segmenter(two, options=opts).classify(query, grid=grid)
    assert Segmenter(one, options=opts).calibration_scale == SINGLE_EXAMPLE_SCALE
    assert np.array_equal(a.labels, b.labels)
    dist = ((query.reshape(-1, 1, 4) - np.stack([one[0][0], one[1][0]])) ** 2).sum(-1)
    for seg, scale, mapped in ((a, SINGLE_EXAMPLE_SCALE, True), (b, TEMPERATURE_SCALE, False)):
        c = calibrated_probs(dist, scale=scale)[0].max(1)
        if mapped:
            slope, offset = SINGLE_EXAMPLE_MAP
            c = 1 / (1 + np.exp(-(slope * np.log(c / (1 - c)) + offset)))
        assert np.allclose(seg.confidence.ravel(), c, atol=1e-4)
        assert np.allclose(seg.probs.sum(-1), 1.0, atol=1e-5)


def test_recalibrated_prediction_maps_the_label_confidence():
    """Platt scaling of each chip's confidence in its label: the identity map changes nothing;
    a map of slope < 1 lifts unsure chips and lowers near-certain ones, keeps the order of
    confidences and every label (also one that is not its row's argmax), rows sum to 1, and the
    other classes share the rest as before (equally where the label had it all)."""
    from workers.fewshot.classifier import Prediction
    from workers.fewshot.uncertainty import recalibrated_prediction

    classes = (2, 5, 9)
    probs = np.array(
        [[0.999, 0.0006, 0.0004], [0.4, 0.35, 0.25], [0.2, 0.5, 0.3], [1.0, 0.0, 0.0]],
        np.float32,
    )
    labels = np.array([2, 2, 9, 2])  # the third chip relabelled, e.g. by the pixel vote
    pred = Prediction(probs, labels, probs[np.arange(4), [0, 0, 2, 0]])
    same = recalibrated_prediction(pred, classes, (1.0, 0.0))
    assert np.allclose(same.probs, probs, atol=1e-6)
    out = recalibrated_prediction(pred, classes, (0.8, 0.63))
    assert np.array_equal(out.labels, labels)
    assert np.allclose(out.probs.sum(1), 1.0, atol=1e-6)
    assert out.confidence[0] < 0.999 and out.confidence[1] > 0.4 and out.confidence[2] > 0.3
    assert np.argsort(out.confidence[:3]).tolist() == np.argsort(pred.confidence[:3]).tolist()
    assert np.allclose(out.confidence, out.probs[np.arange(4), [0, 0, 2, 0]])
    # the others keep their ratio: 0.35 : 0.25 in the second row
    assert np.isclose(out.probs[1, 1] / out.probs[1, 2], 0.35 / 0.25, rtol=1e-5)
    assert np.isclose(out.probs[3, 1], out.probs[3, 2]) and out.probs[3, 1] > 0


def test_tempered_keeps_the_argmax_and_softens():
    """Temperature scaling of probabilities: rows sum to 1, every row keeps its argmax, T > 1
    lowers the top probability (never below uniform), T = 1 is the identity."""
    from workers.fewshot.uncertainty import SMOOTHED_TEMPERATURE, smoothed_temperature, tempered

    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.full(4, 0.3), size=200)
    t = tempered(p, 1.5)
    assert np.allclose(t.sum(1), 1.0)
    assert np.array_equal(t.argmax(1), p.argmax(1))
    assert np.all(t.max(1) <= p.max(1) + 1e-12) and np.all(t.max(1) >= 0.25 - 1e-12)
    assert np.allclose(tempered(p, 1.0), p)
    # log-odds between any two classes shrink by the temperature
    assert np.allclose(np.log(t[:, 0] / t[:, 1]), np.log(p[:, 0] / p[:, 1]) / 1.5)
    assert all(t > 1.0 for t in SMOOTHED_TEMPERATURE.values())
    assert smoothed_temperature("unknown") == max(SMOOTHED_TEMPERATURE.values())


def _grid_task(rng, rows=8, cols=10, dim=4):
    """Two classes in left / right halves of a grid, noisy embeddings, 2 examples each."""
    grid = ChipGrid.for_shape((rows * 4, cols * 4), 4)
    truth = (np.arange(cols)[None, :] >= cols // 2).repeat(rows, 0).astype(int)
    centres = np.array([[-0.5] * dim, [0.5] * dim], np.float32)
    emb = (centres[truth] + rng.normal(0, 0.9, (rows, cols, dim))).astype(np.float32)
    support = {k: np.vstack([centres[k] + 0.05, centres[k] - 0.05]) for k in (0, 1)}
    return grid, emb, support


def test_spatial_prior_probabilities_are_reported_tempered_with_labels_unchanged():
    """With the prior on, labels are the argmax of the smoothed calibrated probabilities (as
    before) while the reported probabilities and confidence are those probabilities tempered by
    the encoder's SMOOTHED_TEMPERATURE: less confident, never relabelled."""
    import torch

    from workers.fewshot.classifier import squared_distances
    from workers.fewshot.pipeline import Segmenter, SegmentOptions
    from workers.fewshot.spatial import smoothed_log_probs
    from workers.fewshot.uncertainty import TEMPERATURE_SCALE, smoothed_temperature, tempered

    grid, emb, support = _grid_task(np.random.default_rng(11))
    opts = SegmentOptions(bootstrap=0, boundary=None, pixel_vote=False, weighting=None, metric=None)
    segmenter = Segmenter(support, options=opts, encoder_name="default")
    seg = segmenter.classify(emb, grid=grid)
    q = torch.as_tensor(emb.reshape(-1, emb.shape[-1]))
    probs, _ = calibrated_probs(
        squared_distances(q, segmenter.protos.centres), scale=TEMPERATURE_SCALE
    )
    logp = torch.from_numpy(np.log(np.maximum(probs, 1e-30))).float()
    smoothed = smoothed_log_probs(logp, emb.shape[:2], opts.mean_field, emb=q).exp().numpy()
    assert np.array_equal(seg.labels.ravel(), smoothed.argmax(1))
    reported = tempered(smoothed, smoothed_temperature("default"))
    assert np.allclose(seg.probs.reshape(-1, 2), reported, atol=1e-5)
    assert np.allclose(seg.confidence.ravel(), reported.max(1), atol=1e-5)
    assert seg.confidence.mean() < smoothed.max(1).mean()


def test_interval_is_wider_with_one_example_per_class():
    """The fraction interval's multiplier follows the smallest class's support count
    (INTERVAL_MULTIPLIERS): widest with one chip, whose misplaced prototype the support
    bootstrap cannot see, narrowest from five."""
    from workers.fewshot.interval import INTERVAL_MULTIPLIERS, interval_multiplier
    from workers.fewshot.pipeline import Segmenter, SegmentOptions

    (_, single), (_, few), (_, many) = INTERVAL_MULTIPLIERS["default"]
    assert [interval_multiplier("default", n) for n in (0, 1, 2, 4, 5, 9)] == [
        single, single, few, few, many, many,
    ]  # fmt: skip
    assert single > few > many
    # an encoder without its own measurement gets Fourier's (the larger) values
    assert interval_multiplier("imported-net", 3) == interval_multiplier("fourier", 3) > few
    grid, emb, support = _grid_task(np.random.default_rng(5))
    opts = SegmentOptions(
        bootstrap=0, boundary=None, pixel_vote=False, weighting=None, mean_field=0.0
    )
    one = {k: v.mean(0, keepdims=True) for k, v in support.items()}
    a = Segmenter(one, options=opts, encoder_name="default").classify(emb, grid=grid)
    b = Segmenter(support, options=opts, encoder_name="default").classify(emb, grid=grid)
    assert a.stats["interval"]["multiplier"] == single
    assert b.stats["interval"]["multiplier"] == few
    # the same prototypes (the single chips are the two chips' means): a wider interval
    wa = np.subtract(a.stats["fractions_ci_high"], a.stats["fractions_ci_low"])
    wb = np.subtract(b.stats["fractions_ci_high"], b.stats["fractions_ci_low"])
    assert np.all(wa > wb)


def test_a_segmentations_interval_starts_at_its_clicked_examples():
    """Through the core: the clicked chips are known, so each class's interval starts at the
    share of the grid its examples cover, however unsure the other chips are."""
    from workers.fewshot.pipeline import Segmenter, SegmentOptions

    grid, emb, support = _grid_task(np.random.default_rng(7))
    emb = np.random.default_rng(8).normal(0, 1, emb.shape).astype(np.float32)  # no signal
    opts = SegmentOptions(bootstrap=0, boundary=None, pixel_vote=False, weighting=None)
    clicked = {0: [(r, 0) for r in range(8)], 1: [(r, 9) for r in range(4)]}
    # an encoder without measurements: the widest multiplier, an interval that would reach 0
    seg = Segmenter(support, options=opts, encoder_name="unmeasured").classify(
        emb, grid=grid, support=clicked
    )
    low, high = seg.stats["fractions_ci_low"], seg.stats["fractions_ci_high"]
    assert low[0] >= 8 / 80 - 1e-9 and low[1] >= 4 / 80 - 1e-9
    assert high[0] <= 1 - 4 / 80 + 1e-9 and high[1] <= 1 - 8 / 80 + 1e-9
