"""Shifted copies of the example chips (``pipeline.shifted``): embedded where they lie, fitted
to the task space and the prototypes, never to the group weights or the support check."""

import numpy as np
import pytest
import torch

from tests.fewshot.synthetic import chip_accuracy
from workers.fewshot import sim
from workers.fewshot.bench.methods import EncoderMethod
from workers.fewshot.bench.suites import SETS
from workers.fewshot.chipping import ChipGrid, chip_truth, normalise
from workers.fewshot.encoders import build_encoder
from workers.fewshot.memo import ChipMemo
from workers.fewshot.pipeline import Segmenter, SegmentOptions, embed
from workers.fewshot.pipeline.shifted import shifted_copies, shifted_origins


@pytest.fixture(scope="module")
def encoder():
    return build_encoder("default")


@pytest.mark.parametrize("name", ["default", "fourier"])
@pytest.mark.parametrize("chip", [32, 100])
def test_chips_embedded_anywhere_match_the_grid_embedding(name, chip):
    """At grid positions, corners included (context mirrored at the edges), ``embed_at`` gives
    the numbers ``embed`` gives."""
    image = normalise(sim.generate("textures_three", seed=0).image)[:500, :470]
    enc = build_encoder(name)
    grid = ChipGrid.for_shape(image.shape, chip, (5, 3))
    whole = enc.embed(image, grid)
    chips = [(0, 0), (1, 2), (grid.rows - 1, grid.cols - 1), (0, grid.cols - 1)]
    origins = np.array([[5 + chip * r, 3 + chip * c] for r, c in chips])
    at = enc.embed_at(image, chip, origins)
    torch.testing.assert_close(at, torch.stack([whole[r, c] for r, c in chips]))
    enc.batch_pixels = 1  # one window a batch, on two threads: the same numbers
    torch.testing.assert_close(enc.embed_at(image, chip, origins), at)
    with pytest.raises(ValueError, match="leaves"):
        enc.embed_at(image, chip, np.array([[image.shape[0] - chip + 1, 0]]))


def test_copies_are_a_quarter_chip_away_and_stay_on_the_grid():
    grid = ChipGrid.for_shape((256, 256), 32, (4, 0))  # 7 x 8 chips from y = 4
    origins, source = shifted_origins(grid, [(0, 0), (3, 3)])
    # chip (0, 0): up and left leave the covered region; chip (3, 3): all four
    assert origins.tolist() == [
        [12, 0], [4, 8],
        [92, 96], [108, 96], [100, 88], [100, 104],
    ]  # fmt: skip
    assert source.tolist() == [0, 0, 1, 1, 1, 1]


def _scene_support(encoder, k=3, case="textures_three_gain"):
    scene = sim.generate(case, seed=0, size=(256, 256))
    embedded = embed(scene.image, encoder=encoder, chip_size=32)
    truth = chip_truth(scene.truth, embedded.grid)
    rng = np.random.default_rng(0)
    support = {}
    for c in np.unique(truth):
        rows, cols = np.nonzero(truth == c)
        pick = rng.choice(rows.size, k, replace=False)
        support[int(c)] = [(int(rows[i]), int(cols[i])) for i in pick]
    return embedded, support


def test_prototypes_take_the_copies_and_the_support_check_the_clicked_chips(encoder):
    embedded, support = _scene_support(encoder)
    on = Segmenter.fit([embedded], [support], encoder=encoder)
    off = Segmenter.fit(
        [embedded], [support], encoder=encoder, options=SegmentOptions(support_shifts=False)
    )
    copies = shifted_copies(
        [embedded], [support], encoder=encoder, peaks=on.peaks, options=SegmentOptions()
    )
    n_clicked = sum(map(len, support.values()))
    assert sum(map(len, copies.values())) > 2 * n_clicked  # most chips get four copies
    # with the support-peak group a copy carries its chip's profile
    if on.peaks is not None:
        dim = on.peaks.dim
        first = copies[0][0, dim:]
        np.testing.assert_allclose(first, on.peaks.augmented_support[0][0, dim:])
    # the prototypes move; the checked examples are the clicked ones, as without copies
    assert not torch.allclose(on.protos.centres, off.protos.centres)
    assert on.support_check["n_examples"] == off.support_check["n_examples"] == n_clicked
    for k in support:  # the support kept (bootstrap, counts) is the clicked chips
        assert len(on.support[k]) == len(support[k])


