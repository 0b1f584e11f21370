"""Leave one family out of the default encoder's training and measure what its group loses.

How much the encoder's accuracy on a group of micrographs owes to having been trained on
scenes of that group:

    python -m workers.fewshot.bench.lofo --dir DIR --train   # train 4 encoders, then evaluate
    python -m workers.fewshot.bench.lofo --dir DIR           # evaluate the encoders in DIR

The default encoder is trained as the committed one is (``workers.fewshot.train --seed 0``) on
everything (``DIR/all``) and once without each group G (``DIR/without-G``, ``train --leave-out
G``): without the simulator's lattice families, without its particle family, or without the
procedural texture mosaics. Each pair then runs the whole segmentation core, as a job does, on
G's cases of the selection ("seen" and "selection") and report ("unseen", "real") sets,
with the same support draws (paired). Both members of a pair are trained on the machine
that evaluates them: the recipe no longer reproduces the committed weights bit for bit (the
encoder's spectral code changed after they were trained, and CPUs differ), so they are not the
reference.

What it says: the drop from ``all`` to ``without-G`` is what G's training scenes give on G's
cases. A small drop on the unseen cases means that the encoder's accuracy there does not rest
on having been trained on that kind of micrograph; a large one, that a lab's data unlike every
training family would score nearer the ``without-G`` figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workers.fewshot.bench.methods import EncoderMethod, engine_encoder, weights_fingerprint
from workers.fewshot.bench.run import AccuracyConfig, Trial, all_cases, run_case
from workers.fewshot.train import LEAVE_OUT

#: the groups that can be left out of training, as ``train --leave-out`` names them
GROUPS = LEAVE_OUT[1:]
#: the sets whose cases are evaluated
SETS = ("seen", "selection", "unseen", "real")
#: the reference: trained on everything
ALL = "all"


def without(group: str) -> str:
    """The name (and ``--dir`` sub-folder) of the encoder trained without ``group``."""
    return f"without-{group}"


def trained(path: Path) -> bool:
    """Whether ``path`` holds a finished training run (a checkpoint's config says partial)."""
    config = path / "config.json"
    if not config.is_file():
        return False
    return not json.loads(config.read_text()).get("metadata", {}).get("partial", False)


def train_missing(
    root: Path,
    groups: tuple[str, ...],
    *,
    seed: int,
    steps: int,
    jobs: int,
    out: Callable[[str], None] = print,
) -> None:
    """Train the encoders of ``groups`` (and the reference) that ``root`` does not hold yet,
    ``jobs`` at a time (one thread each), each logging to ``root/<name>.log``."""
    runs = [(ALL, "")] + [(without(g), g) for g in groups]
    todo = [(name, g) for name, g in runs if not trained(root / name)]
    running: list[tuple[str, subprocess.Popen]] = []
    root.mkdir(parents=True, exist_ok=True)
    try:
        while todo or running:
            while todo and len(running) < jobs:
                name, group = todo.pop(0)
                cmd = [sys.executable, "-m", "workers.fewshot.train", "--out", str(root / name)]
                cmd += ["--seed", str(seed), "--steps", str(steps)]
                cmd += ["--leave-out", group] if group else []
                out(f"training {name}: {' '.join(cmd[1:])}")
                with open(root / f"{name}.log", "w") as log:
                    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
                running.append((name, proc))
            time.sleep(1.0)
            for name, proc in list(running):
                if proc.poll() is None:
                    continue
                running.remove((name, proc))
                if proc.returncode:
                    raise RuntimeError(f"training {name} failed: see {root / name}.log")
                out(f"trained {name}")
    finally:  # a failed or interrupted run stops the others
        for _, proc in running:
            proc.kill()


def evaluate(
    root: Path, groups: tuple[str, ...], cfg: AccuracyConfig, out: Callable[[str], None] = print
) -> list[Trial]:
    """Every (case, k, draw) of each group's cases in ``SETS`` with the reference encoder and
    the one trained without the group (``cfg.cases`` is ignored)."""
    trials: list[Trial] = []
    reference = _method(root, ALL, cfg.seed)
    for group in groups:
        cases = [c for c, g in all_cases(SETS).items() if g == group]
        methods = [reference, _method(root, without(group), cfg.seed)]
        for case in cases:
            t0 = time.perf_counter()
            trials += run_case(case, cfg, methods, log=lambda _: None)
            out(f"  {group:9s} {case:34s} done in {time.perf_counter() - t0:5.1f}s")
    return trials


def _method(root: Path, name: str, seed: int) -> EncoderMethod:
    path = root / name
    if not trained(path):
        raise FileNotFoundError(f"no trained encoder in {path}: run with --train")
    return EncoderMethod(name, engine_encoder("default", weights=str(path)), seed=seed)


def group_means(trials: list[Trial]) -> dict[tuple[str, str, int, str], float]:
    """Mean chip mIoU per (group, set, k, method): over draws per case, then over the cases
    (as the main benchmark's group figures)."""
    per_case: dict[tuple, list[float]] = defaultdict(list)
    for t in trials:
        per_case[(t.group, t.suite, t.k, t.method, t.case)].append(t.miou)
    per_group: dict[tuple, list[float]] = defaultdict(list)
    for (group, suite, k, method, _), values in per_case.items():
        per_group[(group, suite, k, method)].append(float(np.mean(values)))
    return {key: float(np.mean(v)) for key, v in per_group.items()}


def drop_errors(trials: list[Trial]) -> dict[tuple[str, str, int], float]:
    """The standard error of each (group, set, k) drop over the support draws: the two
    encoders' trials pair up on (case, draw), so each case's differences give its variance
    (a case with one draw adds none), and the group's drop is the mean of its cases'."""
    scores: dict[tuple, dict[str, float]] = defaultdict(dict)
    for t in trials:
        scores[(t.group, t.suite, t.k, t.case, t.draw)][t.method] = t.miou
    per_case: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (group, suite, k, case, _), by in scores.items():
        if ALL in by and without(group) in by:
            per_case[(group, suite, k)][case].append(by[without(group)] - by[ALL])
    return {
        key: float(
            np.sqrt(sum(np.var(d, ddof=1) / len(d) for d in cases.values() if len(d) > 1))
            / len(cases)
        )
        for key, cases in per_case.items()
    }


def format_table(
    means: dict[tuple[str, str, int, str], float], errors: dict[tuple[str, str, int], float]
) -> str:
    """One line per (group, set, k): the reference, the encoder without the group, the drop
    and its standard error over the support draws (not over training seeds)."""
    head = f"{'group':10s} {'set':9s} {'k':>2s} {'all':>7s} {'without':>8s} {'drop':>7s} {'se':>6s}"
    lines = [head]
    keys = sorted({(g, s, k) for g, s, k, _ in means}, key=lambda x: (x[0], SETS.index(x[1]), x[2]))
    for group, suite, k in keys:
        ref = means.get((group, suite, k, ALL))
        left = means.get((group, suite, k, without(group)))
        if ref is None or left is None:
            continue
        se = errors.get((group, suite, k), float("nan"))
        lines.append(
            f"{group:10s} {suite:9s} {k:2d} {ref:7.3f} {left:8.3f} {left - ref:+7.3f} {se:6.3f}"
        )
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workers.fewshot.bench.lofo",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--dir", required=True, type=Path, help="the trained encoders' folder")
    p.add_argument("--train", action="store_true", help="train the encoders missing in --dir")
    p.add_argument("--groups", default=",".join(GROUPS), help="comma list of groups to leave out")
    p.add_argument("--steps", type=int, default=4000, help="training steps (the committed: 4000)")
    p.add_argument("--seed", type=int, default=0, help="training seed, image and support seed")
    p.add_argument("--jobs", type=int, default=2, help="trainings at a time (1..8)")
    p.add_argument("--ks", default="3", help="support chips per class, comma list")
    p.add_argument("--draws", type=int, default=10, help="support draws per (case, k), 1..50")
    p.add_argument("--size", type=int, default=512, help="image side, 128..2048 px")
    p.add_argument("--json", metavar="PATH", help="write the trials and means to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    """Train what is missing (with --train), evaluate, print the table."""
    a = _parser().parse_args(argv)
    groups = tuple(g for g in a.groups.split(",") if g)
    unknown = set(groups) - set(GROUPS)
    if unknown or not groups:
        raise SystemExit(f"--groups: a comma list of {', '.join(GROUPS)}")
    try:
        ks = tuple(int(k) for k in a.ks.split(","))
    except ValueError:
        ks = ()
    if not ks or not all(1 <= k <= 20 for k in ks):
        raise SystemExit("--ks: a comma list of support chips per class, 1..20")
    if not (1 <= a.jobs <= 8 and 1 <= a.draws <= 50 and 128 <= a.size <= 2048):
        raise SystemExit("--jobs 1..8, --draws 1..50, --size 128..2048")
    if not 1 <= a.steps <= 100_000:
        raise SystemExit("--steps 1..100000")
    if a.train:
        train_missing(a.dir, groups, seed=a.seed, steps=a.steps, jobs=a.jobs)
    cfg = AccuracyConfig(
        size=(a.size, a.size),
        ks=ks,
        draws=a.draws,
        images=min(2, a.draws),
        seed=a.seed,
        ceilings=(),  # the boundary-limited references: the main benchmark prints them
    )
    for name in (ALL, *(without(g) for g in groups)):
        if trained(a.dir / name):
            enc = engine_encoder("default", weights=str(a.dir / name))
            print(f"encoder {name}: weights {weights_fingerprint(enc)}")
    trials = evaluate(a.dir, groups, cfg)
    means = group_means(trials)
    print(format_table(means, drop_errors(trials)))
    if a.json:
        rows = [
            {"group": g, "set": s, "k": k, "method": m, "miou": v}
            for (g, s, k, m), v in means.items()
        ]
        with open(a.json, "w") as fh:
            json.dump({"means": rows, "trials": [t.__dict__ for t in trials]}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
