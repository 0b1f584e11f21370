"""The results of a dataset as one table: per image, its latest result's class fractions (with
their interval), chip counts and object counts; an aggregate over the images; a CSV of it.

Reads only (a selector): the dataset must be visible to the user *and* the user a member of
its lab (results are the lab's; an outsider, even on a public dataset, gets a 404). The table
is built from two queries whatever the dataset holds (its images, and the newest succeeded
frame-0 result of each image, ``DISTINCT ON``), and is bounded by :data:`MAX_IMAGES`.
"""

from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass, field

from accounts.models import Role
from accounts.selectors import require_role
from catalog.selectors import dataset_get
from common.errors import Invalid, TooLarge

from .exports import csv_cell, interval_label
from .models import JobStatus
from .selectors import results_visible_to

#: images one table holds (a larger dataset is split, or read per image)
MAX_IMAGES = 5000
#: sort keys besides ``fraction:<class>`` and ``objects:<class>`` (``-`` first: descending)
SORT_KEYS = ("filename", "created", "confidence", "result")
RESULT_FILTERS = ("all", "with", "without")

_STATS_KEYS = ("fractions_ci_low", "fractions_ci_high", "interval", "bootstrap", "objects")


@dataclass
class DatasetResults:
    dataset: object
    classes: list[dict]  # [{"name", "colour"}] in order of first appearance
    rows: list[dict]  # one per image (see _row)
    aggregate: list[dict] = field(default_factory=list)


def _float(value):
    return None if value is None else float(value)


def _row(image: dict, result: dict | None) -> dict:
    """One image of the table: its latest result (or none) per class by name."""
    row = {
        "image": str(image["id"]),
        "filename": image["original_filename"],
        "status": image["status"],
        "width": image["width"],
        "height": image["height"],
        "result": None,
        "job": None,
        "created": None,
        "model_version": "",
        "mean_confidence": None,
        "interval": "",
        "classes": [],
    }
    if result is None:
        return row
    n = len(result["classes"])
    low = result["stats__fractions_ci_low"] or [None] * n
    high = result["stats__fractions_ci_high"] or [None] * n
    std = result["fraction_std"] or [None] * n
    # objects are keyed by class name; their class index says which class they belong to
    objects = {
        o.get("class_index"): o.get("n_total")
        for o in (result["stats__objects"] or {}).values()
        if isinstance(o, dict)
    }
    stats = {
        "interval": result["stats__interval"],
        "fractions_ci_low": result["stats__fractions_ci_low"],
        "fractions_std": result["fraction_std"],
        "bootstrap": result["stats__bootstrap"] or {},
    }
    row.update(
        result=str(result["id"]),
        job=str(result["job_id"]),
        created=result["created"],
        model_version=f"{result['job__model_version__name']} "
        f"v{result['job__model_version__version']}",
        mean_confidence=float(result["mean_confidence"]),
        interval=interval_label(stats),
        classes=[
            {
                "name": c.get("name", f"class {i}"),
                "colour": c.get("colour", ""),
                "fraction": float(result["fractions"][i]),
                "fraction_ci_low": _float(low[i] if i < len(low) else None),
                "fraction_ci_high": _float(high[i] if i < len(high) else None),
                "fraction_std": _float(std[i] if i < len(std) else None),
                "chips": int(result["counts"][i]),
                "objects": objects.get(i),
            }
            for i, c in enumerate(result["classes"])
        ],
    )
    return row


def _sort_value(row: dict, key: str):
    if key == "filename":
        return row["filename"].lower()
    if key == "created":
        return row["created"]
    if key == "confidence":
        return row["mean_confidence"]
    if key == "result":
        return row["result"]
    what, _, name = key.partition(":")
    hit = next((c for c in row["classes"] if c["name"] == name), None)
    if hit is None:
        return None
    return hit["fraction"] if what == "fraction" else hit["objects"]


def parse_sort(sort: str | None) -> tuple[str, bool]:
    """``(key, descending)`` of a sort parameter; unknown keys are a 400."""
    sort = (sort or "filename").strip()
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    what, sep, name = key.partition(":")
    if not (key in SORT_KEYS or (sep and what in ("fraction", "objects") and name)):
        problem = (
            f"use one of {', '.join(SORT_KEYS)}, fraction:<class> or objects:<class>, "
            "with a leading - for descending order"
        )
        raise Invalid(f"sort: {problem}.", fields={"sort": [problem]})
    return key, descending


