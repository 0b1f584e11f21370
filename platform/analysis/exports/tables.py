"""Tables and documents: counts and series CSV (spreadsheet-safe cells), result.json."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

import numpy as np

from .chart import interval_label
from .classes import class_table


def counts_rows(stats: dict, classes: Sequence[dict]) -> list[dict]:
    """One row per class: counts, fractions (+ bootstrap std / interval), areas when known."""
    rows = []
    n = len(classes)
    std = stats.get("fractions_std") or [None] * n
    low = stats.get("fractions_ci_low") or [None] * n
    high = stats.get("fractions_ci_high") or [None] * n
    areas = stats.get("areas") or [None] * n
    areas_std = stats.get("areas_std") or [None] * n
    for i, c in enumerate(classes):
        rows.append(
            {
                "index": i,
                "class_id": str(c.get("id", "")),
                "class": c.get("name", f"class {i}"),
                "colour": c.get("colour", ""),
                "count": int(stats["counts"][i]),
                "fraction": float(stats["fractions"][i]),
                "fraction_std": None if std[i] is None else float(std[i]),
                "fraction_ci_low": None if low[i] is None else float(low[i]),
                "fraction_ci_high": None if high[i] is None else float(high[i]),
                "interval": interval_label(stats),
                "area_px": int(stats["areas_px"][i]),
                "area": None if areas[i] is None else float(areas[i]),
                "area_std": None if areas_std[i] is None else float(areas_std[i]),
                "area_unit": stats.get("area_unit", "") if areas[i] is not None else "",
            }
        )
    objects = {o["class_index"]: o for o in (stats.get("objects") or {}).values()}
    if objects:  # classes marked as objects: their count and sizes (empty for regions)
        for i, row in enumerate(rows):
            o = objects.get(i) or {}
            row.update(
                {
                    "objects": o.get("n_total"),
                    "objects_at_edge": o.get("n_edge"),
                    "number_density": o.get("number_density"),
                    "number_density_unit": o.get("number_density_unit", ""),
                    "median_diameter": o.get("median"),
                    "mean_diameter": o.get("mean"),
                    "diameter_unit": o.get("length_unit", ""),
                }
            )
    return rows


#: a spreadsheet treats a cell starting with one of these as a formula
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A value safe to open in a spreadsheet: text that would start a formula (a class named
    "=HYPERLINK(...)") is prefixed with a quote (OWASP CSV injection); numbers pass as they
    are, None becomes an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def counts_csv(
    stats: dict,
    classes: Sequence[dict],
    *,
    frame: int | None = None,
    provenance: dict | None = None,
) -> str:
    """The per-class table as CSV (empty cells where a value is unknown).

    With ``provenance`` (see ``analysis.runner.provenance``) every row also names the job, the
    image's sha256, the support-set version and the model version, so a table copied out of
    its folder still says where it came from.
    """
    rows = counts_rows(stats, classes)
    source = _provenance_columns(provenance) if provenance else {}
    buf = io.StringIO()
    fields = (["frame"] if frame is not None else []) + list(rows[0] if rows else []) + [*source]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = {k: csv_cell(v) for k, v in (row | source).items()}
        if frame is not None:
            values["frame"] = frame
        writer.writerow(values)
    return buf.getvalue()


def series_csv(frames: Sequence[tuple[int, dict]], classes: Sequence[dict], **kw) -> str:
    """The per-class tables of a time series' frames, ``[(frame, stats), …]``, as one CSV
    with a leading ``frame`` column (``kw``: ``provenance`` as for :func:`counts_csv`)."""
    parts = [counts_csv(stats, classes, frame=frame, **kw) for frame, stats in frames]
    return "".join(p if i == 0 else p.split("\n", 1)[1] for i, p in enumerate(parts))


def _provenance_columns(provenance: dict) -> dict:
    model = provenance["model_version"]
    return {
        "job": provenance["job"],
        "image_sha256": provenance["image"]["sha256"],
        "support_set_version": provenance["support_set"]["id"],
        "model_version": f"{model['name']} v{model['version']}",
    }


def probability_summary(probs: np.ndarray, confidence: np.ndarray) -> dict:
    """Small JSON summary of per-chip probabilities: class means and confidence quantiles."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1, np.asarray(probs).shape[-1])
    conf = np.asarray(confidence, dtype=np.float64).ravel()
    q = np.quantile(conf, [0.0, 0.1, 0.5, 0.9, 1.0]) if conf.size else np.zeros(5)
    return {
        "mean_probability": [round(float(v), 6) for v in p.mean(0)] if p.size else [],
        "confidence_quantiles": {
            k: round(float(v), 6)
            for k, v in zip(["min", "p10", "median", "p90", "max"], q, strict=True)
        },
        "low_confidence_chips": int((conf < 0.5).sum()),
    }


def result_document(
    *,
    labels: np.ndarray,
    probs: np.ndarray,
    confidence: np.ndarray,
    stats: dict,
    classes: Sequence[dict],
    grid: dict,
    provenance: dict,
    frame: int = 0,
    series: list | None = None,
    extra: dict | None = None,
) -> dict:
    """Everything about one result as a JSON-ready dict (labels and confidence in full)."""
    return {
        "format": "chiplab.segmentation-result/1",
        "frame": int(frame),
        "grid": grid,
        "classes": class_table(classes, chip_size=grid["chip_size"], offset=grid["offset"])[
            "classes"
        ],
        "labels": np.asarray(labels).astype(int).tolist(),
        "confidence": np.round(np.asarray(confidence, dtype=np.float64), 6).tolist(),
        "probabilities": probability_summary(probs, confidence),
        "stats": stats,
        "table": counts_rows(stats, classes),
        "series": series or [],
        "provenance": provenance,
        **(extra or {}),
    }


def result_json(document: dict) -> bytes:
    return (json.dumps(document, indent=1, sort_keys=False, allow_nan=False) + "\n").encode()
