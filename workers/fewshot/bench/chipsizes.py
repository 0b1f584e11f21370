"""Chip-size study of the uncertainty benchmark: fractions at s / 2, s and 2 s from the same
clicks, and whether the reported chip-size sensitivity flags the intervals that miss.

    python -m workers.fewshot.bench.uncertainty --set seen --chip-sizes
"""

from __future__ import annotations

import zlib

import numpy as np

from workers.fewshot.bench.suites import SETS
from workers.fewshot.bench.uncertainty import (
    SEEDS,
    Prepared,
    draw_support,
    evaluate_draw,
    prepare,
)
from workers.fewshot.encoders import build_encoder
from workers.fewshot.uncertainty import chip_size_sensitivity

__all__ = ["chip_size_study"]


def _moved_support(base: Prepared, other: Prepared, sup: dict[int, np.ndarray]) -> dict:
    """The same clicks on another grid: each support chip's centre -> the chip holding it."""
    out = {}
    g, h = base.grid, other.grid
    for c, idx in sup.items():
        chosen = []
        for i in idx:
            y0, x0, y1, x1 = g.chip_box(*g.position(int(i)))
            r = min(max(((y0 + y1) // 2 - h.offset[0]) // h.chip_size, 0), h.rows - 1)
            col = min(max(((x0 + x1) // 2 - h.offset[1]) // h.chip_size, 0), h.cols - 1)
            chosen.append(h.index(r, col))
        out[c] = np.unique(chosen)
    return out


def chip_size_study(
    set_name: str,
    encoder: str = "default",
    *,
    k: int = 3,
    draws: int = 3,
    base: int | None = None,
    log=print,
) -> dict:
    """Fractions at chip sizes s / 2, s and 2 s from the same clicks, and their sensitivity.

    Per (image, draw, class): whether the largest shift from the size-s fraction exceeds the
    size-s interval's half-width, and whether the size-s interval holds the size-s truth; the
    summary says how often each happens and how often the interval misses when the shift
    exceeds it (the flag is useful if misses concentrate there). Coverage and width at each size.
    """
    enc = build_encoder(encoder)
    rows = []
    for case in SETS[set_name].cases():
        for seed in SEEDS[set_name]:
            preps = _prepared_sizes(set_name, case, seed, encoder, enc, base)
            if preps is None:
                continue
            for draw in range(draws):
                rows += _draw_rows(preps, encoder, enc, k, draw)
    log(f"chip sizes ({set_name}, {encoder}, k = {k}): {len(rows)} trials")
    if not rows:
        return {}
    exceeds = np.array([r["exceeds"] for r in rows])
    miss = np.array([not r["hit"][r["base"]] for r in rows])
    sizes = sorted({t for r in rows for t in r["hit"]})
    return {
        "n_trials": len(rows),
        "exceeds_rate": float(exceeds.mean()),
        "median_shift": float(np.median([r["shift"] for r in rows])),
        "median_half_width": float(np.median([r["half"] for r in rows])),
        "miss_rate_when_exceeds": float(miss[exceeds].mean()) if exceeds.any() else None,
        "miss_rate_otherwise": float(miss[~exceeds].mean()) if (~exceeds).any() else None,
        "by_size": {
            int(t): {
                "coverage": float(np.mean([r["hit"][t] for r in rows if t in r["hit"]])),
                "width": float(np.mean([r["width"][t] for r in rows if t in r["width"]])),
            }
            for t in sizes
        },
    }


def _prepared_sizes(
    set_name: str, case: str, seed: int, encoder: str, enc, base: int | None
) -> dict[int, Prepared] | None:
    """One image prepared at its chip size s (first) and at s / 2 and 2 s where they show the
    same classes: {chip size: Prepared}, or None (fewer than two sizes)."""
    base_prep = prepare(set_name, case, seed, {encoder: enc}, chip_size=base)
    if base_prep is None:
        return None
    s = base_prep.grid.chip_size
    preps = {s: base_prep}
    for t in (s // 2, 2 * s):
        p = prepare(set_name, case, seed, {encoder: enc}, chip_size=t)
        if p is not None and p.present == base_prep.present:
            preps[t] = p
    if len(preps) < 2:
        return None
    return preps


def _draw_rows(preps: dict[int, Prepared], encoder: str, enc, k: int, draw: int) -> list[dict]:
    """One support draw at the base size, moved to the others: a row per class (whether the
    shift exceeds the half-width, each size's interval hit and width)."""
    s, base_prep = next(iter(preps.items()))
    rng = np.random.default_rng([zlib.crc32(base_prep.name.encode()), k, draw, s])
    sup = draw_support(base_prep, k, rng)
    res = {}
    for t, p in preps.items():
        moved = sup if t == s else _moved_support(base_prep, p, sup)
        res[t] = evaluate_draw(
            p, encoder, enc.default_temperature, k, draw, support=moved, encoder=enc
        )
    if any(r is None for r in res.values()):
        return []
    lo, hi = res[s]["after"]
    sens = chip_size_sensitivity(
        {t: r["point"].tolist() for t, r in res.items()}, s, lo.tolist(), hi.tolist()
    )
    hits = {
        t: (r["after"][0] - 1e-9 <= r["truth"]) & (r["truth"] <= r["after"][1] + 1e-9)
        for t, r in res.items()
    }
    rows = []
    for j in range(len(lo)):
        rows.append(
            {
                "exceeds": sens["exceeds"][j],
                "shift": sens["max_shift"][j],
                "half": sens["half_width"][j],
                "hit": {t: bool(h[j]) for t, h in hits.items()},
                "width": {t: float(r["after"][1][j] - r["after"][0][j]) for t, r in res.items()},
                "base": s,
            }
        )
    return rows