@pytest.mark.parametrize("case", [{"object_classes": (1,)}, {"k": 1}, {"metric": None}])
def test_no_copies_for_objects_or_single_examples(encoder, case):
    """Objects: a shifted rim chip is mostly support. One example a class: no metric to fit."""
    case = dict(case)
    embedded, support = _scene_support(encoder, k=case.pop("k", 3))
    fit = lambda shifts: Segmenter.fit(  # noqa: E731
        [embedded],
        [support],
        encoder=encoder,
        options=SegmentOptions(support_shifts=shifts, **case),
    )
    torch.testing.assert_close(fit(True).protos.centres, fit(False).protos.centres)


def test_textures_are_told_apart_better_with_the_copies(encoder):
    """A seen mosaic (selection set) of four noisy textures with a contrast gain per region:
    three examples show less of how a texture varies than they and their copies do."""
    sample = SETS["seen"].load("textures_four_gain_noisy", 0, (512, 512), 32)
    method = EncoderMethod("default", encoder)
    method.prepare(sample.image, sample.grid, object_classes=sample.object_classes)
    on = chip_accuracy(method, sample, k=3, draws=8, support_shifts=True)
    off = chip_accuracy(method, sample, k=3, draws=8, support_shifts=False)
    assert on > off + 0.02, (on, off)  # chip accuracy 0.616 -> 0.662 when written


def test_copies_from_several_images_carry_their_own_chips_profiles(encoder):
    """A support set pooled over two images: each copy takes the support-peak profile of the
    example it was shifted from, whichever image that example is on."""
    first, support = _scene_support(encoder)
    second, _ = _scene_support(encoder, case="textures_three")
    later = {k: v[:1] for k, v in support.items()}  # one example a class on the second image
    on = Segmenter.fit([first, second], [support, later], encoder=encoder)
    assert on.peaks is not None
    copies = shifted_copies(
        [first, second], [support, later], encoder=encoder, peaks=on.peaks, options=on.options
    )
    dim = on.peaks.dim
    for k, chips in support.items():
        rows = on.peaks.augmented_support[k][:, dim:]
        n_first = len(shifted_origins(first.grid, chips)[0])
        n_second = len(shifted_origins(second.grid, later[k])[0])
        assert len(copies[k]) == n_first + n_second
        if n_second:  # the copies of the second image's example: its row follows the first's
            np.testing.assert_allclose(copies[k][n_first:, dim:], rows[[len(chips)] * n_second])
        # and they are embedded from the second image
        at = encoder.embed_at(second.frames[0], 32, shifted_origins(second.grid, later[k])[0])
        np.testing.assert_allclose(copies[k][n_first:, :dim], at.numpy(), rtol=1e-5, atol=1e-5)


def _one_more_example(support, truth):
    """A chip of the first class that is not an example yet, and the support set with it."""
    k = min(support)
    extra = next(
        (int(r), int(c))
        for r, c in zip(*np.nonzero(truth == k), strict=True)
        if (r, c) not in support[k]
    )
    return extra, {**support, k: [*support[k], extra]}


