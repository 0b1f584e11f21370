"""Pixel-map benchmark: ``python -m workers.fewshot.bench.pixels [--set seen] [--cases ...]``.

For each case image and seeded support draw (k chips per class), the default encoder runs
through the segmentation core (embed -> Segmenter.fit -> classify, as a job runs it): once
without the pixel vote (the chip classifier's map, "chip") and once per ``PixelConfig`` with it
(``SegmentOptions.pixel_config``), whose ``Segmentation.pixel_map`` is the job's own pixel map,
made from the chip prediction before its probabilities are tempered for reporting (with two or
more object classes each particle then takes its majority class, ``objects.one_class_each``, as
a job's mask does; before the twenty-fourth session the bench mapped the reported chip map:
docs/benchmarks.md).
Scored against the pixel truth:

- pixel mIoU of the chip map painted on its pixels ("chip"), of the pixel map ("pixel") and of
  the pixel-classifier peer's own pixel map (``bench.methods.PixelForestPeer``: a random forest
  on multiscale features of the support chips' pixels, "peer");
- boundary error: mean symmetric distance (px) between predicted and true class boundaries
  inside the covered area, also as a fraction of the chip size. Boundary pixels are those
  whose right or lower neighbour has another label (a 1 px line along each interface, the
  same convention for both maps, so a perfect map scores 0 and an interface shifted by n px
  scores n). For every true boundary pixel the Euclidean distance to the nearest predicted
  one, and for every predicted boundary pixel the distance to the nearest true one; the mean
  over both sets (the average symmetric surface distance): what a microscopist means by
  "the interface is N px off", where both a missed and a spurious interface count. It is a
  mean of distances, so one wrongly labelled domain (its whole outline tens of px from any
  true interface) outweighs many well placed interfaces: ``--per-case`` splits it into
  "placement" (boundary pixels within half a chip of the other map's boundary) and "gross"
  (farther: missed or spurious interfaces, wrongly labelled domains), which add up to it,
  with the 95th percentile and the share of pixels in wrongly labelled blobs of a chip's area
  or more (:func:`boundary_parts`). An image where either map has no boundary scores NaN and
  is left out of the means (``--per-case`` says how many). Where the truth has unscored
  pixels (-1) their outline counts as true boundary: on real MoO3 both sides of the edge band,
  so "+edge" also scores the boundary with the band counted as particle (its outer side);
- calibration of the pixel confidence: expected calibration error (10 bins) and mean
  confidence vs accuracy;
- missed objects shown as uncertain (particle cases and real images with counted objects):
  truth objects (8-connected components of every class but the largest, >= 16 px) that the
  map misses (under half their pixels given their class), and the share of those whose median
  pixel confidence is below ``UNSURE`` (what the Confidence view shows as uncertain), next to
  the share of correctly labelled pixels shown as uncertain (the price of flagging), and the
  spots shown as uncertain on nothing (:func:`pixel_scores.false_alarms`: background in map
  and truth, away from any object).

Pixels whose true class is the majority of no chip (the support could not name it) are left
out. Real MoO3: the edge band (mask value 2) is left out ("pixel") and, as a second figure,
counted as particle ("+edge"). Settings are chosen on the seen set (seeds >= 100 by default)
and on ``--set selection`` (seeds from 0); ``--set unseen`` / ``real`` report.
``--speed`` times ``pixel_map`` at 1024^2 and 4096^2.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import time
import zlib
from dataclasses import fields, replace

import numpy as np
import torch

from workers.fewshot import sim
from workers.fewshot.bench.methods import PixelForestPeer
from workers.fewshot.bench.pixel_scores import (
    UNSURE,
    boundary_error,
    boundary_parts,
    calibration,
    extra_objects,
    false_alarms,
    missed_objects,
    pixel_miou,
)
from workers.fewshot.bench.sampling import sample_support
from workers.fewshot.bench.suites import SETS, Sample
from workers.fewshot.chipping import ChipGrid, chip_truth, normalise
from workers.fewshot.encoders import build_encoder
from workers.fewshot.frequencies import support_frequencies
from workers.fewshot.objects import instances, one_class_each
from workers.fewshot.pipeline import Segmentation, Segmenter, SegmentOptions, embed
from workers.fewshot.pixels import PixelConfig, pixel_map

__all__ = [
    "boundary_error",
    "boundary_parts",
    "calibration",
    "extra_objects",
    "false_alarms",
    "main",
    "missed_objects",
    "pixel_miou",
]


def _dense_truth(sample: Sample) -> np.ndarray:
    """Pixel truth as dense class indices (-1: not scored)."""
    if sample.mask is not None:
        return sample.mask
    t = sample.truth
    idx = np.searchsorted(sample.present, t).clip(0, sample.present.size - 1)
    return np.where(sample.present[idx] == t, idx, -1)


def _painted(sample: Sample, chip_labels: np.ndarray) -> np.ndarray:
    g = sample.grid
    out = np.full((g.height, g.width), -1)
    s = g.chip_size
    out[g.covered] = np.kron(chip_labels, np.ones((s, s), int))
    return out


def _covered(labels: np.ndarray, sample: Sample) -> np.ndarray:
    return labels[sample.grid.covered]


def run_image(
    sample: Sample,
    *,
    encoder,
    configs: dict[str, PixelConfig],
    draws: list[int],
    k: int,
    case: str,
    peer: bool,
    objects: bool = False,
    kinds: bool = False,
) -> list[dict]:
    """All draws on one image: chip / pixel / peer figures per (draw, config); ``kinds``: one
    kind per particle (``pixel_map(object_kinds=...)``) with the sample's object classes."""
    emb = embed(
        sample.image, encoder=encoder, chip_size=sample.grid.chip_size, offset=sample.grid.offset
    )
    frame = emb.frames[0]
    truth = _dense_truth(sample)
    K = sample.present.size
    s = sample.grid.chip_size
    pr = None
    if peer:
        pr = PixelForestPeer()
        pr.prepare(sample.image, sample.grid)
    out = []
    for draw in draws:
        rng = np.random.default_rng([0, zlib.crc32(case.encode()), k, draw])
        support = sample_support(sample.labels, k, rng)
        # the chip classifier's map (no pixel vote): what each pixel-map variant starts from
        opts = SegmentOptions(bootstrap=0, pixel_vote=False, object_classes=sample.object_classes)
        segm = Segmenter.fit([emb], [support], encoder=encoder, options=opts)
        seg = segm.classify(emb.embeddings[0], grid=emb.grid, pixels=frame, support=support)
        chip = _painted(sample, np.asarray(seg.labels))
        tc = _covered(truth, sample)
        row = {
            "case": case,
            "draw": draw,
            "chip": pixel_miou(truth, chip, K),
            "chip_bnd": boundary_error(tc, _covered(chip, sample)),
            "chip_parts": boundary_parts(tc, _covered(chip, sample), s / 2),
            "chip_size": s,
        }
        if sample.mask is not None:
            edge = np.where(sample.mask < 0, 1, sample.mask)  # edge band as particle
            row["chip_edge"] = pixel_miou(edge, chip, K)
            # the band's both sides are truth edges in "bnd": here its outer side alone
            ec = _covered(edge, sample)
            row["chip_bnd_edge"] = boundary_error(ec, _covered(chip, sample))
        if pr is not None:
            pp = pr.pixel_labels(support)
            row["peer"] = pixel_miou(truth, pp, K)
            row["peer_bnd"] = boundary_error(tc, _covered(pp, sample))
            if sample.mask is not None:
                row["peer_edge"] = pixel_miou(edge, pp, K)
                row["peer_bnd_edge"] = boundary_error(ec, _covered(pp, sample))
        for name, cfg in configs.items():
            # the job's own pixel map (from the chip prediction before it is tempered)
            kw = {"pixel_vote": True, "pixel_config": cfg}
            kw["object_kinds"] = sample.object_classes if kinds else ()
            job = Segmenter.fit([emb], [support], encoder=encoder, options=replace(opts, **kw))
            pm = job.classify(emb.embeddings[0], grid=emb.grid, pixels=frame, support=support)
            pm = pm.pixel_map
            if len(sample.object_classes) >= 2:  # one kind per particle, as a job's mask
                inst = instances(pm.labels, sample.object_classes)
                one_class_each(pm.labels, inst, pm.confidence)  # in place: this map's own
            scores = _map_scores(sample, truth, pm, objects=objects)
            row |= {f"{key}:{name}": value for key, value in scores.items()}
        out.append(row)
    return out


