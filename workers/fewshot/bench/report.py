"""Aggregation of benchmark trials into tables (text) and a JSON-friendly summary."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from workers.fewshot.bench.ceiling import is_reference
from workers.fewshot.bench.run import Trial

__all__ = ["PEER", "format_overview", "format_sets", "format_tables", "summarise"]

PEER = "peer_rf"


def _stats(values: list[float]) -> dict:
    a = np.asarray(values, np.float64)
    return {"mean": float(np.nanmean(a)), "std": float(np.nanstd(a)), "n": int(a.size)}


def summarise(trials: list[Trial]) -> dict:
    """Per (case, k, method) and per (group, k, method) statistics, with paired deltas to the peer.

    Deltas pair each trial with the peer's trial on the same (case, k, draw), i.e. the same
    support set.
    """
    by_key: dict[tuple, list[Trial]] = defaultdict(list)
    peer: dict[tuple, Trial] = {}
    for t in trials:
        by_key[(t.case, t.k, t.method)].append(t)
        if t.method == PEER:
            peer[(t.case, t.k, t.draw)] = t
    cases = []
    for (case, k, method), ts in by_key.items():
        row = {
            "case": case,
            "group": ts[0].group,
            "k": k,
            "method": method,
            "miou": _stats([t.miou for t in ts]),
            "accuracy": _stats([t.accuracy for t in ts]),
            "n_classes": ts[0].n_classes,
        }
        if not is_reference(method):
            row["seconds"] = _stats([t.seconds for t in ts])
        for key in ("pixel_miou", "objects"):
            if all(key in t.extra for t in ts):
                row[key] = _stats([t.extra[key] for t in ts])
        for key in ("objects_truth", "objects_truth_chips"):
            if ts[0].extra.get(key) is not None:
                row[key] = ts[0].extra[key]
        paired = [(t, peer[(case, k, t.draw)]) for t in ts if (case, k, t.draw) in peer]
        if paired and method != PEER and not is_reference(method):
            row["delta_miou_vs_peer"] = _stats([t.miou - p.miou for t, p in paired])
            row["delta_accuracy_vs_peer"] = _stats([t.accuracy - p.accuracy for t, p in paired])
            row["speedup_vs_peer"] = float(
                np.mean([p.seconds for _, p in paired])
                / max(np.mean([t.seconds for t, _ in paired]), 1e-9)
            )
        cases.append(row)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in cases:
        groups[(row["group"], row["k"], row["method"])].append(row)
    group_rows = []
    for (group, k, method), rows in groups.items():
        g = {
            "group": group,
            "k": k,
            "method": method,
            "cases": len(rows),
            "miou": float(np.mean([r["miou"]["mean"] for r in rows])),
            "accuracy": float(np.mean([r["accuracy"]["mean"] for r in rows])),
        }
        if not is_reference(method):
            g["seconds"] = float(np.mean([r["seconds"]["mean"] for r in rows]))
        if all("delta_miou_vs_peer" in r for r in rows):
            g["delta_miou_vs_peer"] = float(
                np.mean([r["delta_miou_vs_peer"]["mean"] for r in rows])
            )
            g["wins_vs_peer"] = int(sum(r["delta_miou_vs_peer"]["mean"] > 0 for r in rows))
        group_rows.append(g)
    return {"cases": cases, "groups": group_rows}


def _pm(s: dict) -> str:
    return f"{s['mean']:.3f}±{s['std']:.3f}"


def _objects(r: dict) -> str:
    """Pixel mIoU and object count of a case row (real micrographs), as one text cell."""
    parts = []
    if "pixel_miou" in r:
        parts.append(f"pixel mIoU {_pm(r['pixel_miou'])}")
    if "objects" in r:
        parts.append(
            f"objects {r['objects']['mean']:.1f}±{r['objects']['std']:.1f} (8-connected chips; "
            f"truth {r.get('objects_truth')} particles, {r.get('objects_truth_chips')} as chips "
            f"at least half particle)"
        )
    return "; ".join(parts)


def format_tables(summary: dict, *, legend: bool = True) -> str:
    """Text tables: per group, one line per (case, k, method), then the group means."""
    lines: list[str] = [
        "mIoU / accuracy: chip level, non-support chips, mean±std over draws. dmIoU/peer: mean "
        "paired difference to the peer (same support sets); mIoU/peer: ratio of means; s/pred: "
        "per-image preparation (embedding / features) + one prediction; speedup: peer s/pred "
        "over the method's. oracle±q px: boundary-limited reference, exact inside regions with "
        "boundaries placed up to q px off (not a segmenter; workers/fewshot/bench/ceiling.py)."
    ]
    lines = lines if legend else []
    methods = sorted(
        {r["method"] for r in summary["cases"]}, key=lambda m: (is_reference(m), m == PEER, m)
    )
    for group in dict.fromkeys(r["group"] for r in summary["cases"]):
        lines += [
            "",
            f"== {group} ==",
            f"{'case':26s} {'k':>2s} {'method':10s} {'mIoU':>12s} {'accuracy':>12s} "
            f"{'dmIoU/peer':>10s} {'mIoU/peer':>9s} {'s/pred':>7s} {'speedup':>7s}",
        ]
        rows = [r for r in summary["cases"] if r["group"] == group]
        peer_mean = {(r["case"], r["k"]): r["miou"]["mean"] for r in rows if r["method"] == PEER}
        for case in dict.fromkeys(r["case"] for r in rows):
            for k in sorted({r["k"] for r in rows if r["case"] == case}):
                for m in methods:
                    r = next(
                        (x for x in rows if (x["case"], x["k"], x["method"]) == (case, k, m)), None
                    )
                    if r is None:
                        continue
                    delta = (
                        f"{r['delta_miou_vs_peer']['mean']:+.3f}"
                        if "delta_miou_vs_peer" in r
                        else ""
                    )
                    p = peer_mean.get((case, k))
                    ratio = f"{r['miou']['mean'] / p:.2f}" if p and m != PEER else ""
                    speed = f"{r['speedup_vs_peer']:.1f}x" if "speedup_vs_peer" in r else ""
                    seconds = "" if is_reference(m) else f"{r['seconds']['mean']:7.3f}"
                    lines.append(
                        f"{case:26s} {k:2d} {m:10s} {_pm(r['miou']):>12s} "
                        f"{_pm(r['accuracy']):>12s} {delta:>10s} {ratio:>9s} "
                        f"{seconds:>7s} {speed:>7s}"
                    )
                    if "pixel_miou" in r or "objects" in r:
                        lines.append(f"{'':40s}{_objects(r)}")
        lines += [f"-- {group}: mean over cases --"]
        for g in sorted(
            (g for g in summary["groups"] if g["group"] == group),
            key=lambda g: (g["k"], is_reference(g["method"]), g["method"] == PEER, g["method"]),
        ):
            extra = (
                f"  dmIoU/peer {g['delta_miou_vs_peer']:+.3f}  wins {g['wins_vs_peer']}/"
                f"{g['cases']}"
                if "delta_miou_vs_peer" in g
                else ""
            )
            seconds = "" if is_reference(g["method"]) else f"  s/pred {g['seconds']:.3f}"
            lines.append(
                f"   k={g['k']} {g['method']:10s} mIoU {g['miou']:.3f}  "
                f"acc {g['accuracy']:.3f}{seconds}{extra}"
            )
    return "\n".join(lines)


def format_overview(summaries: dict[str, dict], titles: dict[str, str]) -> str:
    """One line per (set, group, method): group mIoU at each k, sets in the given order."""
    ks = sorted({g["k"] for s in summaries.values() for g in s["groups"]})
    head = f"{'set':32s} {'group':10s} {'method':10s} " + " ".join(f"{f'k={k}':>6s}" for k in ks)
    lines = ["== mIoU overview: mean over a group's cases ==", head]
    for name, summary in summaries.items():
        groups = summary["groups"]
        methods = sorted(
            {g["method"] for g in groups}, key=lambda m: (is_reference(m), m == PEER, m)
        )
        for group in dict.fromkeys(g["group"] for g in groups):
            for m in methods:
                by_k = {
                    g["k"]: g["miou"] for g in groups if (g["group"], g["method"]) == (group, m)
                }
                cells = " ".join(f"{by_k[k]:6.3f}" if k in by_k else f"{'':6s}" for k in ks)
                lines.append(f"{titles.get(name, name):32s} {group:10s} {m:10s} {cells}")
    return "\n".join(lines)


def format_sets(summaries: dict[str, dict], titles: dict[str, str]) -> str:
    """Each set's tables under its own title (``summaries``: {set: summarise(its trials)}),
    then the overview."""
    blocks = []
    for i, (name, summary) in enumerate(summaries.items()):
        bar = "#" * 12
        blocks += [f"\n{bar} {titles.get(name, name)} {bar}", format_tables(summary, legend=i == 0)]
    return "\n".join([*blocks, "", format_overview(summaries, titles)])
