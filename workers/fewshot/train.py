"""Episodic prototypical-network training of the default encoder on simulator scenes.

Reproduce the committed weights (the exact command is also stored in their config.json):

    python -m workers.fewshot.train --out workers/fewshot/weights/default --seed 0

An episode is one micrograph (a random simulator scene, or a lab's support sets): a chip grid of
a random size and offset is laid over it, K-shot support and query chips are drawn per class,
and the loss is the cross-entropy of the queries under softmax(-scale * squared distance to
the class prototypes). Augmentations act on the whole scene (rot90, flips, gamma/contrast,
noise), so relative orientations between classes, a real class cue, are preserved.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workers.fewshot.chipping import ChipGrid, chip_truth, normalise
from workers.fewshot.encoders.base import extract_chips
from workers.fewshot.encoders.default import ChipNet, ChipNetConfig, DefaultEncoder
from workers.fewshot.encoders.io import save_encoder

__all__ = [
    "TrainConfig",
    "Episode",
    "augment",
    "episode_from_scene",
    "episodes_from_support_sets",
    "loss",
    "train",
    "evaluate",
    "main",
]


@dataclass(frozen=True)
class TrainConfig:
    """Episodic training options (all randomness derives from ``seed``)."""

    seed: int = 0
    steps: int = 2000
    episodes_per_step: int = 4
    chip_sizes: tuple[int, ...] = (16, 24, 32, 48, 64)
    chips_per_side: int = 10  # scene size ~ chips_per_side * chip size, clamped to scene_size range
    scene_size: tuple[int, int] = (192, 512)
    k_shot: tuple[int, int] = (1, 5)
    n_query: int = 12  # per class
    support_purity: float = 0.85
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_episodes: int = 48
    val_every: int = 200
    threads: int = 2
    arch: ChipNetConfig = field(default_factory=ChipNetConfig)

    def to_json(self) -> dict:
        """JSON-ready dict."""
        return json.loads(json.dumps(asdict(self)))


@dataclass
class Episode:
    """Chips (N, 1, s, s) float32, episode labels (N,) int64 in 0..n_way-1, support mask (N,) bool."""

    chips: torch.Tensor
    labels: torch.Tensor
    support: torch.Tensor

    @property
    def n_way(self) -> int:
        """Number of classes."""
        return int(self.labels.max()) + 1


def augment(image: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Whole-scene augmentation of a normalised image (H, W) and its truth: rot90/flip (both), photometric (image)."""
    k = int(rng.integers(4))
    img, tru = np.rot90(image, k=k), np.rot90(truth, k=k)
    if rng.random() < 0.5:
        img, tru = img[:, ::-1], tru[:, ::-1]
    return _photometric(np.ascontiguousarray(img), rng), np.ascontiguousarray(tru)


def _draw(
    labels: np.ndarray, purity: np.ndarray, rng: np.random.Generator, *, k_shot: int, n_query: int,
    support_purity: float,
) -> tuple[list[int], list[int], list[int]] | None:
    """Pick support/query chip indices per class from flat chip labels; None if < 2 usable classes."""
    idx, lab, sup = [], [], []
    way = 0
    for cls in np.unique(labels):
        pure = np.flatnonzero((labels == cls) & (purity >= support_purity))
        if len(pure) < k_shot + 1:
            continue
        s = rng.choice(pure, size=k_shot, replace=False)
        rest = np.setdiff1d(np.flatnonzero(labels == cls), s)
        q = rng.choice(rest, size=min(n_query, len(rest)), replace=False)
        idx += [*s.tolist(), *q.tolist()]
        lab += [way] * (len(s) + len(q))
        sup += [True] * len(s) + [False] * len(q)
        way += 1
    return (idx, lab, sup) if way >= 2 else None


def episode_from_scene(
    image: np.ndarray, truth: np.ndarray, rng: np.random.Generator, *, chip_size: int, k_shot: int,
    n_query: int, support_purity: float = 0.85, do_augment: bool = True,
) -> Episode | None:
    """One episode from a raw scene (H, W) with pixel truth; None when < 2 classes have enough chips."""
    img = normalise(image)
    if do_augment:
        img, truth = augment(img, truth, rng)
    offset = (int(rng.integers(chip_size)), int(rng.integers(chip_size)))
    try:
        grid = ChipGrid.for_shape(img.shape, chip_size, offset)
    except ValueError:
        return None
    labels, purity = chip_truth(truth, grid, return_purity=True)
    pick = _draw(labels.ravel(), purity.ravel(), rng, k_shot=k_shot, n_query=n_query, support_purity=support_purity)
    if pick is None:
        return None
    idx, lab, sup = pick
    chips, _ = extract_chips(torch.from_numpy(img), chip_size=chip_size, offset=offset)
    return Episode(chips[torch.tensor(idx)].clone(), torch.tensor(lab), torch.tensor(sup))


