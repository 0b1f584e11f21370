"""CSVs of chips of an annotation import: ``row,col,class`` (header optional), each class
cell a class name or id, or a key of the import's table."""

from __future__ import annotations

import csv
import io

from django.conf import settings

from common.errors import Invalid, TooLarge

from ..models import LabelClass
from .import_classes import INTEGER, class_resolve, table_size_check


def read_chips_csv(data: bytes, *, max_rows: int) -> list[tuple[int, int, str, int]]:
    """``[(row, col, class text, line number)]`` of a CSV of chips (header optional)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise Invalid("The CSV is not UTF-8 text.", fields={"file": ["encoding"]}) from err
    reader = csv.reader(io.StringIO(text))
    out: list[tuple[int, int, str, int]] = []
    columns = (0, 1, 2)
    try:
        for line, cells in enumerate(reader, start=1):
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if not out and columns == (0, 1, 2) and not INTEGER.match(cells[0]):
                header = [c.lower() for c in cells]
                missing = [n for n in ("row", "col", "class") if n not in header]
                if missing:
                    raise Invalid(
                        f"The CSV's header lacks the column(s) {', '.join(missing)} "
                        "(row,col,class).",
                        fields={"file": ["header"]},
                    )
                columns = tuple(header.index(n) for n in ("row", "col", "class"))
                continue
            if len(out) >= max_rows:
                raise TooLarge(
                    f"The CSV has more than {max_rows} chips.", fields={"file": ["too many rows"]}
                )
            if len(cells) <= max(columns):
                raise Invalid(
                    f"Line {line}: expected row,col,class.", fields={"file": [f"line {line}"]}
                )
            row, col, name = (cells[i] for i in columns)
            if not (INTEGER.match(row) and INTEGER.match(col)):
                raise Invalid(
                    f"Line {line}: row and col are whole numbers (got {row!r}, {col!r}).",
                    fields={"file": [f"line {line}"]},
                )
            out.append((int(row), int(col), name, line))
    except csv.Error as err:
        raise Invalid(f"The CSV could not be read: {err}", fields={"file": ["csv"]}) from err
    if not out:
        raise Invalid("The CSV names no chips.", fields={"file": ["empty"]})
    return out


def csv_labels(data, *, grid, classes, by_id, by_name):
    """(chips [(row, col, class)], skipped chips per reason, classes used) of a CSV."""
    if classes is not None and not isinstance(classes, dict):
        raise Invalid("classes is a table {text: class}.", fields={"classes": ["not a table"]})
    table_size_check(classes)
    table = {str(k).strip(): v for k, v in (classes or {}).items()}
    resolved: dict[str, LabelClass | None] = {}
    chips: dict[tuple[int, int], LabelClass | None] = {}
    rows = read_chips_csv(data, max_rows=settings.CHIPLAB_MAX_CHIPS_PER_GRID)
    for row, col, text, line in rows:
        if not grid.contains(row, col):
            raise Invalid(
                f"Line {line}: chip ({row}, {col}) is outside this {grid.rows}x{grid.cols} grid.",
                code="outside_grid",
                fields={"file": [f"line {line}"]},
            )
        if text not in resolved:
            ref = table.get(text, text)
            resolved[text] = class_resolve(ref, by_id, by_name, where=f"line {line}")
        label_class = resolved[text]
        if (row, col) in chips and chips[(row, col)] != label_class:
            raise Invalid(
                f"Line {line}: chip ({row}, {col}) is given two different classes.",
                code="conflict_in_file",
                fields={"file": [f"line {line}"]},
            )
        chips[(row, col)] = label_class
    labelled = [(r, c, k) for (r, c), k in chips.items() if k is not None]
    unlabelled = len(chips) - len(labelled)
    skipped = {
        "not_listed": grid.rows * grid.cols - len(chips),
        "unlabelled": unlabelled,
    }
    targets = list(dict.fromkeys(k for k in resolved.values() if k is not None))
    return labelled, skipped, targets
