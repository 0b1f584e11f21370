"""The support bootstrap streamed: per-resample class counts without the (B, N) labels,
identical for a seed to the labels the engine used to materialise."""

import numpy as np
import pytest
import torch

from workers.fewshot import stats
from workers.fewshot.classifier import squared_distances
from workers.fewshot.stats import abundance, bootstrap_counts, bootstrap_labels


def materialised_labels(query, support, *, n_resamples, seed):
    """The bootstrap as it was before streaming (reference): (B, N) sorted-class indices."""
    q = torch.as_tensor(np.asarray(query)).float()
    classes = sorted(support)
    sup = [torch.as_tensor(np.asarray(support[k])).float() for k in classes]
    rng = np.random.default_rng(seed)
    centres = []
    for v in sup:
        idx = torch.from_numpy(rng.integers(0, v.shape[0], size=(n_resamples, v.shape[0])))
        centres.append(v[idx].mean(1))
    k = len(classes)
    centres = torch.stack(centres, dim=1).reshape(n_resamples * k, -1)
    out = np.empty((n_resamples, q.shape[0]), np.int64)
    step = max(1, 4_000_000 // (n_resamples * k))
    for i in range(0, q.shape[0], step):
        d = squared_distances(q[i : i + step], centres).reshape(-1, n_resamples, k)
        out[:, i : i + step] = d.argmin(-1).T.numpy()
    return out


def problem(seed=0, n=3000, d=24, ids=(0, 2, 5), per_class=(7, 1, 30)):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(n, d)).astype(np.float32)
    support = {
        k: rng.normal(loc=0.3 * j, size=(m, d)).astype(np.float32)
        for j, (k, m) in enumerate(zip(ids, per_class, strict=True))
    }
    return query, support


def counts_of(labels_by_id, n_classes):
    return np.stack([np.bincount(row, minlength=n_classes)[:n_classes] for row in labels_by_id])


@pytest.mark.parametrize("seed", [0, 7])
def test_counts_equal_the_materialised_bootstrap_for_the_same_seed(seed, monkeypatch):
    query, support = problem(seed)
    ids = np.asarray(sorted(support))
    reference = ids[materialised_labels(query, support, n_resamples=64, seed=seed)]
    # small blocks: many gather blocks and query chunks
    monkeypatch.setattr(stats, "_GATHER_BLOCK", 500)
    monkeypatch.setattr(stats, "_DISTANCE_BLOCK", 20_000)
    counts = bootstrap_counts(query, support, n_classes=6, n_resamples=64, seed=seed)
    np.testing.assert_array_equal(counts, counts_of(reference, 6))
    np.testing.assert_array_equal(
        bootstrap_labels(query, support, n_resamples=64, seed=seed),
        materialised_labels(query, support, n_resamples=64, seed=seed),
    )


def test_block_size_does_not_change_the_counts(monkeypatch):
    query, support = problem(3)
    whole = bootstrap_counts(query, support, n_classes=6, n_resamples=40, seed=3)
    monkeypatch.setattr(stats, "_GATHER_BLOCK", 1)
    monkeypatch.setattr(stats, "_DISTANCE_BLOCK", 1)
    np.testing.assert_array_equal(
        bootstrap_counts(query, support, n_classes=6, n_resamples=40, seed=3), whole
    )
    assert whole.shape == (40, 6) and (whole.sum(1) == len(query)).all()
    other_seed = bootstrap_counts(query, support, n_classes=6, n_resamples=40, seed=4)
    assert other_seed.tolist() != whole.tolist()


def test_fixed_chips_keep_their_label_in_every_resample():
    query, support = problem(1, n=500)
    ids = np.asarray(sorted(support))
    labels = ids[materialised_labels(query, support, n_resamples=30, seed=1)]
    fixed = np.full(len(query), -1)
    fixed[::3] = 5
    labels[:, ::3] = 5
    counts = bootstrap_counts(query, support, n_classes=6, n_resamples=30, seed=1, fixed=fixed)
    np.testing.assert_array_equal(counts, counts_of(labels, 6))