def _photometric(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma, contrast/offset and additive-noise jitter of a normalised image."""
    x = np.clip(x, 0, 1) ** float(np.exp(rng.normal(0, 0.25)))
    x = (x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.1, 0.1)
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0, 0.06), size=x.shape)
    return x.astype(np.float32)


SupportSet = tuple[np.ndarray, ChipGrid, dict[int, list[tuple[int, int]]]]


def episodes_from_support_sets(
    sets: Sequence[SupportSet], rng: np.random.Generator, *, k_shot: int = 3, n_query: int = 12,
    n_episodes: int = 1, do_augment: bool = True,
) -> list[Episode]:
    """Episodes from labelled support sets [(image, grid, {class: [(row, col), ...]}), ...].

    Sets are grouped by chip size (an episode needs one size); an episode picks a group, pools
    each class's chips over its images, and splits them into up to ``k_shot`` support (leaving
    at least one query) and up to ``n_query`` query chips. Classes with < 2 chips are skipped.
    Augmentation flips/rotates each image (all chips of that image alike) and jitters intensity.
    """
    groups: dict[int, list[SupportSet]] = {}
    for s in sets:
        groups.setdefault(s[1].chip_size, []).append(s)
    sizes = sorted(groups)
    out: list[Episode] = []
    for _ in range(n_episodes):
        size = sizes[int(rng.integers(len(sizes)))]
        per_class: dict[int, list[torch.Tensor]] = {}
        for image, grid, support in groups[size]:
            img = normalise(image)
            chips, _ = extract_chips(torch.from_numpy(img), chip_size=grid.chip_size, offset=grid.offset)
            if do_augment:
                chips = _augment_chips(chips, rng)
            for cls, rc in support.items():
                if rc:
                    rows = torch.tensor([grid.index(r, c) for r, c in rc])
                    per_class.setdefault(int(cls), []).append(chips[rows])
        pool = {k: torch.cat(v) for k, v in per_class.items() if sum(len(t) for t in v) >= 2}
        if len(pool) < 2:
            raise ValueError("support sets need at least two classes with >= 2 chips each")
        chips, labels, sup = [], [], []
        for way, cls in enumerate(sorted(pool)):
            c = pool[cls][torch.from_numpy(rng.permutation(len(pool[cls])))]
            k = min(k_shot, len(c) - 1)
            q = min(n_query, len(c) - k)
            chips.append(c[: k + q])
            labels += [way] * (k + q)
            sup += [True] * k + [False] * q
        out.append(Episode(torch.cat(chips), torch.tensor(labels), torch.tensor(sup)))
    return out


def _augment_chips(chips: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Same rot90/flip for all chips of one image, then photometric jitter: (N, 1, s, s)."""
    x = torch.rot90(chips, k=int(rng.integers(4)), dims=(-2, -1))
    if rng.random() < 0.5:
        x = x.flip(-1)
    x = x.clamp(0, 1) ** float(np.exp(rng.normal(0, 0.25)))
    return (x - 0.5) * float(rng.uniform(0.7, 1.3)) + 0.5 + float(rng.uniform(-0.1, 0.1))


