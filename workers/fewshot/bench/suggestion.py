"""Chip-size suggestion benchmark: does ``guidance.suggest_chip_size`` pick a size near the best?

    python -m workers.fewshot.bench.suggestion [--set seen] [--images 2] [--draws 2] [--k 3]
        [--sizes 16,24,32,48,64] [--rule name:key=value,...] [--cache PATH] [--json PATH]

For each case image the pixel map (``bench.pixels.run_image``: default encoder, default
``PixelConfig``, no peer, the same seeded support draws as ``bench.pixels``) is scored by its
pixel mIoU against the pixel truth, which is comparable across chip sizes (chip mIoU is not: the
chip truth changes with the grid). It is measured at each candidate size and at the size that
``suggest_chip_size`` proposes for that image (off-grid suggestions are measured too). Per case:
the suggested sizes, the best candidate size (of the mean curve over the case's images), the
mean pixel mIoU at the suggestion and at the best size, and the loss = best - at suggestion
(negative when an off-grid suggestion beats every candidate); means per group. ``--rule``
compares keyword variants of ``suggest_chip_size`` on the same measurements; ``--cache`` keeps
the measurements (keyed by set, case, seed, size, k and draws) so reruns only score new sizes.
Settings are chosen on the seen set and the selection set; ``unseen`` / ``real`` report.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import torch

from workers.fewshot.bench.pixels import run_image
from workers.fewshot.bench.suites import SETS
from workers.fewshot.encoders import build_encoder
from workers.fewshot.guidance import suggest_chip_size
from workers.fewshot.pixels import PixelConfig

__all__ = ["Scorer", "main", "rule_table"]

SIZES = (16, 24, 32, 48, 64)


@dataclass
class Scorer:
    """Mean pixel mIoU of the pixel map over the support draws of one image at one chip size,
    memoised in ``cache`` (JSON-ready: key -> per-draw mIoUs, NaN-free; [] = not scorable)."""

    set_name: str
    k: int = 3
    draws: int = 2
    images: int = 2
    size: int = 512
    cache: dict[str, list[float]] = field(default_factory=dict)
    _encoder: object = None
    _images: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    def seeds(self) -> list[int]:
        """Image seeds per case (seen: from 100, others: from 0; one image for fixed sets)."""
        first = 100 if self.set_name == "seen" else 0
        return [first + i for i in range(1 if SETS[self.set_name].fixed else self.images)]

    def image(self, case: str, seed: int) -> np.ndarray:
        """The raw (H, W) case image the suggestion sees (generated once: every rule reads it)."""
        if (case, seed) not in self._images:
            sample = SETS[self.set_name].load(case, seed, (self.size, self.size), 32)
            self._images[case, seed] = sample.image
        return self._images[case, seed]

    def score(self, case: str, seed: int, chip: int) -> float:
        """Mean pixel mIoU at ``chip`` px over this image's draws (NaN: < 2 classes on the grid).

        Draw numbers follow ``bench.pixels``: image i of n gets draws i, i + n, ...
        """
        key = f"{self.set_name}|{case}|{seed}|{chip}|k{self.k}|d{self.draws}|n{self.images}"
        if key not in self.cache:
            self.cache[key] = self._measure(case, seed, chip)
        vals = self.cache[key]
        return float(np.mean(vals)) if vals else float("nan")

    def _measure(self, case: str, seed: int, chip: int) -> list[float]:
        if self._encoder is None:
            self._encoder = build_encoder("default", device="cpu")
        sample = SETS[self.set_name].load(case, seed, (self.size, self.size), chip)
        if sample.present.size < 2:
            return []
        i = self.seeds().index(seed)
        n = len(self.seeds())
        rows = run_image(
            sample,
            encoder=self._encoder,
            configs={"default": PixelConfig()},
            draws=list(range(i, self.draws * n, n)),
            k=self.k,
            case=case,
            peer=False,
        )
        return [float(r["pixel:default"]) for r in rows]


def rule_table(scorer: Scorer, rule: dict, sizes=SIZES, log=print) -> dict:
    """Per case and group: suggestion vs best candidate size for ``suggest_chip_size(**rule)``.

    Returns {"cases": {case: {...}}, "groups": {group: mean loss}}.
    """
    groups = SETS[scorer.set_name].cases()
    cases: dict[str, dict] = {}
    for case, group in groups.items():
        seeds = scorer.seeds()
        curve = {s: np.nanmean([scorer.score(case, d, s) for d in seeds]) for s in sizes}
        if not all(np.isfinite(v) for v in curve.values()):
            continue
        best = max(sizes, key=lambda s: curve[s])
        picks = [suggest_chip_size(scorer.image(case, d), **rule) for d in seeds]
        at = float(
            np.nanmean(
                [scorer.score(case, d, p.chip_size) for d, p in zip(seeds, picks, strict=True)]
            )
        )
        cases[case] = {
            "group": group,
            "suggested": [p.chip_size for p in picks],
            "methods": [p.method for p in picks],
            "best": best,
            "at_suggested": at,
            "at_best": float(curve[best]),
            "loss": float(curve[best] - at),
            "curve": {str(s): float(v) for s, v in curve.items()},
        }
        c = cases[case]
        log(
            f"  {group:9s} {case:28s} sugg {'/'.join(map(str, c['suggested'])):>7s}"
            f" ({'/'.join(m[0] for m in c['methods'])}) best {best:3d}"
            f"  at sugg {at:.3f} at best {c['at_best']:.3f} loss {c['loss']:+.3f}  | "
            + " ".join(f"{s}:{v:.3f}" for s, v in curve.items()),
            flush=True,
        )
    by: dict[str, list[float]] = defaultdict(list)
    for c in cases.values():
        by[c["group"]].append(c["loss"])
        by["all"].append(c["loss"])
    means = {g: float(np.mean(v)) for g, v in by.items()}
    log("  mean loss: " + ", ".join(f"{g} {v:+.3f} (n={len(by[g])})" for g, v in means.items()))
    return {"cases": cases, "groups": means}


def _parse_rule(spec: str) -> tuple[str, dict]:
    """'name:key=value,...' -> (name, suggest_chip_size keywords); numbers as int or float."""
    name, _, body = spec.partition(":")
    kw = {}
    for item in filter(None, body.split(",")):
        key, value = item.split("=")
        kw[key] = int(value) if value.lstrip("-").isdigit() else float(value)
    return name, kw


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for the current rule (and any ``--rule`` variants); print the tables."""
    p = argparse.ArgumentParser(prog="python -m workers.fewshot.bench.suggestion")
    p.add_argument("--set", default="seen", choices=list(SETS))
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--draws", type=int, default=2, help="support draws per image")
    p.add_argument("--images", type=int, default=2, help="images per case")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="candidate chip sizes")
    p.add_argument("--rule", action="append", default=[], help="name:key=value,... a variant")
    p.add_argument("--cache", metavar="PATH", help="measurements kept between runs")
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    cache = {}
    if a.cache and os.path.exists(a.cache):
        with open(a.cache) as fh:
            cache = json.load(fh)
    scorer = Scorer(a.set, a.k, a.draws, a.images, a.size, cache)
    sizes = tuple(int(s) for s in a.sizes.split(","))
    print(
        f"suggestion vs best chip size ({a.set}, k = {a.k}, {len(scorer.seeds())} image(s) x"
        f" {a.draws} draw(s) per case, {a.size} px, candidates {sizes}; pixel mIoU)"
    )
    out = {}
    try:
        for name, rule in [("current", {})] + [_parse_rule(r) for r in a.rule]:
            print(f"rule {name} {rule}")
            out[name] = rule_table(scorer, rule, sizes)
    finally:
        if a.cache:
            with open(a.cache, "w") as fh:
                json.dump(scorer.cache, fh)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"set": a.set, "sizes": sizes, "rules": out}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