def _map_scores(sample: Sample, truth: np.ndarray, pm, *, objects: bool) -> dict:
    """One pixel map's figures against the dense truth (keys as ``run_image``'s rows name them
    before ":<config>")."""
    K, s = sample.present.size, sample.grid.chip_size
    lab = pm.labels.astype(int)
    ok = (truth >= 0) & (lab >= 0)
    tc, mine = _covered(truth, sample), _covered(lab, sample)
    right = ok & (lab == truth)
    out = {
        "pixel": pixel_miou(truth, lab, K),
        "bnd": boundary_error(tc, mine),
        "parts": boundary_parts(tc, mine, s / 2),
        "ece": calibration(pm.confidence[ok], lab[ok] == truth[ok]),
        "conf": float(pm.confidence[ok].mean()),
        "acc": float((lab[ok] == truth[ok]).mean()),
        "sec": pm.timings["total"],
        "unsure": float((pm.confidence[right] < UNSURE).mean()),
    }
    if objects:
        out["obj"], out["miss"], out["flag"] = missed_objects(truth, lab, pm.confidence)
        out["extra"] = extra_objects(truth, lab)
        out["alarms"] = false_alarms(truth, lab, pm.confidence)
    if sample.mask is not None:
        edge = np.where(sample.mask < 0, 1, sample.mask)  # edge band as particle
        out["edge"] = pixel_miou(edge, lab, K)
        out["bnd_edge"] = boundary_error(_covered(edge, sample), mine)
    return out