def test_a_refit_embeds_only_the_new_examples_copies(encoder, monkeypatch):
    """The copies' embeddings stay with the image (``Embedded.memo``): after an edit, a
    refit embeds the copies of the added example only, and fits what a fresh embedding fits."""
    embedded, support = _scene_support(encoder)
    calls = []
    real = type(encoder).embed_at

    def counted(self, image, chip_size, origins):
        calls.append(len(origins))
        return real(self, image, chip_size, origins)

    monkeypatch.setattr(type(encoder), "embed_at", counted)
    Segmenter.fit([embedded], [support], encoder=encoder)
    first = calls.pop()
    kept = [key for key in embedded.memo if key[0] == "off-grid"]
    assert first >= 2 * sum(map(len, support.values())) and len(kept) == first
    scene = sim.generate("textures_three_gain", seed=0, size=(256, 256))
    truth = chip_truth(scene.truth, embedded.grid)
    extra, edited = _one_more_example(support, truth)
    refit = Segmenter.fit([embedded], [edited], encoder=encoder)
    assert calls == [len(shifted_origins(embedded.grid, [extra])[0])]
    fresh = embed(scene.image, encoder=encoder, chip_size=32)
    again = Segmenter.fit([fresh], [edited], encoder=encoder)
    torch.testing.assert_close(refit.protos.centres, again.protos.centres)


def test_the_chip_memo_is_bounded_and_makes_each_key_once():
    made = []

    def make(keys):
        made.append(keys)
        return [np.asarray(key, np.float32) * 2 for key in keys]

    store = ChipMemo(limit=3)
    out = store.many([(1, 2), (3, 4), (1, 2)], make)
    assert made == [[(1, 2), (3, 4)]] and [o.tolist() for o in out] == [[2, 4], [6, 8], [2, 4]]
    store.many([(5, 6), (7, 8)], make)  # (3, 4) was used least recently
    assert len(store) == 3 and store.nbytes == 3 * 2 * 4
    store.many([(1, 2), (3, 4)], make)
    assert made[-1] == [(3, 4)]
    assert store.many([], make) == [] and len(made) == 3
    small = ChipMemo(max_bytes=2 * 2 * 4)  # bounded in bytes too
    small.many([(1, 2), (3, 4), (5, 6)], make)
    assert len(small) == 2 and small.nbytes == 16


def test_a_refit_computes_the_new_examples_spectra_and_features_only(encoder, monkeypatch):
    """The support windows' spectra and Gabor features stay with the image
    (``Embedded.memo``): after an edit, a refit computes the added example's, and fits and
    classifies exactly as a fresh embedding does."""
    from workers.fewshot import frequencies, spectral_peaks
    from workers.fewshot.bench.sampling import sample_support

    scene = sim.generate("sto_ge_interface", seed=0, size=(256, 256))
    embedded = embed(scene.image, encoder=encoder, chip_size=32)
    truth = chip_truth(scene.truth, embedded.grid)
    support = sample_support(truth, 3, np.random.default_rng(0))
    windows, features = [], []
    # where each is computed: a window's top-left pixel, a chip's (row, col)
    for module, name, calls, where in (
        (frequencies, "_context_window", windows, slice(1, 3)),
        (spectral_peaks, "_chip_features", features, slice(4, 6)),
    ):
        real = getattr(module, name)
        monkeypatch.setattr(
            module,
            name,
            lambda *a, real=real, calls=calls, at=where: calls.append(a[at]) or real(*a),
        )
    # without the shifted copies: copies embedded in other batches differ in the last bits
    # (``test_a_refit_embeds_only_the_new_examples_copies``); these per-chip results do not
    unshifted = SegmentOptions(support_shifts=False)
    first = Segmenter.fit([embedded], [support], encoder=encoder, options=unshifted)
    n = sum(map(len, support.values()))
    assert len(windows) == n and len(features) == n and len(embedded.memo) == 2 * n
    windows.clear(), features.clear()
    extra, edited = _one_more_example(support, truth)
    refit = Segmenter.fit([embedded], [edited], encoder=encoder, options=unshifted)
    assert windows == [embedded.grid.chip_box(*extra)[:2]]
    same_peaks = np.array_equal(refit.frequencies, first.frequencies)
    assert len(features) == (1 if same_peaks else n + 1)
    fresh = embed(scene.image, encoder=encoder, chip_size=32)
    again = Segmenter.fit([fresh], [edited], encoder=encoder, options=unshifted)
    np.testing.assert_array_equal(refit.frequencies, again.frequencies)
    a, b = (
        s.classify(e.embeddings[0], grid=e.grid, pixels=e.frames[0])
        for s, e in ((refit, embedded), (again, fresh))
    )
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.probs, b.probs)
