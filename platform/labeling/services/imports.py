"""Annotation import: a label mask or a CSV of chips turned into one user's votes or a curator's
gold answers on a grid, in one transaction.

Inputs (the format is told by the file's first bytes):

- an integer mask (PNG or TIFF, grey, 16-bit, indexed colour) of the image's size, one value
  per class; ``classes`` maps values to classes (``{"1": "STO", "2": "Ge", "0": null}``);
- an RGB(A) mask (PNG or TIFF) with a colour table (``{"#ff0000": "STO", ...}``); fully
  transparent pixels belong to no class; an indexed-colour PNG also takes a colour table;
- a CSV of chips: ``row,col,class`` (a header naming these columns is optional); the class
  cell is a class name or id, or a key of ``classes``.

Classes are named by id or by the name of an active class of the schema; ``null`` marks values
that belong to no class (background). A mask value or colour that ``classes`` does not name is
refused, so that a wrong table never imports silently.

A chip of a mask gets the class covering most of its pixels when that share (of the chip's
pixels, background included) is at least ``threshold``; otherwise (mixed chips, a tie, only
background) it is skipped. Imported votes are ordinary votes of the importing user (source
"click", ``client_id`` ``import:<import id>:<row>:<col>``), so each becomes that user's current
label of its chip; gold answers are set as ``gold_set`` sets them (a vote with source "gold" and
the reference answer). Skipped chips are left as they were.
"""

from __future__ import annotations

import uuid
from collections import Counter

from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Invalid, TooLarge, Unsupported

from ..models import GoldChip, Grid, LabelSchema, Vote, VoteSource
from .import_classes import schema_classes
from .import_csv import csv_labels
from .import_masks import PNG, TIFF, mask_labels

#: the largest file an import reads
MAX_IMPORT_BYTES = 64 * 1024**2
#: the largest mask (pixels) an import decodes: 8192 x 8192 (read per call: tests lower it)
MAX_MASK_PIXELS = 8192**2
#: a chip's majority class must cover at least this share of it (bounds and default)
MIN_THRESHOLD, MAX_THRESHOLD, DEFAULT_THRESHOLD = 0.5, 1.0, 0.75
TARGETS = ("votes", "gold")
#: rows written per INSERT
BATCH = 2000


def sniff(data: bytes) -> str:
    """``mask`` (PNG, TIFF) or ``csv`` from a file's first bytes."""
    if data.startswith(PNG) or data[:4] in TIFF:
        return "mask"
    head = data[:4096]
    if b"\x00" in head:
        raise Unsupported(
            "Import a label mask (PNG or TIFF) or a CSV of chips (row,col,class).",
            fields={"file": ["unknown format"]},
        )
    return "csv"


# --- the service -----------------------------------------------------------------------
@transaction.atomic
def annotations_import(
    *,
    user,
    grid: Grid,
    data: bytes,
    classes: dict | None = None,
    schema: LabelSchema | None = None,
    target: str = "votes",
    threshold: float = DEFAULT_THRESHOLD,
) -> dict:
    """Import a label mask or a CSV of chips into ``grid`` as ``user``'s votes or (curators)
    as gold answers; all or nothing. Returns the report: chips per class and skipped chips.

    ``schema``: the dataset's default schema when None. See the module for the formats.
    """
    lab_id = grid.image.dataset.lab_id
    if target not in TARGETS:
        require_role(user=user, lab_id=lab_id, role=Role.ANNOTATOR)
        raise Invalid(f"Import as one of {', '.join(TARGETS)}.", fields={"target": ["unknown"]})
    require_role(
        user=user, lab_id=lab_id, role=Role.CURATOR if target == "gold" else Role.ANNOTATOR
    )
    if len(data) > MAX_IMPORT_BYTES:
        raise TooLarge(
            f"An import file may have at most {MAX_IMPORT_BYTES // 1024**2} MB.",
            fields={"file": ["too large"]},
        )
    if not MIN_THRESHOLD <= threshold <= MAX_THRESHOLD:
        raise Invalid(
            f"threshold is a share between {MIN_THRESHOLD} and {MAX_THRESHOLD}.",
            fields={"threshold": ["range"]},
        )
    if schema is None:
        schema = _default_schema(grid)
    elif schema.dataset_id != grid.image.dataset_id:
        raise Invalid(
            "That schema belongs to another dataset than this grid's image.",
            fields={"schema": ["other dataset"]},
        )
    by_id, by_name = schema_classes(schema)
    kind = sniff(data)
    if kind == "mask":
        chips, skipped, targets = mask_labels(
            data,
            grid=grid,
            classes=classes,
            by_id=by_id,
            by_name=by_name,
            threshold=threshold,
            max_pixels=MAX_MASK_PIXELS,
        )
    else:
        chips, skipped, targets = csv_labels(
            data, grid=grid, classes=classes, by_id=by_id, by_name=by_name
        )
    import_id = uuid.uuid4().hex
    _write(user=user, grid=grid, schema=schema, chips=chips, target=target, import_id=import_id)
    per_class = Counter(k.pk for _, _, k in chips)
    return {
        "import": import_id,
        "grid": str(grid.pk),
        "schema": str(schema.pk),
        "target": target,
        "format": kind,
        "threshold": threshold if kind == "mask" else None,
        "chips": grid.rows * grid.cols,
        "labelled": len(chips),
        "skipped": grid.rows * grid.cols - len(chips),
        "skipped_reasons": skipped,
        "classes": [
            {"id": str(k.pk), "name": k.name, "chips": per_class.get(k.pk, 0)} for k in targets
        ],
    }


def _default_schema(grid: Grid) -> LabelSchema:
    schemas = list(LabelSchema.objects.filter(dataset_id=grid.image.dataset_id))
    default = [s for s in schemas if s.is_default] or (schemas if len(schemas) == 1 else [])
    if not default:
        raise Invalid(
            f"Name the label schema: this dataset has {len(schemas)} schemas and no default.",
            fields={"schema": ["required"]},
        )
    return default[0]


def _write(*, user, grid, schema, chips, target: str, import_id: str) -> None:
    source = VoteSource.GOLD if target == "gold" else VoteSource.CLICK
    Vote.objects.bulk_create(
        (
            Vote(
                user=user,
                grid=grid,
                schema=schema,
                row=r,
                col=c,
                label_class=k,
                source=source,
                client_id=f"import:{import_id}:{r}:{c}",
            )
            for r, c, k in chips
        ),
        batch_size=BATCH,
    )
    if target != "gold":
        return
    now = timezone.now()
    GoldChip.objects.bulk_create(
        (
            GoldChip(
                grid=grid,
                schema=schema,
                row=r,
                col=c,
                label_class=k,
                set_by=user,
                created=now,
                modified=now,
            )
            for r, c, k in chips
        ),
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["grid", "schema", "row", "col"],
        update_fields=["label_class", "set_by", "modified"],
    )
