"""Accuracy benchmark: every case x k support chips per class x seeded draws x method.

Cases come from the sets in ``bench.suites`` (seen / selection / unseen / real); the loop is the
same for all: chips whose truth is -1 (real data: mixed chips) are neither drawn as support nor
scored.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from workers.fewshot.bench.ceiling import SHIFTS_PX, displaced_majority, reference_name
from workers.fewshot.bench.methods import Method
from workers.fewshot.bench.metrics import accuracy, confusion, mean_iou
from workers.fewshot.bench.sampling import sample_support, support_mask
from workers.fewshot.bench.suites import SETS, Sample, set_of

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
    suite: str = "seen"


def all_cases(sets: tuple[str, ...] = ("seen",)) -> dict[str, str]:
    """{case name: group} of the named sets (default: the seen set), in registry order."""
    return {c: g for name in sets for c, g in SETS[name].cases().items()}


def _object_figures(sample: Sample, pred: np.ndarray) -> dict:
    """Pixel mIoU (chip labels painted on their pixels vs the pixel mask) and object count
    (8-connected groups of chips of the counted class), where the sample has that truth."""
    out: dict = {}
    if sample.mask is not None:
        g = sample.grid
        painted = np.full(sample.mask.shape, -1)
        (y0, x0), (y1, x1) = g.chip_box(0, 0)[:2], g.chip_box(g.rows - 1, g.cols - 1)[2:]
        painted[y0:y1, x0:x1] = np.kron(pred, np.ones((g.chip_size, g.chip_size), int))
        scored = (sample.mask >= 0) & (painted >= 0)
        cm = confusion(sample.mask[scored], painted[scored], sample.present.size)
        out["pixel_miou"] = mean_iou(cm)
    if sample.count_class is not None:
        hits = np.asarray(pred) == sample.count_class
        out["objects"] = int(ndimage.label(hits, structure=np.ones((3, 3)))[1])
        out["objects_truth"] = sample.n_objects
        out["objects_truth_chips"] = sample.n_objects_chips
    return out


def run_case(
    case: str, cfg: AccuracyConfig, methods: list[Method], log: Callable[[str], None] = print
) -> list[Trial]:
    """Benchmark all methods on one case of any set; support sets are shared by the methods
    (paired)."""
    trials: list[Trial] = []
    suite = set_of(case)
    group = suite.cases()[case]
    n_images = 1 if suite.fixed else min(cfg.images, cfg.draws)
    for image_index in range(n_images):
        sample = suite.load(case, cfg.seed + image_index, cfg.size, cfg.chip_size)
        chip_labels, present, grid = sample.labels, sample.present, sample.grid
        if present.size < 2:
            log(f"  {case}: image {image_index} has < 2 classes at chip level, skipped")
            continue
        prep = {
            m.name: m.prepare(sample.image, grid, object_classes=sample.object_classes)
            for m in methods
        }
        refs = {}
        for shift in cfg.ceilings if sample.truth is not None else ():
            rng = np.random.default_rng([cfg.seed + image_index, zlib.crc32(case.encode()), shift])
            raw = displaced_majority(sample.truth, grid, shift, rng)
            # a class that is the majority of no chip counts as wrong
            idx = np.searchsorted(present, raw).clip(0, present.size - 1)
            known = present[idx] == raw
            refs[reference_name(shift)] = np.where(known, idx, (chip_labels + 1) % present.size)
        for k in cfg.ks:
            for draw in range(image_index, cfg.draws, n_images):
                rng = np.random.default_rng([cfg.seed, zlib.crc32(case.encode()), k, draw])
                support = sample_support(chip_labels, k, rng)
                query = (chip_labels >= 0) & ~support_mask(support, chip_labels.shape)

                preds: dict[str, tuple[np.ndarray, float]] = {}
                for m in methods:
                    t0 = time.perf_counter()
                    pred, _ = m.predict(support)
                    preds[m.name] = (pred, prep[m.name] + time.perf_counter() - t0)
                preds |= {name: (pred, 0.0) for name, pred in refs.items()}  # not timed
                for name, (pred, seconds) in preds.items():
                    cm = confusion(chip_labels[query], np.asarray(pred)[query], present.size)
                    extra = {"image_seed": cfg.seed + image_index}
                    if name in prep:
                        extra |= _object_figures(sample, np.asarray(pred))
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
                            extra,
                            suite.name,
                        )
                    )
    return trials
