"""Benchmark: does fine-tuning on a family's labelled chips beat the default encoder there?

    python -m workers.fewshot.finetune_bench            # 4 cases where the default is weak
    python -m workers.fewshot.finetune_bench --cases subtle_rotation --epochs 15

Per case: fine-tunes the default encoder (FinetuneConfig defaults, model selection on a
held-out quarter of the training images) on support sets picked from the truth of ``--train``
simulated images (``workers.fewshot.sim``), then compares base and fine-tuned encoders on
``--test`` held-out images of the same case (other seeds), over ``--draws`` fresh draws of
k support chips per class: (1) query accuracy of few-shot episodes within one image,
(2) full segmentation (``pipeline.segment``): chip accuracy and mean IoU against the chip
truth. Prints mean ± std over draws and the per-draw difference; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from workers.fewshot import sim
from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.encoders import build_encoder
from workers.fewshot.finetune import (
    AUGMENTS,
    SCOPES,
    TRAINABLE,
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


def seg_scores(encoder, items, *, k_shot: int, chip_size: int, seed: int = 0) -> dict[str, float]:
    """Chip accuracy / mIoU of ``segment`` with ``k_shot`` support chips per class drawn afresh
    (``seed``) from each image's labelled chips; images with < 2 labelled classes are skipped."""
    rng = np.random.default_rng(seed)
    accs, mious = [], []
    for s, _grid, labels, support in items:
        sup = {
            c: [rc[i] for i in rng.permutation(len(rc))[:k_shot]] for c, rc in support.items() if rc
        }
        if len(sup) < 2:
            continue
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


def run_case(case: str, args, base) -> dict:
    """Fine-tune on ``args.train`` images of ``case``; score both encoders on held-out ones."""
    t0 = time.perf_counter()
    mk = {"size": args.size, "chip_size": args.chip_size, "per_class": args.per_class}
    train_items = [labelled(case, args.seed + i, **mk) for i in range(args.train)]
    # held-out images: other seeds of the same case, never seen in training or model selection
    test_items = [labelled(case, 1000 + args.seed + i, **mk) for i in range(args.test)]
    sets = [(s.image, g, sup) for s, g, _, sup in train_items if len(sup) >= 1]
    train_sets, val_sets = split_support_sets(sets, holdout_fraction=0.25, seed=args.seed)
    cfg = FinetuneConfig(
        epochs=args.epochs,
        episodes_per_epoch=args.episodes,
        lr=args.lr,
        k_shot=args.k_shot,
        seed=args.seed,
        threads=args.threads,
        augment=args.augment,
        trainable=args.trainable,
        scope=args.scope,
        select=args.select,
    )
    result = finetune(base, train_sets, val_sets, cfg)
    test_pools = build_pools([(s.image, g, sup) for s, g, _, sup in test_items], base.margin)
    draws: dict[str, list[dict[str, float]]] = {"base": [], "fine-tuned": []}
    for d in range(args.draws):
        # fresh support chips per draw, identical for both encoders; episodes within one image
        eps = make_episodes(
            test_pools,
            np.random.default_rng(99 + d),
            n=args.test_episodes,
            k_shot=args.k_shot,
            n_query=12,
            augment=False,
        )
        for name, enc in (("base", base), ("fine-tuned", result.encoder)):
            draws[name].append(
                {
                    "episode_acc": evaluate_encoder(enc, eps)["acc"],
                    **seg_scores(
                        enc, test_items, k_shot=args.k_shot, chip_size=args.chip_size, seed=d
                    ),
                }
            )
    return {
        "case": case,
        "draws": draws,
        "result": result,
        "chips": (
            sum(len(v) for s in train_sets for v in s[2].values()),
            sum(len(v) for s in val_sets for v in s[2].values()),
        ),
        "seconds": time.perf_counter() - t0,
    }


METRICS = ("episode_acc", "chip_acc", "miou")


def report(r: dict) -> None:
    res = r["result"]
    print(
        f"\n== {r['case']}: chips train/val {r['chips'][0]}/{r['chips'][1]}, best epoch "
        f"{res.best['epoch']} (val acc {res.before['acc']:.3f} -> {res.best['holdout_acc']:.3f}), "
        f"{r['seconds']:.0f}s"
    )
    print(f"{'metric':<12} {'base':>15} {'fine-tuned':>15} {'diff':>15}")
    for m in METRICS:
        b = np.array([x[m] for x in r["draws"]["base"]])
        f = np.array([x[m] for x in r["draws"]["fine-tuned"]])
        d = f - b
        print(
            f"{m:<12} {b.mean():>8.3f} ± {b.std():.3f} {f.mean():>8.3f} ± {f.std():.3f} "
            f"{d.mean():>+8.3f} ± {d.std():.3f}"
        )


DEFAULT_CASES = "subtle_rotation,lattice_spacing,particles_round_rod,particles_low_dose"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated sim.CASES names")
    p.add_argument("--train", type=int, default=4, help="training images (1/4 for validation)")
    p.add_argument("--test", type=int, default=6, help="held-out test images")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--chip-size", type=int, default=32)
    p.add_argument("--per-class", type=int, default=10, help="labelled chips per class/image")
    p.add_argument("--k-shot", type=int, default=3)
    p.add_argument("--draws", type=int, default=4, help="support draws on the test images")
    p.add_argument("--test-episodes", type=int, default=32, help="test episodes per draw")
    p.add_argument("--epochs", type=int, default=FinetuneConfig.epochs)
    p.add_argument("--episodes", type=int, default=FinetuneConfig.episodes_per_epoch)
    p.add_argument("--lr", type=float, default=FinetuneConfig.lr)
    p.add_argument("--augment", default=FinetuneConfig.augment, choices=AUGMENTS)
    p.add_argument("--trainable", default=FinetuneConfig.trainable, choices=TRAINABLE)
    p.add_argument("--scope", default=FinetuneConfig.scope, choices=SCOPES)
    p.add_argument("--select", default=FinetuneConfig.select, choices=("acc", "both"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (CUDA when available)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    try:
        base = build_encoder("default", device=args.device)
        base_name = "default (committed weights)"
    except FileNotFoundError:
        base = build_encoder("default", device=args.device, weights=None)
        base_name = "default ARCHITECTURE, RANDOM weights (committed weights missing)"
    print(
        f"base={base_name}; train images={args.train}, held-out test images={args.test} "
        f"({args.size}px, seeds 1000+), chip={args.chip_size}px, k={args.k_shot}, "
        f"draws={args.draws}; fine-tune epochs={args.epochs}x{args.episodes}, lr={args.lr}, "
        f"augment={args.augment}, trainable={args.trainable}, scope={args.scope}, "
        f"device={base.device}"
    )
    print("figures: mean ± std over draws; diff = fine-tuned - base per draw")
    for case in args.cases.split(","):
        report(run_case(case.strip(), args, base))
    print(f"\ntotal {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
