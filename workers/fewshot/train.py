"""Episodic prototypical-network training of the default encoder on simulator scenes.

Reproduce the committed weights (the exact command is also stored in their config.json):

    python -m workers.fewshot.train --out workers/fewshot/weights/default --seed 0

Episodes come from workers.fewshot.episodes (simulator scenes via sim.random_scene, plus
procedural texture mosaics and rotated-half scenes). The loss is the cross-entropy of the query
chips under softmax(-scale * squared distance to the class prototypes), scale learned.
"""

from __future__ import annotations

import argparse
import copy
import functools
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

from workers.fewshot.encoders.default import ChipNet, ChipNetConfig, DefaultEncoder
from workers.fewshot.encoders.io import save_encoder
from workers.fewshot.episodes import Episode, ScenePool

__all__ = ["LEAVE_OUT", "TrainConfig", "evaluate", "loss", "main", "train", "validation_set"]


#: what ``TrainConfig.leave_out`` may name ("" trains on everything)
LEAVE_OUT = ("", "lattices", "particles", "textures")


@dataclass(frozen=True)
class TrainConfig:
    """Episodic training options (all randomness derives from ``seed``)."""

    seed: int = 0
    steps: int = 4000
    episodes_per_step: int = 3
    chip_sizes: tuple[int, ...] = (16, 24, 32, 48, 64)
    chips_per_side: int = 10  # episode crop ~ chips_per_side * chip size, clamped to crop_size
    crop_size: tuple[int, int] = (160, 384)
    pool_scenes: int = 100  # simulator scenes kept in memory; one is replaced per step
    pool_scene_size: int = 384
    texture_fraction: float = 0.2  # pool scenes that are procedural texture mosaics
    rotate_fraction: float = 0.4  # episodes whose scene gets a rotated half (orientation classes)
    scale_fraction: float = 0.0  # of the others: a magnified half (lattice-spacing classes)
    k_shot: tuple[int, int] = (1, 5)
    n_query: int = 10  # per class
    support_purity: float = 0.6
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_episodes: int = 30
    val_every: int = 400
    threads: int = 1
    arch: ChipNetConfig = field(default_factory=lambda: ChipNetConfig(context=True))
    #: a benchmark group kept out of training (``bench.lofo``): "lattices" or "particles" (the
    #: simulator families of that group), "textures" (the procedural mosaics); "" none
    leave_out: str = ""
    #: recipe options (defaults: the committed recipe). invert_fraction: pool scenes shown with
    #: inverted contrast (bright field); particle_share: the chance a simulator scene is of the
    #: particle family (None: as likely as each other family); broad_particles: that family
    #: over a broader range of sizes, crowding and contrast (``sim.randomized._particles_broad``)
    invert_fraction: float = 0.0
    particle_share: float | None = None
    broad_particles: bool = False

    def __post_init__(self) -> None:
        if self.leave_out not in LEAVE_OUT:
            raise ValueError(f"leave_out: one of {LEAVE_OUT}, not {self.leave_out!r}")
        for name in ("invert_fraction", "particle_share"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: a fraction from 0 to 1, not {value}")

    @property
    def textures(self) -> float:
        """The share of pool scenes that are texture mosaics (none when they are left out)."""
        return 0.0 if self.leave_out == "textures" else self.texture_fraction

    def to_json(self) -> dict:
        """JSON-ready dict."""
        return json.loads(json.dumps(asdict(self)))


def loss(net: ChipNet, episodes: Sequence[Episode]) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean prototypical loss over episodes of one chip size (embedded in one batch) + metrics."""
    emb = net(torch.cat([e.chips for e in episodes]))
    scale = net.log_scale.exp()
    total, correct, n_q, start = 0.0, 0, 0, 0
    for e in episodes:
        z = emb[start : start + len(e.labels)]
        start += len(e.labels)
        logits, yq = e.logits(z, scale), e.query_labels
        total = total + F.cross_entropy(logits, yq)
        correct += int((logits.argmax(1) == yq).sum())
        n_q += len(yq)
    value = total / len(episodes)
    return value, {
        "loss": float(value.detach()),
        "acc": correct / max(n_q, 1),
        "scale": float(scale.detach()),
    }


def validation_set(cfg: TrainConfig, source: Callable) -> list[list[Episode]]:
    """Fixed held-out episodes from their own scenes (disjoint seed), one batch per chip size."""
    rng = np.random.default_rng(cfg.seed + 1_000_003)
    pool = ScenePool(cfg, source, rng, n=max(4, cfg.val_episodes // 2))
    per_size = max(1, cfg.val_episodes // len(cfg.chip_sizes))
    return [pool.episodes(rng, chip_size=s, n=per_size) for s in cfg.chip_sizes]


@torch.no_grad()
def evaluate(net: ChipNet, batches: Sequence[Sequence[Episode]]) -> dict[str, float]:
    """Mean validation loss and query accuracy (eval mode: BatchNorm running statistics)."""
    was = net.training
    net.eval()
    losses, accs = [], []
    for eps in batches:
        for e in eps:  # one episode per forward pass, as at inference
            _value, m = loss(net, [e])
            losses.append(m["loss"])
            accs.append(m["acc"])
    net.train(was)
    return {"val_loss": float(np.mean(losses)), "val_acc": float(np.mean(accs))}


def train(
    cfg: TrainConfig,
    *,
    source: Callable | None = None,
    log: Callable[[str], None] = print,
    checkpoint: Callable[[ChipNet, dict], None] | None = None,
) -> tuple[ChipNet, dict]:
    """Train a ChipNet episodically; returns the best-validation network and a history dict.

    ``checkpoint(net, row)`` is called whenever validation accuracy improves.
    """
    if source is None:
        # the default scene source, loaded only when no source is given
        from workers.fewshot import sim

        source = functools.partial(
            sim.random_scene,
            leave_out=cfg.leave_out,
            particles=cfg.particle_share,
            broad=cfg.broad_particles,
        )
    t_start = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = ChipNet(cfg.arch)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1
    )
    val = validation_set(cfg, source)
    pool = ScenePool(cfg, source, rng, n=cfg.pool_scenes)
    log(f"scene pool ready after {time.perf_counter() - t_start:.0f} s")
    best = {"val_acc": -1.0}
    best_state = None
    history: list[dict] = []
    running: list[dict] = []
    for step in range(1, cfg.steps + 1):
        size = int(cfg.chip_sizes[int(rng.integers(len(cfg.chip_sizes)))])
        eps = pool.episodes(rng, chip_size=size, n=cfg.episodes_per_step)
        pool.refresh(rng)
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
            row = {
                "step": step,
                "train_loss": float(np.mean([m["loss"] for m in running])),
                "train_acc": float(np.mean([m["acc"] for m in running])),
                **v,
                "scale": metrics["scale"],
                "minutes": (time.perf_counter() - t_start) / 60,
            }
            running = []
            history.append(row)
            log(json.dumps({k: round(x, 4) if isinstance(x, float) else x for k, x in row.items()}))
            if v["val_acc"] > best["val_acc"]:
                best = row
                best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
                if checkpoint is not None:
                    checkpoint(net, row)
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return net, {
        "history": history,
        "best": best,
        "wall_minutes": (time.perf_counter() - t_start) / 60,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: train and save the default encoder (weights + config json with command and metrics)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--episodes-per-step", type=int, default=TrainConfig.episodes_per_step)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--val-every", type=int, default=TrainConfig.val_every)
    p.add_argument("--threads", type=int, default=TrainConfig.threads)
    p.add_argument("--scale-fraction", type=float, default=TrainConfig.scale_fraction)
    p.add_argument(
        "--leave-out",
        default="",
        choices=LEAVE_OUT[1:],
        help="train without this group's scenes (a leave-one-family-out run: bench.lofo)",
    )
    p.add_argument("--invert-fraction", type=float, default=TrainConfig.invert_fraction)
    p.add_argument("--particle-share", type=float, default=TrainConfig.particle_share)
    p.add_argument("--broad-particles", action="store_true")
    args = p.parse_args(argv)
    cfg = TrainConfig(
        seed=args.seed,
        steps=args.steps,
        episodes_per_step=args.episodes_per_step,
        lr=args.lr,
        val_every=args.val_every,
        threads=args.threads,
        scale_fraction=args.scale_fraction,
        leave_out=args.leave_out,
        invert_fraction=args.invert_fraction,
        particle_share=args.particle_share,
        broad_particles=args.broad_particles,
    )
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = "python -m workers.fewshot.train " + " ".join(shlex.quote(a) for a in argv_list)

    def checkpoint(net: ChipNet, row: dict) -> None:
        meta = {"partial": True, "train_config": cfg.to_json(), "command": command, "best": row}
        enc = DefaultEncoder(device=torch.device("cpu"), net=copy.deepcopy(net))
        save_encoder(enc, args.out, metadata=meta)

    net, report = train(cfg, log=lambda s: print(s, flush=True), checkpoint=checkpoint)
    meta = {
        "train_config": cfg.to_json(),
        "command": command,
        "best": report["best"],
        "history": report["history"],
        "wall_minutes": round(report["wall_minutes"], 2),
        "torch": torch.__version__,
        "data": "workers.fewshot.sim.random_scene"
        + (f" without {cfg.leave_out}" if cfg.leave_out else ""),
    }
    path = save_encoder(
        DefaultEncoder(device=torch.device("cpu"), net=net), args.out, metadata=meta
    )
    print(f"saved {path} best={json.dumps(report['best'])}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
