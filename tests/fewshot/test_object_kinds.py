"""One kind per particle (``objects.kinds``): shape and profile decide what chips cannot."""

import numpy as np
import pytest

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.objects import instances
from workers.fewshot.objects.kinds import kind_per_object

ROUND, ROD = 1, 2


def _scene(seed: int = 0):
    """Round particles (r = 14) and rods (46 x 12 px) of one brightness on a dark film, on a
    6 x 6 grid of 96 px cells; truth kinds and the centre of each particle."""
    rng = np.random.default_rng(seed)
    size = 576
    yy, xx = np.indices((size, size))
    truth = np.zeros((size, size), np.int64)
    centres = []
    for i in range(6):
        for j in range(6):
            cy, cx = 48 + 96 * i + rng.integers(-8, 9), 48 + 96 * j + rng.integers(-8, 9)
            kind = ROUND if (i + j) % 2 == 0 else ROD
            if kind == ROUND:
                inside = (yy - cy) ** 2 + (xx - cx) ** 2 < 14**2
            else:
                a = rng.uniform(0, np.pi)
                u = (yy - cy) * np.cos(a) + (xx - cx) * np.sin(a)
                v = -(yy - cy) * np.sin(a) + (xx - cx) * np.cos(a)
                inside = (np.abs(u) < 23) & (np.abs(v) < 6)
            truth[inside] = kind
            centres.append((cy, cx, kind))
    frame = (0.2 + 0.6 * (truth > 0) + rng.normal(0, 0.03, truth.shape)).astype(np.float32)
    return truth, frame, centres