def loss(net: ChipNet, episodes: Sequence[Episode]) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean prototypical loss over episodes of one chip size (embedded in one batch) + metrics."""
    emb = net(torch.cat([e.chips for e in episodes]))
    scale = net.log_scale.exp()
    total, correct, n_q, start = 0.0, 0, 0, 0
    for e in episodes:
        z = emb[start : start + len(e.labels)]
        start += len(e.labels)
        zs, ys = z[e.support], e.labels[e.support]
        zq, yq = z[~e.support], e.labels[~e.support]
        protos = torch.stack([zs[ys == k].mean(0) for k in range(e.n_way)])
        d = (zq[:, None, :] - protos[None]).square().sum(-1)
        logits = -scale * d
        total = total + F.cross_entropy(logits, yq)
        correct += int((logits.argmax(1) == yq).sum())
        n_q += len(yq)
    value = total / len(episodes)
    return value, {"loss": float(value.detach()), "acc": correct / max(n_q, 1), "scale": float(scale.detach())}


def _scene_episodes(
    cfg: TrainConfig, rng: np.random.Generator, source: Callable, *, chip_size: int, n: int
) -> list[Episode]:
    """``n`` episodes of one chip size from fresh scenes."""
    side = int(np.clip(cfg.chips_per_side * chip_size, *cfg.scene_size))
    out: list[Episode] = []
    while len(out) < n:
        scene = source(rng, size=(side, side))
        ep = episode_from_scene(
            scene.image, scene.truth, rng, chip_size=chip_size,
            k_shot=int(rng.integers(cfg.k_shot[0], cfg.k_shot[1] + 1)), n_query=cfg.n_query,
            support_purity=cfg.support_purity,
        )
        if ep is not None:
            out.append(ep)
    return out


def validation_set(cfg: TrainConfig, source: Callable) -> list[list[Episode]]:
    """Fixed held-out episodes (seed disjoint from training), grouped in batches of one chip size."""
    rng = np.random.default_rng(cfg.seed + 1_000_003)
    return [
        _scene_episodes(cfg, rng, source, chip_size=s, n=max(1, cfg.val_episodes // len(cfg.chip_sizes)))
        for s in cfg.chip_sizes
    ]


@torch.no_grad()
def evaluate(net: ChipNet, batches: Sequence[Sequence[Episode]]) -> dict[str, float]:
    """Mean validation loss and query accuracy (eval mode: BatchNorm running statistics)."""
    was = net.training
    net.eval()
    losses, accs = [], []
    for eps in batches:
        for e in eps:  # one episode per forward pass, as at inference
            value, m = loss(net, [e])
            losses.append(m["loss"])
            accs.append(m["acc"])
    net.train(was)
    return {"val_loss": float(np.mean(losses)), "val_acc": float(np.mean(accs))}


def train(cfg: TrainConfig, *, source: Callable | None = None, log: Callable[[str], None] = print) -> tuple[ChipNet, dict]:
    """Train a ChipNet episodically; returns the best-validation network and a history dict."""
    if source is None:
        from workers.fewshot import sim

        source = sim.random_scene
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = ChipNet(cfg.arch)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    val = validation_set(cfg, source)
    best = {"val_acc": -1.0}
    best_state = None
    history: list[dict] = []
    t0 = time.perf_counter()
    running: list[dict] = []
    for step in range(1, cfg.steps + 1):
        size = int(cfg.chip_sizes[int(rng.integers(len(cfg.chip_sizes)))])
        eps = _scene_episodes(cfg, rng, source, chip_size=size, n=cfg.episodes_per_step)
        net.train()
        value, metrics = loss(net, eps)
        opt.zero_grad(set_to_none=True)
        value.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        sched.step()
        running.append(metrics)
        if step % cfg.val_every == 0 or step == cfg.steps:
            v = evaluate(net, val)
            row = {"step": step, "train_loss": float(np.mean([m["loss"] for m in running])),
                   "train_acc": float(np.mean([m["acc"] for m in running])), **v,
                   "scale": metrics["scale"], "minutes": (time.perf_counter() - t0) / 60}
            running = []
            history.append(row)
            log(json.dumps({k: round(x, 4) if isinstance(x, float) else x for k, x in row.items()}))
            if v["val_acc"] > best["val_acc"]:
                best = row
                best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return net, {"history": history, "best": best, "wall_minutes": (time.perf_counter() - t0) / 60}


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: train and save the default encoder (weights + config json with the command and metrics)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--episodes-per-step", type=int, default=TrainConfig.episodes_per_step)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--val-every", type=int, default=TrainConfig.val_every)
    p.add_argument("--threads", type=int, default=TrainConfig.threads)
    args = p.parse_args(argv)
    cfg = TrainConfig(seed=args.seed, steps=args.steps, episodes_per_step=args.episodes_per_step, lr=args.lr,
                      val_every=args.val_every, threads=args.threads)
    net, report = train(cfg, log=lambda s: print(s, flush=True))
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = "python -m workers.fewshot.train " + " ".join(shlex.quote(a) for a in argv_list)
    meta = {"train_config": cfg.to_json(), "command": command, "best": report["best"],
            "history": report["history"], "wall_minutes": round(report["wall_minutes"], 2),
            "torch": torch.__version__, "data": "workers.fewshot.sim.random_scene"}
    path = save_encoder(DefaultEncoder(device=torch.device("cpu"), net=net), args.out, metadata=meta)
    print(f"saved {path} best={json.dumps(report['best'])}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