def _parse_config(spec: str) -> PixelConfig:
    """'name=value,name=value' -> PixelConfig."""
    kinds = {f.name: f.type for f in fields(PixelConfig)}
    cfg = PixelConfig()
    for item in filter(None, spec.split(",")):
        key, value = item.split("=")
        cast = int if kinds[key] in ("int", int) else float
        cfg = replace(cfg, **{key: cast(value)})
    return cfg


def _summarise(rows: list[dict], groups: dict[str, str], configs: list[str]) -> None:
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(groups[r["case"]], []).append(r)
    by["all"] = rows
    for g, rs in by.items():

        def m(key, rs=rs):
            v = [r[key] for r in rs if key in r and np.isfinite(r[key])]
            return float(np.mean(v)) if v else float("nan")

        s = rs[0]["chip_size"]
        line = f"{g:10s} n={len(rs):3d} chip {m('chip'):.3f} bnd {m('chip_bnd'):5.1f}px"
        if any("peer" in r for r in rs):
            line += f" | peer {m('peer'):.3f} bnd {m('peer_bnd'):5.1f}"
        if any("chip_edge" in r for r in rs):
            line += f" | +edge: chip {m('chip_edge'):.3f} bnd {m('chip_bnd_edge'):5.1f}"
            if any("peer_edge" in r for r in rs):
                line += f", peer {m('peer_edge'):.3f} bnd {m('peer_bnd_edge'):5.1f}"
        print(line)
        for c in configs:
            extra = ""
            if any("chip_edge" in r for r in rs):
                extra = f" +edge {m('edge:' + c):.3f} bnd {m('bnd_edge:' + c):5.1f}px"
            print(
                f"    {c:24s} pixel {m('pixel:' + c):.3f} ({m('pixel:' + c) - m('chip'):+.3f})"
                f" bnd {m('bnd:' + c):5.1f}px ({m('bnd:' + c) / s:.2f} chip){extra}"
                f" ece {m('ece:' + c):.3f} conf {m('conf:' + c):.3f} acc {m('acc:' + c):.3f}"
                f" {m('sec:' + c) * 1000:.0f} ms"
            )
            n_miss = sum(r.get("miss:" + c, 0) for r in rs)
            if any("obj:" + c in r for r in rs):
                n_obj = sum(r.get("obj:" + c, 0) for r in rs)
                n_flag = sum(r.get("flag:" + c, 0) for r in rs)
                n_extra = sum(r.get("extra:" + c, 0) for r in rs)
                n_alarm = sum(r.get("alarms:" + c, 0) for r in rs)
                print(
                    f"    {'':24s} objects {n_obj}, missed {n_miss}, missed shown uncertain"
                    f" {n_flag} ({n_flag / max(1, n_miss):.0%}), extra {n_extra}; right pixels"
                    f" shown uncertain {m('unsure:' + c):.1%}, uncertain spots on nothing"
                    f" {n_alarm}"
                )


