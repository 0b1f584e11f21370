"""Benchmark: metrics on a hand-computed confusion, support sampling, a tiny end-to-end run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from workers.fewshot.bench.ceiling import displaced_majority, is_reference, reference_name
from workers.fewshot.bench.methods import EncoderMethod, PixelForestPeer
from workers.fewshot.bench.metrics import accuracy, confusion, mean_iou, per_class_iou
from workers.fewshot.bench.report import PEER, format_tables, summarise
from workers.fewshot.bench.run import AccuracyConfig, Trial, all_cases, run_case
from workers.fewshot.bench.sampling import sample_support, support_mask
from workers.fewshot.chipping import ChipGrid, chip_truth


def test_metrics_match_a_hand_computed_confusion():
    truth = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 2, 2])
    cm = confusion(truth, pred, 4)  # class 3 absent from both: ignored by the mean
    np.testing.assert_array_equal(cm[:3, :3], [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert accuracy(cm) == pytest.approx(4 / 6)
    # IoU_0 = 2/(2+1), IoU_1 = 1/(2+2-1), IoU_2 = 1/(2+1-1)
    np.testing.assert_allclose(per_class_iou(cm)[:3], [2 / 3, 1 / 3, 1 / 2])
    assert math.isnan(per_class_iou(cm)[3])
    assert mean_iou(cm) == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)
    perfect = confusion(truth, truth, 3)
    assert accuracy(perfect) == mean_iou(perfect) == 1.0


def test_confusion_rejects_bad_labels():
    with pytest.raises(ValueError):
        confusion(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError):
        confusion(np.array([0, 1]), np.array([0]), 3)


def test_support_is_drawn_from_chips_of_its_class():
    labels = np.array([[0, 0, 1], [1, 1, 2], [0, 1, 1]])
    support = sample_support(labels, 2, np.random.default_rng(0))
    assert sorted(support) == [0, 1, 2]
    assert [len(support[c]) for c in (0, 1, 2)] == [2, 2, 1]  # class 2 has a single chip
    for c, chips in support.items():
        assert len(set(chips)) == len(chips)
        assert all(labels[r, col] == c for r, col in chips)
    again = sample_support(labels, 2, np.random.default_rng(0))
    assert again == support
    assert support_mask(support, labels.shape).sum() == 5


class _Oracle:
    """Predicts the truth it was given (checks the runner's bookkeeping, not a model)."""

    name = "oracle"

    def __init__(self, case: str, size: int, chip: int) -> None:
        from workers.fewshot import sim

        self._labels = {}
        self._case, self._size, self._chip = case, size, chip
        self._sim = sim

    def prepare(self, image, grid, *, object_classes=()):
        s = self._sim.generate(self._case, seed=0, size=self._size)
        np.testing.assert_array_equal(s.image, image)  # the runner passes the raw sim image
        _, dense = np.unique(chip_truth(s.truth, grid), return_inverse=True)
        self._labels = dense.reshape(grid.rows, grid.cols)
        return 0.0

    def predict(self, support):
        return self._labels, 0.0


class _Constant:
    name = "constant"

    def prepare(self, image, grid, *, object_classes=()):
        self._shape = (grid.rows, grid.cols)
        return 0.0

    def predict(self, support):
        return np.zeros(self._shape, int), 0.0


def test_tiny_bench_run_with_the_peer():
    case, size, chip = "particles_two_materials", 128, 16
    cfg = AccuracyConfig(
        cases=(case,), size=(size, size), chip_size=chip, ks=(1,), draws=1, images=1
    )
    trials = run_case(
        case, cfg, [_Oracle(case, size, chip), _Constant(), PixelForestPeer()], log=lambda _: None
    )
    by = {t.method: t for t in trials}
    refs = {reference_name(q) for q in cfg.ceilings}
    assert set(by) == {"oracle", "constant", PEER} | refs
    from workers.fewshot import sim

    s = sim.generate(case, seed=0, size=size)
    labels = chip_truth(s.truth, ChipGrid.for_shape(s.image.shape, chip))
    n_classes = len(np.unique(labels))
    for t in trials:
        assert t.n_query == labels.size - n_classes  # k = 1 chip per class held out
        assert t.n_classes == n_classes and t.k == 1
    assert by["oracle"].accuracy == by["oracle"].miou == 1.0
    # The constant predictor is right exactly on the non-support chips of class 0.
    assert by["constant"].accuracy == pytest.approx(
        (np.sum(labels == labels.min()) - 1) / by["constant"].n_query
    )
    assert 0.0 <= by[PEER].miou <= 1.0 and by[PEER].seconds > 0
    summary = summarise(trials)
    row = next(r for r in summary["cases"] if r["method"] == "oracle")
    assert row["delta_miou_vs_peer"]["mean"] == pytest.approx(1.0 - by[PEER].miou)
    # references are scored on the same chips but are not segmenters: no timing, no deltas
    for name in refs:
        assert 0.0 < by[name].miou <= 1.0
        ref_row = next(r for r in summary["cases"] if r["method"] == name)
        assert "delta_miou_vs_peer" not in ref_row and "seconds" not in ref_row
    table = format_tables(summary)
    assert case in table and "== particles ==" in table and reference_name(3) in table


def _two_band_truth(boundary_x: int) -> np.ndarray:
    truth = np.zeros((64, 128), np.int32)
    truth[:, boundary_x:] = 1
    return truth


def test_displaced_majority_without_shift_is_the_chip_truth():
    truth = _two_band_truth(40)
    grid = ChipGrid.for_shape(truth.shape, 32)
    got = displaced_majority(truth, grid, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(got, chip_truth(truth, grid))


def test_displaced_majority_errs_only_where_a_boundary_is_within_the_shift():
    # chip column 1 spans x 32..63 and holds 8 px of class 0 (the boundary at x = 40)
    truth = _two_band_truth(40)
    grid = ChipGrid.for_shape(truth.shape, 32)
    exact = chip_truth(truth, grid)
    small = [displaced_majority(truth, grid, 3, np.random.default_rng(i)) for i in range(20)]
    assert all(np.array_equal(s, exact) for s in small)  # 8 +- 3 px of class 0 < 16 px
    large = np.stack(
        [displaced_majority(truth, grid, 12, np.random.default_rng(i)) for i in range(20)]
    )
    assert (large[:, :, 1] != exact[:, 1]).any()  # up to 20 px of class 0: sometimes flips
    np.testing.assert_array_equal(
        large[:, :, [0, 2, 3]], np.broadcast_to(exact[:, [0, 2, 3]], (20, 2, 3))
    )
    assert is_reference(reference_name(12)) and not is_reference("oracle")


def test_summary_pairs_each_draw_with_the_peer_draw():
    def trial(method, draw, miou, seconds):
        return Trial("c", "g", 3, draw, method, miou, miou, seconds, 10, 2)

    trials = [
        trial(PEER, 0, 0.5, 2.0),
        trial(PEER, 1, 0.7, 2.0),
        trial("enc", 0, 0.6, 0.5),
        trial("enc", 1, 0.6, 0.5),
    ]
    rows = {r["method"]: r for r in summarise(trials)["cases"]}
    assert rows["enc"]["delta_miou_vs_peer"]["mean"] == pytest.approx(0.0)
    assert rows["enc"]["delta_miou_vs_peer"]["std"] == pytest.approx(0.1)
    assert rows["enc"]["speedup_vs_peer"] == pytest.approx(4.0)
    assert rows[PEER]["miou"]["mean"] == pytest.approx(0.6)
    assert "delta_miou_vs_peer" not in rows[PEER]


class _CountingEncoder:
    default_temperature = 2.5

    def __init__(self):
        self.calls = 0

    def embed(self, image, grid):
        self.calls += 1
        return np.random.default_rng(self.calls).normal(size=(grid.rows, grid.cols, 4))


def test_encoder_method_embeds_each_image_once_and_fits_per_support_set():
    inner = _CountingEncoder()
    method = EncoderMethod("counting", inner, boundary=False)
    method.prepare(np.zeros((64, 96), np.float32), ChipGrid.for_shape((64, 96), 32))
    first, _ = method.predict({0: [(0, 0)], 1: [(1, 2)]})
    swapped, _ = method.predict({1: [(0, 0)], 0: [(1, 2)]})
    assert inner.calls == 1  # one embedding, two support sets
    assert first[0, 0] == 0 and first[1, 2] == 1 and swapped[0, 0] == 1 and swapped[1, 2] == 0


def test_encoder_method_runs_the_engine_pipeline():
    from workers.fewshot import sim
    from workers.fewshot.encoders import build_encoder

    s = sim.generate("thickness_steps", seed=0, size=128)
    grid = ChipGrid.for_shape(s.image.shape, 32)
    method = EncoderMethod("fourier", build_encoder("fourier", device="cpu"))
    assert method.prepare(s.image, grid) > 0
    _, dense = np.unique(chip_truth(s.truth, grid), return_inverse=True)
    support = sample_support(dense.reshape(grid.rows, grid.cols), 2, np.random.default_rng(0))
    labels, seconds = method.predict(support)
    assert labels.shape == (grid.rows, grid.cols) and seconds > 0
    assert set(np.unique(labels)) <= set(support)
    for c, chips in support.items():  # support chips sit next to their own prototype... mostly
        assert np.mean([labels[r, col] == c for r, col in chips]) >= 0.5


def test_bench_covers_all_groups():
    groups = set(all_cases().values())
    assert groups == {"lattices", "particles", "textures"}


def test_bench_evaluates_a_weights_directory_for_the_default_encoder(tmp_path):
    from workers.fewshot.bench.methods import available_encoders, weights_fingerprint
    from workers.fewshot.encoders import build_encoder, save_encoder

    trained = build_encoder("default", weights=None, context=True)  # stands in for a run's output
    save_encoder(trained, tmp_path / "run")
    built, skipped = available_encoders(["default", "fourier"], weights=str(tmp_path / "run"))
    assert not skipped
    assert weights_fingerprint(built["default"]) == weights_fingerprint(trained)
    committed, _ = available_encoders(["default"])
    assert weights_fingerprint(committed["default"]) != weights_fingerprint(trained)
    assert built["fourier"].margin(32) == 0 and built["default"].margin(32) == 16


def test_speed_comparison_times_engine_and_peer_in_fresh_processes():
    from workers.fewshot.bench.speed import speed_compare

    s = speed_compare(size=192, chip=32, k=2)
    assert "error" not in s, s
    assert s["chips"] == 36 and s["engine_runs"] == 5 and s["peer_runs"] == 3
    assert 0 < s["engine_seconds"] < 30 and 0 < s["peer_seconds"] < 60
    assert set(s["engine_stages"]) >= {"embed", "classify", "statistics"}
    assert s["speedup"] == pytest.approx(s["peer_seconds"] / s["engine_seconds"])


def test_speed_stages_time_a_rerun_after_a_support_edit():
    """The stages part times a cold run and, with its caches, a re-run whose support set lost
    one example (what a user's edit costs): both with their CPU seconds."""
    from workers.fewshot.bench.stages import edited_support, time_stages
    from workers.fewshot.encoders import build_encoder

    support = {0: [(0, 0), (1, 1)], 1: [(2, 2), (3, 3), (4, 4)], 2: [(5, 5)]}
    assert edited_support(support) == {0: [(0, 0), (1, 1)], 1: [(2, 2), (3, 3)], 2: [(5, 5)]}
    nothing_to_drop = {0: [(0, 0)], 1: [(1, 1)]}
    assert edited_support(nothing_to_drop) == nothing_to_drop
    lines = []
    (report,) = time_stages(
        build_encoder("fourier"),
        size=128,
        chips=(32,),
        k=3,
        repeats=1,
        warmup=False,
        out=lines.append,
    )
    stages = report["stages"]
    assert {"cold", "cpu", "rerun", "rerun_cpu", "pixels", "statistics"} <= set(stages)
    assert {"embed_cpu", "pixels_cpu", "statistics_cpu"} <= set(stages)  # CPU per stage
    assert stages["rerun"] > 0 and stages["rerun_cpu"] > 0
    assert report["chips"] == 16 and report["labels_sha256"] != "NONDETERMINISTIC"
    wall, cpu = lines[0].splitlines()  # wall seconds per stage, then CPU seconds
    assert wall.split()[:4] == ["128", "32", "16", "wall"] and cpu.split()[3] == "cpu"
