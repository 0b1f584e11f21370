"""Fine-tuning on labelled support sets: what trains, what stays frozen, episode scope."""

import numpy as np
import pytest
import torch
from torch import nn

from workers.fewshot import sim
from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.encoders import build_encoder
from workers.fewshot.finetune import (
    FinetuneConfig,
    build_pools,
    finetune,
    make_episodes,
    trainable_module,
    trainable_parameters,
)


@pytest.fixture(scope="module")
def encoder():
    return build_encoder("default", device="cpu")


def labelled_sets(n_images=2, size=128, chip=16, per_class=6):
    """Support sets picked from the simulator's truth (pure chips), one per image."""
    sets = []
    for seed in range(n_images):
        scene = sim.generate("lattice_spacing", seed=seed, size=(size, size))
        grid = ChipGrid.for_shape(shape=scene.image.shape, chip_size=chip)
        truth = chip_truth(scene.truth, grid)
        support = {}
        for cls in np.unique(truth):
            rows, cols = np.nonzero(truth == cls)
            support[int(cls)] = list(
                zip(rows[:per_class].tolist(), cols[:per_class].tolist(), strict=True)
            )
        sets.append((scene.image, grid, support))
    return sets


def test_head_mode_freezes_the_trunk_and_batchnorm(encoder):
    module = trainable_module(encoder)
    head = {id(p) for p in trainable_parameters(encoder, module, "head")}
    every = {id(p) for p in trainable_parameters(encoder, module, "all")}
    assert head and head < every
    assert not head & {id(p) for p in module.cnn.parameters()}
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            assert not head & {id(p) for p in m.parameters()}
    with pytest.raises(ValueError, match="trainable"):
        trainable_parameters(encoder, module, "some")


def test_finetune_changes_only_the_head_and_leaves_the_input_alone(encoder):
    sets = labelled_sets()
    before = {k: v.clone() for k, v in trainable_module(encoder).state_dict().items()}
    cfg = FinetuneConfig(epochs=2, episodes_per_epoch=2, lr=1e-2, threads=1, select="acc")
    result = finetune(encoder, sets[:1], sets[1:], cfg)
    tuned = trainable_module(result.encoder)
    for key, value in trainable_module(encoder).state_dict().items():
        assert torch.equal(value, before[key]), f"input encoder changed at {key}"
    for name, param in tuned.cnn.named_parameters():
        assert torch.equal(param, before[f"cnn.{name}"]), name
    assert len(result.history) == 3  # epoch 0 (the base) + 2


def test_episodes_take_support_and_query_from_one_image():
    sets = labelled_sets(n_images=2)
    pools = build_pools(sets)
    episodes = make_episodes(
        pools, np.random.default_rng(0), n=6, k_shot=2, n_query=2, augment="none", scope="image"
    )
    assert episodes
    chips_per_image = [
        {tuple(c.flatten()[:8].tolist()) for c in pool_chips}
        for pool in pools.values()
        for per_class in pool.images
        for pool_chips in [torch.cat(list(per_class.values()))]
    ]
    for episode in episodes:
        keys = {tuple(c.flatten()[:8].tolist()) for c in episode.chips}
        assert any(keys <= image_keys for image_keys in chips_per_image)


def test_finetune_restores_the_process_thread_count(encoder):
    """A worker runs other jobs after a training: its torch thread count is left as it was."""
    import torch

    sets = labelled_sets()
    original = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cfg = FinetuneConfig(epochs=1, episodes_per_epoch=1, lr=1e-2, threads=1, select="acc")
        finetune(encoder, sets[:1], sets[1:], cfg)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(original)