def _per_case(rows: list[dict], configs: list[str]) -> None:
    """One line per case and map: boundary error (px) = placement + gross (edge pixels within /
    beyond half a chip of the other map's boundary), near-only mean, far share, p95 and the
    share of pixels in wrongly labelled blobs of a chip's area or more ("domains")."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["case"], []).append(r)
    print("per case: bnd = placement + gross (px); near mean; far share; p95; domains")
    for case, rs in by.items():
        for key, label in [("chip_parts", "chip")] + [(f"parts:{c}", c) for c in configs]:
            ps = [r[key] for r in rs if key in r]

            def m(k, ps=ps):
                v = [p[k] for p in ps if np.isfinite(p[k])]
                return float(np.mean(v)) if v else float("nan")

            n_nan = sum(not np.isfinite(p["mean"]) for p in ps)
            print(
                f"  {case:26s} {label:10s} {m('mean'):5.1f} = {m('placement'):4.1f} +"
                f" {m('gross'):5.1f}  near {m('near_mean'):4.1f}  far {m('far_share'):5.1%}"
                f"  p95 {m('p95'):5.1f}  domains {m('domains'):5.1%}"
                + (f"  (no boundary in {n_nan} of {len(ps)}: left out)" if n_nan else "")
            )


def speed(sizes=(1024, 4096), chip_sizes=(32, 64), repeats: int = 3) -> None:
    """Time ``pixel_map`` (features, fit, map) on a tiled sim lattice with a made-up chip map."""
    base = sim.generate("sto_ge_interface", seed=100, size=(512, 512))
    for size in sizes:
        reps = size // 512
        image = np.tile(base.image, (reps, reps))
        truth = np.tile(base.truth, (reps, reps))
        frame = normalise(image)
        for s in chip_sizes:
            grid = ChipGrid.for_shape(frame.shape, s)
            labels = chip_truth(truth, grid)
            classes = tuple(int(c) for c in np.unique(labels))
            col = np.searchsorted(classes, labels)
            probs = np.full((*labels.shape, len(classes)), 0.1 / (len(classes) - 1), np.float32)
            np.put_along_axis(probs, col[..., None], 0.9, -1)
            support = {
                k: [tuple(int(v) for v in p) for p in np.argwhere(labels == k)[:3]] for k in classes
            }
            freqs = support_frequencies([frame], [grid], [support])
            seg = Segmentation(labels, probs, probs.max(-1), {}, {}, grid, classes)
            best = None
            for _ in range(repeats):
                pm = pixel_map(frame, seg, frequencies=freqs, support=support)
                if best is None or pm.timings["total"] < best["total"]:
                    best = pm.timings
            print(f"speed {size}^2 chip {s} px, {len(freqs)} peaks, K={len(classes)}: {best}")


def main(argv: list[str] | None = None) -> int:
    """Run the pixel-map benchmark and print group tables."""
    p = argparse.ArgumentParser(prog="python -m workers.fewshot.bench.pixels")
    p.add_argument("--set", default="seen", choices=list(SETS))
    p.add_argument("--cases", help="comma list of case or group names")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--draws", type=int, default=2, help="support draws per image")
    p.add_argument("--images", type=int, default=1, help="images per case")
    p.add_argument("--seed", type=int, help="first image seed (seen: 100, others: 0)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--chip-size", type=int, default=32)
    config_help = "name:key=value,... a PixelConfig variant (repeatable)"
    p.add_argument("--config", action="append", default=[], help=config_help)
    p.add_argument("--no-peer", action="store_true")
    kinds_help = "one kind per particle on particle cases (a job's opt-in object_kinds param)"
    p.add_argument("--object-kinds", action="store_true", help=kinds_help)
    p.add_argument("--speed", action="store_true", help="only time pixel_map")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--per-case", action="store_true", help="boundary error split per case")
    a = p.parse_args(argv)
    if a.speed:
        speed()
        return 0
    torch.set_num_threads(1)
    suite = SETS[a.set]
    groups = suite.cases()
    cases = list(groups)
    if a.cases:
        want = a.cases.split(",")
        cases = [c for c in cases if c in want or groups[c] in want]
    configs = {"default": PixelConfig()}
    for spec in a.config:
        name, _, body = spec.partition(":")
        configs[name] = _parse_config(body)
    seed = a.seed if a.seed is not None else (100 if a.set == "seen" else 0)
    encoder = build_encoder("default", device="cpu")
    rows: list[dict] = []
    t0 = time.perf_counter()
    n_images = 1 if suite.fixed else a.images
    for case in cases:
        for i in range(n_images):
            sample = suite.load(case, seed + i, (a.size, a.size), a.chip_size)
            if sample.present.size < 2:
                continue
            draws = list(range(i, a.draws * n_images, n_images))
            rows += run_image(
                sample,
                encoder=encoder,
                configs=configs,
                draws=draws,
                k=a.k,
                case=case,
                peer=not a.no_peer,
                objects=groups[case] == "particles" or sample.count_class is not None,
                kinds=a.object_kinds,
            )
        print(f"{case}: done ({time.perf_counter() - t0:.0f} s)", flush=True)
    if a.per_case:
        _per_case(rows, list(configs))
    _summarise(rows, groups, list(configs))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(
                {"set": a.set, "configs": {k: vars(v) for k, v in configs.items()}, "rows": rows},
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
