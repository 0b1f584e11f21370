"""Accuracy benchmark: every case x k support chips per class x seeded draws x method."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workers.fewshot import sim
from workers.fewshot.bench.ceiling import SHIFTS_PX, displaced_majority, reference_name
from workers.fewshot.bench.methods import Method
from workers.fewshot.bench.metrics import accuracy, confusion, mean_iou
from workers.fewshot.bench.sampling import sample_support, support_mask
from workers.fewshot.chipping import ChipGrid, chip_truth

__all__ = ["AccuracyConfig", "Trial", "all_cases", "run_case"]


@dataclass(frozen=True)
class AccuracyConfig:
    """What the accuracy benchmark runs.

    size: image (H, W); chip_size: px; ks: support chips per class; draws: support sets per k;
    images: distinct images (seeds) per case, draws cycle over them; seed: base seed;
    ceilings: boundary precisions (px) of the boundary-limited references (bench.ceiling).
    """

    cases: tuple[str, ...] = ()
    size: tuple[int, int] = (512, 512)
    chip_size: int = 32
    ks: tuple[int, ...] = (1, 3, 5)
    draws: int = 10
    images: int = 2
    seed: int = 0
    ceilings: tuple[int, ...] = SHIFTS_PX


@dataclass
class Trial:
    """One (case, k, draw, method) measurement: chip accuracy, mIoU and seconds per prediction."""

    case: str
    group: str
    k: int
    draw: int
    method: str
    accuracy: float
    miou: float
    seconds: float
    n_query: int
    n_classes: int
    extra: dict = field(default_factory=dict)


def all_cases() -> dict[str, str]:
    """{case name: group} for the simulator and texture cases, in registry order."""
    return {n: s.group for n, s in (sim.CASES | sim.TEXTURE_CASES).items()}


def run_case(
    case: str, cfg: AccuracyConfig, methods: list[Method], log: Callable[[str], None] = print
) -> list[Trial]:
    """Benchmark all methods on one case; support sets are shared by the methods (paired)."""
    trials: list[Trial] = []
    group = all_cases()[case]
    for image_index in range(min(cfg.images, cfg.draws)):
        s = sim.generate(case, seed=cfg.seed + image_index, size=cfg.size)
        grid = ChipGrid.for_shape(s.image.shape, cfg.chip_size)
        present, dense = np.unique(chip_truth(s.truth, grid), return_inverse=True)
        chip_labels = dense.reshape(grid.rows, grid.cols)
        if present.size < 2:
            log(f"  {case}: image {image_index} has < 2 classes at chip level, skipped")
            continue
        prep = {m.name: m.prepare(s.image, grid) for m in methods}
        refs = {}
        for shift in cfg.ceilings:
            rng = np.random.default_rng([cfg.seed + image_index, zlib.crc32(case.encode()), shift])
            raw = displaced_majority(s.truth, grid, shift, rng)
            # a class that is the majority of no chip counts as wrong
            idx = np.searchsorted(present, raw).clip(0, present.size - 1)
            known = present[idx] == raw
            refs[reference_name(shift)] = np.where(known, idx, (chip_labels + 1) % present.size)
        for k in cfg.ks:
            for draw in range(image_index, cfg.draws, cfg.images):
                rng = np.random.default_rng([cfg.seed, zlib.crc32(case.encode()), k, draw])
                support = sample_support(chip_labels, k, rng)
                query = ~support_mask(support, chip_labels.shape)

                preds: dict[str, tuple[np.ndarray, float]] = {}
                for m in methods:
                    t0 = time.perf_counter()
                    pred, _ = m.predict(support)
                    preds[m.name] = (pred, prep[m.name] + time.perf_counter() - t0)
                preds |= {name: (pred, 0.0) for name, pred in refs.items()}  # not timed
                for name, (pred, seconds) in preds.items():
                    cm = confusion(chip_labels[query], np.asarray(pred)[query], present.size)
                    trials.append(
                        Trial(
                            case,
                            group,
                            k,
                            draw,
                            name,
                            accuracy(cm),
                            mean_iou(cm),
                            seconds,
                            int(query.sum()),
                            int(present.size),
                            {"image_seed": cfg.seed + image_index},
                        )
                    )
    return trials