def _sorted(rows: list[dict], key: str, descending: bool) -> list[dict]:
    """Rows by ``key``; rows without a value last in either direction, ties by filename."""
    rows = sorted(rows, key=lambda r: r["filename"].lower())
    known = [r for r in rows if _sort_value(r, key) is not None]
    unknown = [r for r in rows if _sort_value(r, key) is None]
    return sorted(known, key=lambda r: _sort_value(r, key), reverse=descending) + unknown


def _aggregate(rows: list[dict], classes: list[dict]) -> list[dict]:
    """Per class: mean fraction over the images whose result has it, the spread across those
    images (sample s.d., min, max) and the number of images."""
    out = []
    for c in classes:
        values = [k["fraction"] for r in rows for k in r["classes"] if k["name"] == c["name"]]
        n = len(values)
        mean = statistics.fmean(values) if n else None
        sd = statistics.stdev(values) if n > 1 else (0.0 if n else None)
        out.append(
            {
                "name": c["name"],
                "colour": c["colour"],
                "n_images": n,
                "mean": mean,
                "sd": sd,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
            }
        )
    return out


def dataset_results(
    *,
    user,
    dataset_id,
    q: str = "",
    results: str = "all",
    sort: str | None = None,
) -> DatasetResults:
    """The dataset's images with their latest succeeded result (frame 0), filtered by file
    name (``q``, case-insensitive substring) and by having a result (``results``: all,
    with, without), sorted by ``sort`` (see :func:`parse_sort`)."""
    dataset = dataset_get(user=user, dataset_id=dataset_id)
    require_role(user=user, lab_id=dataset.lab_id, role=Role.VIEWER)
    if results not in RESULT_FILTERS:
        problem = f"use one of {', '.join(RESULT_FILTERS)}"
        raise Invalid(f"results: {problem}.", fields={"results": [problem]})
    key, descending = parse_sort(sort)
    images = dataset.images.order_by("created")
    if q:
        images = images.filter(original_filename__icontains=q)
    images = list(
        images.values("id", "original_filename", "status", "width", "height")[: MAX_IMAGES + 1]
    )
    if len(images) > MAX_IMAGES:
        raise TooLarge(
            f"The table holds at most {MAX_IMAGES} images; narrow it with a file-name filter.",
            code="table_too_large",
        )
    latest = {
        r["image_id"]: r
        for r in results_visible_to(user=user)
        .filter(image__dataset=dataset, frame=0, job__status=JobStatus.SUCCEEDED)
        .order_by("image_id", "-created")
        .distinct("image_id")
        .values(
            "id",
            "image_id",
            "job_id",
            "created",
            "classes",
            "counts",
            "fractions",
            "fraction_std",
            "mean_confidence",
            "job__model_version__name",
            "job__model_version__version",
            *(f"stats__{k}" for k in _STATS_KEYS),
        )
    }
    rows = [_row(image, latest.get(image["id"])) for image in images]
    if results == "with":
        rows = [r for r in rows if r["result"]]
    elif results == "without":
        rows = [r for r in rows if not r["result"]]
    classes: dict[str, dict] = {}
    for row in rows:
        for c in row["classes"]:
            classes.setdefault(c["name"], {"name": c["name"], "colour": c["colour"]})
    rows = _sorted(rows, key, descending)
    return DatasetResults(
        dataset=dataset,
        classes=list(classes.values()),
        rows=rows,
        aggregate=_aggregate(rows, list(classes.values())),
    )


CSV_FIELDS = (
    "image",
    "filename",
    "result",
    "job",
    "created",
    "model_version",
    "mean_confidence",
    "class",
    "fraction",
    "fraction_ci_low",
    "fraction_ci_high",
    "fraction_std",
    "interval",
    "chips",
    "objects",
)


def dataset_results_csv(table: DatasetResults) -> str:
    """The table as tidy CSV: one line per (image, class) of its latest result, one line with
    empty class cells for an image without a result; every cell safe to open in a
    spreadsheet (``exports.csv_cell``)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        base = {
            "image": row["image"],
            "filename": row["filename"],
            "result": row["result"],
            "job": row["job"],
            "created": row["created"].isoformat() if row["created"] else None,
            "model_version": row["model_version"] or None,
            "mean_confidence": row["mean_confidence"],
            "interval": row["interval"] or None,
        }
        for c in row["classes"] or [{}]:
            values = base | {
                "class": c.get("name"),
                "fraction": c.get("fraction"),
                "fraction_ci_low": c.get("fraction_ci_low"),
                "fraction_ci_high": c.get("fraction_ci_high"),
                "fraction_std": c.get("fraction_std"),
                "chips": c.get("chips"),
                "objects": c.get("objects"),
            }
            writer.writerow({k: csv_cell(v) for k, v in values.items()})
    return buf.getvalue()