def test_abundance_from_counts_equals_abundance_from_labels():
    query, support = problem(2, n=400)
    ids = np.asarray(sorted(support))
    labels = ids[materialised_labels(query, support, n_resamples=50, seed=2)]
    grid = labels[0].reshape(20, 20)
    probs = np.eye(6)[grid.ravel()]
    from_labels = abundance(grid, probs, n_classes=6, chip_area_px=4, bootstrap=labels)
    from_counts = abundance(
        grid,
        probs,
        n_classes=6,
        chip_area_px=4,
        bootstrap_counts=bootstrap_counts(query, support, n_classes=6, n_resamples=50, seed=2),
    )
    assert from_counts == from_labels
    assert from_counts["bootstrap"]["n_resamples"] == 50


def test_the_streamed_bootstrap_never_holds_b_by_n_labels(monkeypatch):
    """10,000 resamples of 20,000 chips: 1.6 GB as (B, N) int64 labels."""
    query, support = problem(5, n=20_000, d=4, per_class=(3, 2, 4))
    seen = []
    real = stats._bootstrap_chunks

    def spy(*args):
        for i, labels in real(*args):
            seen.append(labels.size)
            yield i, labels

    monkeypatch.setattr(stats, "_bootstrap_chunks", spy)
    counts = bootstrap_counts(query, support, n_classes=6, n_resamples=10_000, seed=0)
    assert counts.shape == (10_000, 6) and (counts.sum(1) == 20_000).all()
    assert max(seen) <= 10_000 * (4_000_000 // (10_000 * 3))  # one chunk of queries at a time


def test_labels_made_beforehand_count_as_the_stream_does(monkeypatch):
    """The pipeline makes the (B, N) labels beside the pixel vote and counts them after, with
    the chips the vote fixed: the same counts as streaming; too many labels: none made."""
    query, support = problem(5, n=800)
    q = torch.as_tensor(query)
    sup = {k: torch.as_tensor(v) for k, v in support.items()}
    fixed = np.where(np.arange(len(query)) % 7 == 0, 5, -1)
    made = stats.labels_beforehand(q, sup, 30, seed=2)
    assert made.dtype == np.uint8 and made.shape == (30, 800)
    kw = {"n_classes": 6, "n_resamples": 30, "seed": 2, "fixed": fixed}
    streamed = bootstrap_counts(q, sup, **kw)
    counted = bootstrap_counts(q, sup, **kw, labels=made)
    np.testing.assert_array_equal(counted, streamed)
    # the labels given are the ones counted: all "first class" but the fixed chips
    first = bootstrap_counts(q, sup, **kw, labels=np.zeros_like(made))
    assert (first[:, 0] == (fixed < 0).sum()).all() and (first[:, 5] == (fixed == 5).sum()).all()
    assert stats.labels_beforehand(q, sup, 0, seed=2) is None
    monkeypatch.setattr(stats, "BEFOREHAND_LABELS", 30 * 800 - 1)
    assert stats.labels_beforehand(q, sup, 30, seed=2) is None


@pytest.mark.parametrize("n_ids", [3, 16, 17, 40])
def test_counting_by_comparison_and_by_bincount_agree(n_ids):
    """Up to 16 classes each row is counted one class at a time, beyond by one bincount: both
    give each resample's count of every class id, the fixed chips' ids included."""
    rng = np.random.default_rng(n_ids)
    ids = np.sort(rng.choice(60, size=n_ids, replace=False))
    support = {int(k): np.zeros((2, 3), np.float32) for k in ids}
    made = rng.integers(0, n_ids, size=(25, 700)).astype(np.uint8)
    fixed = np.where(rng.random(700) < 0.2, rng.choice(ids, size=700), -1)
    counts = bootstrap_counts(None, support, n_classes=60, n_resamples=25, labels=made, fixed=fixed)
    expected = counts_of(np.where(fixed >= 0, fixed, ids[made]), 60)
    np.testing.assert_array_equal(counts, expected)
