"""Episodic fine-tuning of a trained encoder on labelled support sets, with a held-out split.

    sets = [(image (H, W), ChipGrid, {class_id: [(row, col), ...]}), ...]
    train_sets, held_out = split_support_sets(sets, holdout_fraction=0.25, seed=0)
    result = finetune(encoder, train_sets, held_out, FinetuneConfig(epochs=10))
    result.encoder            # a fine-tuned copy (the input encoder is not modified)
    evaluate_encoder(other, result.holdout)  # the same held-out episodes, any encoder

Chips are cut once per image (only the labelled ones). An episode picks one group (chip size)
and, by default, one image of it (scope="image": a class's absolute orientation or contrast may
differ between micrographs, and segmentation classifies one micrograph at a time), and splits
each class's chips into support (<= k_shot, leaving a query) and query chips. Training episodes
get photometric jitter drawn once per image (augment="photometric"; no rot90 / flips by
default: orientation and handedness are often exactly what separates a lab's classes).
By default only the head trains (conv trunk frozen), and BatchNorm statistics and affine
weights stay frozen (eval mode): support sets are far too small to re-estimate them. The epoch
kept is the one best on held-out images (select="both": higher accuracy AND lower NLL).

Modules: ``pools`` (support sets, chip pools, episodes), ``training`` (options, the loop,
held-out evaluation).
"""

from workers.fewshot.finetune.pools import (
    AUGMENTS,
    SCOPES,
    TRAINABLE,
    Pool,
    SupportSet,
    build_pools,
    make_episodes,
    split_support_sets,
)
from workers.fewshot.finetune.training import (
    FinetuneConfig,
    FinetuneResult,
    evaluate_encoder,
    finetune,
    trainable_module,
    trainable_parameters,
)

__all__ = [
    "AUGMENTS",
    "SCOPES",
    "TRAINABLE",
    "FinetuneConfig",
    "FinetuneResult",
    "Pool",
    "SupportSet",
    "build_pools",
    "evaluate_encoder",
    "finetune",
    "make_episodes",
    "split_support_sets",
    "trainable_module",
    "trainable_parameters",
]
