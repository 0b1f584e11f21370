"""Uncertainty benchmark: calibration of chip confidence, coverage of fraction intervals.

    python -m workers.fewshot.bench.uncertainty                 # seen, unseen and real sets
    python -m workers.fewshot.bench.uncertainty --set seen --draws 2
    python -m workers.fewshot.bench.uncertainty --json uncertainty.json

Sets (``bench.suites``): "seen" (simulator + texture cases at seeds >= 100, the images the
settings were chosen on), "selection" (``workers.fewshot.selection``, cases of every group,
seeds 0-1, for choosing settings apart from the training simulator; ``--set selection``),
"unseen" (the independent simulator ``workers.fewshot.unseen``, seeds 0-1) and "real"
(micrographs with hand-checked chip truth). Each image is embedded once per encoder; every
seeded support draw (k chips per class from the scored chips of each class) goes through the
segmentation core (``pipeline.Segmenter``) twice: "after" with the defaults users run (per-chip
calibration, group weighting, the interval of ``interval.fraction_interval``) and "before" as the
engine was (the encoder's temperature, no weighting, the support-bootstrap interval).

Figures, per set, encoder and k, before -> after:

- ECE: expected calibration error, 15 equal-width bins of max probability, pooled over the
  scored query chips (support chips left out) of all draws; with mean confidence and accuracy.
- coverage: share of (image, draw, class) trials whose 95 % interval holds the true fraction
  (chips whose majority truth is the class, over all chips of the grid); mean interval width.
- support check: share of clean support chips flagged by the leave-one-out check (false
  alarms), and share of draws where one chip moved to another class's examples is flagged.

Earlier figures (before the per-chip calibration, the group weighting and the spatial prior):
workers/fewshot/CONTRACT.md.

With the spatial prior, its probabilities tempered (``uncertainty.SMOOTHED_TEMPERATURE``) and
the one-example interval multiplier (``stats.INTERVAL_MULTIPLIER_SINGLE``), chosen on "seen"
(ninth session; default encoder, k = 1 / 3 / 5, "after"): seen (`--draws 2`) ECE 0.048 /
0.007 / 0.006, coverage 0.97 / 0.97 / 1.00, width 0.32 / 0.18 / 0.17 (untempered: ECE 0.048
/ 0.025 / 0.018, coverage 0.94 / 0.95 / 0.97); measured once (`--draws 5`): unseen ECE 0.049 /
0.023 / 0.027, coverage 0.91 / 0.92 / 0.96, width 0.38 / 0.22 / 0.21; real ECE 0.019 / 0.003
/ 0.004, coverage 1.00 / 0.90 / 1.00, width 0.15 / 0.09 / 0.09.

The interval multipliers by support count (``interval.INTERVAL_MULTIPLIERS``, twenty-first
session), chosen on "seen" and "selection": unseen coverage 0.91 / 0.95 / 0.97 -> 0.98 / 0.99 /
0.99, width 0.38 / 0.20 / 0.19 -> 0.62 / 0.31 / 0.23 (``--draws 5``; README). With the
half-width growing as u^0.7 (``interval.INTERVAL_EXPONENT``, twenty-second session, chosen on the
same sets): coverage 0.98 / 0.99 / 0.975, width 0.57 / 0.26 / 0.19; with no group weighting
where a class is an object (``SegmentOptions.task_weighting``) 0.98 / 0.995 / 0.98, the same
widths.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import numpy as np
import torch

from workers.fewshot.bench.suites import SETS, particle_kinds
from workers.fewshot.chipping import ChipGrid, chip_truth, normalise
from workers.fewshot.encoders import build_encoder
from workers.fewshot.pipeline import Embedded, Segmentation, Segmenter, SegmentOptions
from workers.fewshot.uncertainty import expected_calibration_error
from workers.fewshot.unseen.real import load_real

__all__ = ["Prepared", "evaluate_draw", "prepare", "run", "summarise"]

SEEDS = {"seen": (100, 101), "selection": (0, 1), "unseen": (0, 1), "real": (0,)}


@dataclass
class Prepared:
    """One image on its grid with its embeddings per encoder.

    scored (rows, cols): dense class of chips whose truth is sure enough to score a label and to
    pick as support, -1 otherwise; truth (rows, cols): dense majority class of every chip, what
    class fractions are scored against.
    """

    name: str
    set: str
    grid: ChipGrid
    frame: np.ndarray
    scored: np.ndarray
    truth: np.ndarray
    emb: dict[str, torch.Tensor] = field(default_factory=dict)
    present: tuple[int, ...] = ()
    #: dense classes a job marks as objects (``SegmentOptions.object_classes``)
    object_classes: tuple[int, ...] = ()


def prepare(
    set_name: str, case: str, seed: int, encoders: dict, *, chip_size: int | None = None
) -> Prepared | None:
    """Load, normalise and embed one image of a set -> Prepared (None: < 2 classes).

    chip_size None: 32 px for simulated sets, the truth file's grid for real images; a real
    image at another chip size is scored against the chip majority of its pixel mask.
    """
    if set_name == "real" and chip_size is not None:
        r = load_real(case)
        if chip_size != r.chip_size:
            grid = ChipGrid.for_shape(r.image.shape, chip_size, offset=r.offset)
            truth = chip_truth((r.mask > 0).astype(np.int32), grid)
            prep = _embedded(f"{case}@{seed}", set_name, r.image, grid, truth, truth, encoders)
            prep.object_classes = particle_kinds(np.unique(truth[truth >= 0]), r.group)
            return prep
    sample = SETS[set_name].load(case, seed, (512, 512), chip_size or 32)
    if set_name == "real":
        mask = load_real(case).mask  # 0 support, 1 particle, 2 edge band (particle for areas)
        raw = chip_truth((mask > 0).astype(np.int32), sample.grid)
        truth = np.searchsorted(sample.present, np.minimum(raw, sample.present.max()))
    else:
        truth = sample.labels
    if sample.present.size < 2:
        return None
    prep = _embedded(
        f"{case}@{seed}", set_name, sample.image, sample.grid, sample.labels, truth, encoders
    )
    prep.present = tuple(int(c) for c in sample.present)
    prep.object_classes = sample.object_classes
    return prep


def _embedded(name, set_name, image, grid, scored, truth, encoders) -> Prepared:
    frame = normalise(image)
    prep = Prepared(name, set_name, grid, frame, scored, truth)
    prep.present = tuple(range(int(truth.max()) + 1))
    for enc_name, enc in encoders.items():
        prep.emb[enc_name] = enc.embed(frame, grid).reshape(grid.n_chips, -1).float()
    return prep


def draw_support(prep: Prepared, k: int, rng: np.random.Generator) -> dict[int, np.ndarray]:
    """k flat chip indices per class, drawn from the scored chips of that class."""
    flat = prep.scored.ravel()
    out = {}
    for c in np.unique(flat[flat >= 0]):
        idx = np.flatnonzero(flat == c)
        out[int(c)] = rng.choice(idx, size=min(k, idx.size), replace=False)
    return out


#: "before": the engine as it was (the encoder's temperature, no group weighting, the support
#: bootstrap as the interval); "after": the defaults users run
BEFORE = SegmentOptions(calibration=None, weighting=None, mean_field=0.0)
AFTER = SegmentOptions()


def evaluate_draw(
    prep: Prepared,
    enc_name: str,
    enc_temperature: float | None,
    k: int,
    draw: int,
    *,
    support: dict[int, np.ndarray] | None = None,
    encoder=None,
) -> dict | None:
    """One support draw through the segmentation core -> per-chip confidences / correctness and
    per-class intervals, before and after.

    support {dense class: flat chip indices} overrides the seeded draw of k chips per class.
    ``encoder``: the encoder that embedded ``prep`` (its feature groups, as a job uses them);
    None: a stand-in with only its name and temperature (no group weighting).
    """
    rng = np.random.default_rng([zlib.crc32(prep.name.encode()), k, draw])
    sup = draw_support(prep, k, rng) if support is None else support
    if len(sup) < 2:
        return None
    classes = sorted(sup)
    n_classes = len(classes)
    grid = prep.grid
    positions = {c: [grid.position(int(i)) for i in sup[c]] for c in classes}
    emb = prep.emb[enc_name].numpy().reshape(grid.rows, grid.cols, -1)
    image = Embedded(prep.frame[None], grid, emb[None])
    if encoder is None:
        encoder = SimpleNamespace(name=enc_name, default_temperature=enc_temperature)

    def core(options: SegmentOptions, chips: dict) -> tuple[Segmenter, Segmentation]:
        segmenter = Segmenter.fit([image], [chips], encoder=encoder, options=options)
        seg = segmenter.classify(emb, grid=grid, pixels=prep.frame, support=chips)
        return segmenter, seg

    after_options = replace(AFTER, object_classes=prep.object_classes)
    segmenter, after = core(after_options, positions)
    _, before = core(BEFORE, positions)
    n = grid.n_chips
    truth = prep.truth.ravel()
    query = prep.scored.ravel() >= 0
    for c in classes:
        query[sup[c]] = False
    true_frac = np.bincount(truth, minlength=n_classes)[:n_classes] / n

    def interval(stats: dict) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(stats["fractions_ci_low"]), np.asarray(stats["fractions_ci_high"])

    boot = before.stats["bootstrap"]  # the interval the engine reported before this one
    check = segmenter.support_check
    moved = None
    if k >= 2 and len(positions[classes[0]]) >= 2:
        # one example of class 0 clicked as class 1: is it flagged?
        chip = positions[classes[0]][0]
        wrong = {**positions, classes[0]: positions[classes[0]][1:]}
        wrong[classes[1]] = [*positions[classes[1]], chip]
        flagged = Segmenter.fit(
            [image], [wrong], encoder=encoder, options=after_options
        ).support_check
        moved = any(
            d["class"] == classes[1] and (d["row"], d["col"]) == chip for d in flagged["disagree"]
        )
    return {
        "truth_class": truth[query],
        "correct": (after.labels.ravel() == truth)[query],
        "correct_before": (before.labels.ravel() == truth)[query],
        "conf_before": before.confidence.ravel()[query],
        "conf_after": after.confidence.ravel()[query],
        "truth": true_frac,
        "point": np.asarray(after.stats["fractions"][:n_classes]),
        "before": (np.asarray(boot["ci_low"]), np.asarray(boot["ci_high"])),
        "after": interval(after.stats),
        "n_checked": check["n_checked"],
        "n_false_flags": len(check["disagree"]),
        "moved_found": moved,
    }


def summarise(draws: list[dict]) -> dict:
    """Pooled figures of a list of evaluate_draw results."""
    correct = np.concatenate([r["correct"] for r in draws])
    out = {"n_draws": len(draws), "n_chips": int(correct.size), "accuracy": float(correct.mean())}
    for when in ("before", "after"):
        conf = np.concatenate([r[f"conf_{when}"] for r in draws])
        right = correct if when == "after" else np.concatenate([r["correct_before"] for r in draws])
        hits, widths = [], []
        for r in draws:
            lo, hi = r[when]
            hits.append((lo - 1e-9 <= r["truth"]) & (r["truth"] <= hi + 1e-9))
            widths.append(hi - lo)
        out[when] = {
            "ece": expected_calibration_error(conf, right),
            "accuracy": float(right.mean()),
            "mean_confidence": float(conf.mean()),
            "coverage": float(np.concatenate(hits).mean()),
            "width": float(np.concatenate(widths).mean()),
        }
    truth_class = np.concatenate([r["truth_class"] for r in draws])
    out["by_truth_class"] = {}
    for c in np.unique(truth_class):
        m = truth_class == c
        out["by_truth_class"][int(c)] = {
            "n_chips": int(m.sum()),
            "accuracy": float(correct[m].mean()),
            **{
                f"confidence_{w}": float(np.concatenate([r[f"conf_{w}"] for r in draws])[m].mean())
                for w in ("before", "after")
            },
        }
    checked = sum(r["n_checked"] for r in draws)
    out["false_flag_rate"] = sum(r["n_false_flags"] for r in draws) / max(checked, 1)
    moved = [r["moved_found"] for r in draws if r["moved_found"] is not None]
    out["moved_found_rate"] = float(np.mean(moved)) if moved else None
    out["abs_error_median"] = float(
        np.median(np.concatenate([np.abs(r["truth"] - r["point"]) for r in draws]))
    )
    return out


def run(
    sets=("seen", "unseen", "real"),
    encoders=("default", "fourier"),
    ks=(1, 3, 5),
    draws: int = 5,
    chip_size: int = 32,
    log=print,
    built: dict | None = None,
) -> dict:
    """Every set x encoder x k -> summarise() of its draws ({set: {encoder: {k: figures}}});
    ``built`` {name: encoder} replaces building the named encoders (e.g. other weights)."""
    built = built or {name: build_encoder(name) for name in encoders}
    results: dict = {}
    for set_name in sets:
        try:
            cases = list(SETS[set_name].cases())
        except (ImportError, FileNotFoundError) as exc:
            log(f"{set_name}: skipped ({exc})")
            continue
        seeds = SEEDS[set_name]
        per: dict = {e: {k: [] for k in ks} for e in encoders}
        t0 = time.perf_counter()
        for case in cases:
            for seed in seeds:
                try:
                    # a real image on its truth file's grid
                    size = None if set_name == "real" else chip_size
                    prep = prepare(set_name, case, seed, built, chip_size=size)
                except FileNotFoundError as exc:
                    log(f"{set_name}/{case}: skipped ({exc})")
                    prep = None
                if prep is None:
                    continue
                for e in encoders:
                    for k in ks:
                        for draw in range(draws * (2 if set_name == "real" else 1)):
                            r = evaluate_draw(
                                prep, e, built[e].default_temperature, k, draw, encoder=built[e]
                            )
                            if r is not None:
                                per[e][k].append(r)
        results[set_name] = {e: {k: summarise(v) for k, v in per[e].items() if v} for e in encoders}
        log(f"{set_name}: {len(cases)} cases in {time.perf_counter() - t0:.0f} s")
    return results


def format_table(results: dict) -> str:
    """One line per set, encoder and k: before -> after."""
    lines = [
        "set       encoder  k  ECE before->after  conf before->after  acc    "
        "coverage before->after  width before->after  LOO false flags / moved found",
    ]
    for set_name, by_enc in results.items():
        for e, by_k in by_enc.items():
            for k, f in by_k.items():
                b, a = f["before"], f["after"]
                moved = "-" if f["moved_found_rate"] is None else f"{f['moved_found_rate']:.2f}"
                lines.append(
                    f"{set_name:9s} {e:8s} {k:2d}  {b['ece']:.3f} -> {a['ece']:.3f}     "
                    f"{b['mean_confidence']:.3f} -> {a['mean_confidence']:.3f}      "
                    f"{f['accuracy']:.3f}  {b['coverage']:.3f} -> {a['coverage']:.3f}         "
                    f"{b['width']:.3f} -> {a['width']:.3f}        "
                    f"{f['false_flag_rate']:.3f} / {moved}"
                )
    return "\n".join(lines)


def format_by_class(results: dict) -> str:
    """Accuracy and mean confidence of the query chips of each true class (minorities matter)."""
    lines = ["set       encoder  k  true class: n, accuracy, confidence before -> after"]
    for set_name, by_enc in results.items():
        for e, by_k in by_enc.items():
            for k, f in by_k.items():
                parts = [
                    f"{c}: {v['n_chips']}, {v['accuracy']:.3f}, "
                    f"{v['confidence_before']:.3f} -> {v['confidence_after']:.3f}"
                    for c, v in f["by_truth_class"].items()
                ]
                lines.append(f"{set_name:9s} {e:8s} {k:2d}  " + " | ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", action="append", choices=list(SEEDS), dest="sets")
    p.add_argument("--encoder", action="append", choices=["default", "fourier"], dest="encoders")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 3, 5])
    p.add_argument("--draws", type=int, default=5, help="support draws per image and k")
    p.add_argument("--chip-size", type=int, default=32, help="simulated sets (real: its own)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument(
        "--chip-sizes", action="store_true", help="also the chip-size study (k = 3, default)"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = run(
        sets=tuple(args.sets or ("seen", "unseen", "real")),
        encoders=tuple(args.encoders or ("default", "fourier")),
        ks=tuple(args.ks),
        draws=args.draws,
        chip_size=args.chip_size,
    )
    print(format_table(results))
    print(format_by_class(results))
    if args.chip_sizes:
        # chipsizes builds on this module (prepare, evaluate_draw): loaded when asked for
        from workers.fewshot.bench.chipsizes import chip_size_study

        results["chip_sizes"] = {}
        for set_name in args.sets or ("seen", "unseen", "real"):
            study = chip_size_study(set_name, draws=max(1, args.draws // 2 + 1))
            results["chip_sizes"][set_name] = study
            print(f"chip sizes {set_name}: {json.dumps(study)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