def _chips_blind_to_shape(truth: np.ndarray, seed: int = 1, block: int = 8) -> np.ndarray:
    """A pixel map from patches that see a particle but not its shape: the particle pixels of
    every ``block`` px square take one kind at random (every particle spans several)."""
    rng = np.random.default_rng(seed)
    h, w = truth.shape
    kinds = rng.choice([ROUND, ROD], size=(-(-h // block), -(-w // block)))
    per_pixel = np.kron(kinds, np.ones((block, block), np.int64))[:h, :w]
    return np.where(truth > 0, per_pixel, 0)


def _instance_kinds(labels: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found kind, true kind) of every particle of the truth."""
    inst = instances(truth, [ROUND, ROD], min_area_px=1)
    found, true = [], []
    for i in range(1, inst.n + 1):
        at = inst.labels == i
        found.append(np.bincount(labels[at], minlength=3).argmax())
        true.append(np.bincount(truth[at], minlength=3).argmax())
    return np.asarray(found), np.asarray(true)


def _support(centres, grid: ChipGrid, per_kind: int = 3) -> dict[int, list[tuple[int, int]]]:
    """Chips under the centres of the first ``per_kind`` particles of each kind, plus film."""
    s = grid.chip_size
    support: dict[int, list[tuple[int, int]]] = {0: [(0, 1), (5, 5), (11, 6)]}
    for cy, cx, kind in centres:
        if len(support.setdefault(kind, [])) < per_kind:
            support[kind].append((int(cy) // s, int(cx) // s))
    return support


def test_every_particle_takes_the_kind_its_shape_says():
    truth, frame, centres = _scene()
    grid = ChipGrid.for_shape(truth.shape, 32)
    mixed = _chips_blind_to_shape(truth)
    before, true = _instance_kinds(mixed, truth)
    labels, posterior = kind_per_object(mixed, frame, grid, _support(centres, grid), [ROUND, ROD])
    after, _ = _instance_kinds(labels, truth)
    split = instances(mixed, [ROUND, ROD], min_area_px=1)
    assert (split.class_fraction < 0.95).all()  # no particle is of one kind yet
    assert (before == true).mean() < 0.8  # by majority, many particles get the wrong kind
    assert (after == true).all()
    # one kind per particle, the film untouched
    inst = instances(labels, [ROUND, ROD], min_area_px=1)
    assert (inst.class_fraction == 1.0).all()
    assert (labels[truth == 0] == 0).all()
    # relabelled pixels carry their particle's posterior, the others are unchanged
    changed = labels != mixed
    assert changed.any() and (posterior[~changed] == 1.0).all()
    assert ((posterior[changed] > 0.5) & (posterior[changed] <= 1.0)).all()


def test_a_rod_the_chips_all_called_round_becomes_a_rod():
    """Every pixel of one rod (not an example) says round; its shape outweighs the vote."""
    truth, frame, centres = _scene()
    grid = ChipGrid.for_shape(truth.shape, 32)
    cy, cx, _ = next(c for c in centres[6:] if c[2] == ROD)
    inst = instances(truth, [ROUND, ROD], min_area_px=1)
    rod = inst.labels == inst.labels[cy, cx]
    mixed = _chips_blind_to_shape(truth)
    mixed[rod] = ROUND
    labels, posterior = kind_per_object(mixed, frame, grid, _support(centres, grid), [ROUND, ROD])
    assert (labels[rod] == ROD).all()
    assert (posterior[rod] > 0.5).all() and (posterior[rod] < 1.0).all()


def test_without_two_examples_of_a_kind_the_map_is_left_as_it_is():
    """No example of one kind, or one example per kind (no within-kind spread): unchanged."""
    truth, frame, centres = _scene()
    grid = ChipGrid.for_shape(truth.shape, 32)
    mixed = _chips_blind_to_shape(truth)
    no_rod = {k: v for k, v in _support(centres, grid).items() if k != ROD}
    one_each = _support(centres, grid, per_kind=1)
    for support in (no_rod, one_each):
        labels, posterior = kind_per_object(mixed, frame, grid, support, [ROUND, ROD])
        assert (labels == mixed).all() and (posterior == 1.0).all()
    two_each = _support(centres, grid, per_kind=2)
    assert (kind_per_object(mixed, frame, grid, two_each, [ROUND, ROD])[0] != mixed).any()


@pytest.mark.parametrize("kinds", [[], [ROUND]])
def test_one_kind_or_none_changes_nothing(kinds):
    truth, frame, centres = _scene()
    grid = ChipGrid.for_shape(truth.shape, 32)
    mixed = _chips_blind_to_shape(truth)
    labels, posterior = kind_per_object(mixed, frame, grid, _support(centres, grid), kinds)
    assert (labels == mixed).all() and (posterior == 1.0).all()


def test_the_pixel_vote_gives_each_particle_one_kind_in_the_core():
    """Through the segmentation core: a seen case of round and rod-shaped particles."""
    from workers.fewshot.bench.suites import SETS
    from workers.fewshot.encoders import build_encoder
    from workers.fewshot.pipeline import Segmenter, SegmentOptions, embed

    sample = SETS["seen"].load("particles_round_rod", 100, (384, 384), 32)
    encoder = build_encoder("fourier")
    emb = embed(sample.image, encoder=encoder, chip_size=32)
    rng = np.random.default_rng(0)
    support = {}
    for c in range(sample.present.size):
        rows, cols = np.nonzero(sample.labels == c)
        pick = rng.choice(rows.size, 3, replace=False)
        support[c] = [(int(rows[i]), int(cols[i])) for i in pick]
    assert sample.object_classes == (1, 2)

    def run(kinds):
        options = SegmentOptions(bootstrap=0, object_kinds=kinds)
        segmenter = Segmenter.fit([emb], [support], encoder=encoder, options=options)
        return segmenter.classify(
            emb.embeddings[0], grid=emb.grid, pixels=emb.frames[0], support=support
        )

    plain, kinds = run(()), run(sample.object_classes)
    split = instances(plain.pixel_map.labels, [1, 2], min_area_px=1)
    whole = instances(kinds.pixel_map.labels, [1, 2], min_area_px=1)
    assert (split.class_fraction < 1).any()  # chip by chip, particles come out mixed
    assert (whole.class_fraction == 1).all()
    assert "objects" in kinds.pixel_map.timings
    # the chips follow their pixels: the map's changes reach the chip labels
    assert (np.asarray(kinds.labels) != np.asarray(plain.labels)).any()
