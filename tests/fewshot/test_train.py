"""Episodic training: episodes from scenes, loss, learning (support-set episodes: test_finetune)."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.fewshot.synthetic import stripes
from workers.fewshot.encoders.base import centre_chips
from workers.fewshot.encoders.default import ChipNet, ChipNetConfig
from workers.fewshot.episodes import (
    episode_from_scene,
    rotated_halves,
    scaled_halves,
    texture_mosaic,
)
from workers.fewshot.train import TrainConfig, loss, train

TINY = ChipNetConfig(
    input_size=16, widths=(4, 8), n_radial=4, n_angular=8, spectral_hidden=16, embed_dim=8
)


def standin_scene(rng: np.random.Generator, *, size=(96, 96)):
    """A private stand-in for sim.random_scene: two fringe domains at random angles."""
    h, w = size
    a, b = rng.uniform(0, 180, 2)
    img = np.concatenate(
        [stripes((h, w // 2), 6.0, a, rng), stripes((h, w - w // 2), 9.0, b, rng)], axis=1
    )
    truth = np.zeros(size, np.int32)
    truth[:, w // 2 :] = 1
    return SimImage(img * 100, truth)


def SimImage(image, truth):
    return SimpleNamespace(image=image, truth=truth)


def test_episode_from_scene_has_support_and_queries_per_class():
    rng = np.random.default_rng(0)
    s = standin_scene(rng, size=(64, 96))
    ep = episode_from_scene(s.image, s.truth, rng, chip_size=16, k_shot=2, n_query=3)
    assert ep.chips.shape[1:] == (1, 16, 16) and ep.n_way == 2
    for k in range(2):
        assert int((ep.support & (ep.labels == k)).sum()) == 2
        assert int((~ep.support & (ep.labels == k)).sum()) >= 1


def test_episode_windows_carry_context_around_their_chip():
    s = standin_scene(np.random.default_rng(0), size=(64, 96))
    plain = episode_from_scene(
        s.image, s.truth, np.random.default_rng(1), chip_size=16, k_shot=2, n_query=3
    )
    wide = episode_from_scene(
        s.image, s.truth, np.random.default_rng(1), chip_size=16, k_shot=2, n_query=3, margin=8
    )
    assert wide.chips.shape[1:] == (1, 32, 32)
    # same draw, same chips: the centre of each window is the plain episode's chip
    torch.testing.assert_close(centre_chips(wide.chips), plain.chips)
    assert torch.equal(wide.labels, plain.labels) and torch.equal(wide.support, plain.support)


@pytest.mark.parametrize("context", [False, True])
def test_training_steps_reduce_loss_and_overfit_one_episode(context):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    s = standin_scene(rng, size=(64, 128))
    ep = episode_from_scene(
        s.image,
        s.truth,
        rng,
        chip_size=16,
        k_shot=2,
        n_query=6,
        do_augment=False,
        margin=8 if context else 0,
    )
    net = ChipNet(dataclasses.replace(TINY, context=context))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    _, first = loss(net, [ep])
    assert set(first) >= {"loss", "acc", "scale"}
    for _ in range(60):
        value, metrics = loss(net, [ep])
        opt.zero_grad()
        value.backward()
        opt.step()
    assert metrics["loss"] < 0.2 * first["loss"]
    assert metrics["acc"] == 1.0
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)


def test_train_loop_runs_seeded_and_reports_validation():
    cfg = TrainConfig(
        steps=4,
        episodes_per_step=2,
        chip_sizes=(16,),
        crop_size=(64, 96),
        pool_scenes=2,
        pool_scene_size=96,
        val_episodes=2,
        val_every=2,
        threads=1,
        arch=TINY,
        n_query=3,
        k_shot=(1, 2),
    )
    net1, rep1 = train(cfg, source=standin_scene, log=lambda s: None)
    net2, _ = train(cfg, source=standin_scene, log=lambda s: None)
    assert [h["step"] for h in rep1["history"]] == [2, 4]
    assert 0 <= rep1["best"]["val_acc"] <= 1
    for p1, p2 in zip(net1.parameters(), net2.parameters(), strict=True):
        torch.testing.assert_close(p1, p2)


def test_synthetic_training_scenes():
    rng = np.random.default_rng(0)
    m = texture_mosaic(rng, size=(64, 80))
    assert m.image.shape == (64, 80) and m.truth.shape == (64, 80) and m.truth.max() >= 1
    means = [m.image[m.truth == k].mean() for k in np.unique(m.truth)]
    assert np.ptp(means) < 0.5  # textures differ in texture, not brightness
    truth = np.zeros((60, 60), np.int32)
    truth[:, 30:] = 1
    img, tru = rotated_halves(
        np.random.default_rng(1).random((60, 60)).astype(np.float32), truth, rng
    )
    assert img.shape == tru.shape and img.shape[0] < 60
    assert set(np.unique(tru)) <= {0, 1, 2, 3} and tru.max() >= 2  # rotated half: new class ids


def test_scaled_halves_magnify_one_side_with_new_classes():
    xx = np.indices((96, 96))[1]
    img = np.sin(2 * np.pi * xx / 6.0).astype(np.float32)  # fringes of period 6 px along x
    out, tru = scaled_halves(img, np.zeros((96, 96), np.int32), np.random.default_rng(3))
    assert out.shape == (96, 96) and set(np.unique(tru)) == {0, 1}
    # magnified by f: the fringe period grows to 6 f, so the mean slope shrinks by 1 / f
    slope = np.abs(np.diff(out, axis=1))
    same = tru[:, 1:] == tru[:, :-1]
    ratio = slope[same & (tru[:, 1:] == 1)].mean() / slope[same & (tru[:, 1:] == 0)].mean()
    assert 1 / 1.25 < ratio < 1 / 1.03
