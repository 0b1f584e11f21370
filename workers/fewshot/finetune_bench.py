"""Benchmark: does fine-tuning on a family's labelled chips beat the default encoder there?

    python -m workers.fewshot.finetune_bench                      # sto_ge_low_dose, quick
    python -m workers.fewshot.finetune_bench --case subtle_rotation --epochs 15

Fine-tunes the default encoder on support sets picked from the truth of ``--train`` simulated
images of one case (``workers.fewshot.sim``), then compares base and fine-tuned encoders on
``--test`` held-out images of the same case (other seeds): (1) query accuracy of fixed few-shot
episodes, (2) full segmentation (``pipeline.segment`` with k support chips per class):
chip accuracy and mean IoU against the chip truth. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from workers.fewshot import sim
from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.encoders import build_encoder
from workers.fewshot.finetune import (
    FinetuneConfig,
    build_pools,
    evaluate_encoder,
    finetune,
    make_episodes,
    split_support_sets,
)
from workers.fewshot.pipeline import segment


def labelled(
    case: str, seed: int, *, size: int, chip_size: int, per_class: int, purity: float = 0.9
):
    """A simulated image with up to ``per_class`` pure chips per class picked from its truth."""
    s = sim.generate(case, seed=seed, size=(size, size))
    grid = ChipGrid.for_shape(s.image.shape, chip_size)
    labels, pure = chip_truth(s.truth, grid, return_purity=True)
    rng = np.random.default_rng(seed)
    support = {}
    for cls in np.unique(labels):
        rc = np.argwhere((labels == cls) & (pure >= purity))
        if len(rc) >= 2:
            pick = rc[rng.permutation(len(rc))[:per_class]]
            support[int(cls)] = [(int(r), int(c)) for r, c in pick]
    return s, grid, labels, support


def miou(pred: np.ndarray, truth: np.ndarray) -> float:
    ious = []
    for k in np.unique(truth):
        inter = np.sum((pred == k) & (truth == k))
        union = np.sum((pred == k) | (truth == k))
        ious.append(inter / union if union else 1.0)
    return float(np.mean(ious))


def seg_scores(encoder, items, *, k_shot: int, chip_size: int) -> dict[str, float]:
    accs, mious = [], []
    for s, _grid, labels, support in items:
        sup = {c: rc[:k_shot] for c, rc in support.items()}
        classes = sorted(sup)
        remap = {c: i for i, c in enumerate(classes)}
        seg = segment(
            s.image,
            chip_size=chip_size,
            encoder=encoder,
            support={remap[c]: v for c, v in sup.items()},
        )
        pred = np.asarray(classes)[seg.labels]
        accs.append(float(np.mean(pred == labels)))
        mious.append(miou(pred, labels))
    return {"chip_acc": float(np.mean(accs)), "miou": float(np.mean(mious))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", default="sto_ge_low_dose")
    p.add_argument("--train", type=int, default=4, help="training images")
    p.add_argument("--test", type=int, default=4, help="held-out images")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--chip-size", type=int, default=32)
    p.add_argument("--per-class", type=int, default=10, help="labelled chips per class/image")
    p.add_argument("--k-shot", type=int, default=3)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--episodes", type=int, default=16, help="episodes per epoch")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    try:
        base = build_encoder("default", device="cpu")
        base_name = "default (committed weights)"
    except FileNotFoundError:
        base = build_encoder("default", device="cpu", weights=None)
        base_name = "default ARCHITECTURE, RANDOM weights (committed weights missing)"
    train_items = [
        labelled(
            args.case,
            args.seed + i,
            size=args.size,
            chip_size=args.chip_size,
            per_class=args.per_class,
        )
        for i in range(args.train)
    ]
    test_items = [
        labelled(
            args.case,
            1000 + args.seed + i,
            size=args.size,
            chip_size=args.chip_size,
            per_class=args.per_class,
        )
        for i in range(args.test)
    ]
    sets = [(s.image, g, sup) for s, g, _, sup in train_items]
    train_sets, val_sets = split_support_sets(sets, holdout_fraction=0.25, seed=args.seed)
    cfg = FinetuneConfig(
        epochs=args.epochs,
        episodes_per_epoch=args.episodes,
        lr=args.lr,
        k_shot=args.k_shot,
        seed=args.seed,
        threads=args.threads,
    )
    result = finetune(base, train_sets, val_sets, cfg)
    # independent test episodes: other seeds of the same case, never seen in training
    test_sets = [(s.image, g, sup) for s, g, _, sup in test_items]
    test_eps = make_episodes(
        build_pools(test_sets),
        np.random.default_rng(99),
        n=32,
        k_shot=args.k_shot,
        n_query=12,
        augment=False,
    )
    rows = {}
    for name, enc in (("base", base), ("fine-tuned", result.encoder)):
        ep = evaluate_encoder(enc, test_eps)
        rows[name] = {
            "episode_acc": ep["acc"],
            **seg_scores(enc, test_items, k_shot=args.k_shot, chip_size=args.chip_size),
        }
    print(f"case={args.case} base={base_name}")
    print(
        f"train images={args.train} (chips train/val: "
        f"{sum(len(v) for s in train_sets for v in s[2].values())}/"
        f"{sum(len(v) for s in val_sets for v in s[2].values())}), test images={args.test}, "
        f"chip={args.chip_size}px, k={args.k_shot}, epochs={args.epochs}x{args.episodes}"
    )
    print(f"{'encoder':<12} {'episode acc':>12} {'chip acc':>10} {'mIoU':>8}")
    for name, r in rows.items():
        print(f"{name:<12} {r['episode_acc']:>12.3f} {r['chip_acc']:>10.3f} {r['miou']:>8.3f}")
    print(
        "validation history:",
        json.dumps(
            [{"epoch": h["epoch"], "val_acc": round(h["holdout_acc"], 3)} for h in result.history]
        ),
    )
    print(
        f"best epoch {result.best['epoch']}; fine-tune {result.seconds:.1f}s; "
        f"total {time.perf_counter() - t0:.1f}s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
