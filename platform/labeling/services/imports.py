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

import csv
import io
import re
import uuid
from collections import Counter

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Invalid, TooLarge, Unsupported

from ..models import GoldChip, Grid, LabelClass, LabelSchema, Vote, VoteSource

#: the largest file an import reads
MAX_IMPORT_BYTES = 64 * 1024**2
#: the largest mask (pixels) an import decodes: 8192 x 8192
MAX_MASK_PIXELS = 8192**2
#: entries of a value/colour -> class table
MAX_CLASS_ENTRIES = 256
#: a chip's majority class must cover at least this share of it (bounds and default)
MIN_THRESHOLD, MAX_THRESHOLD, DEFAULT_THRESHOLD = 0.5, 1.0, 0.75
TARGETS = ("votes", "gold")
#: rows written per INSERT
BATCH = 2000

_PNG = b"\x89PNG\r\n\x1a\n"
_TIFF = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_INTEGER = re.compile(r"^[+-]?\d{1,10}$")


# --- reading ---------------------------------------------------------------------------
def sniff(data: bytes) -> str:
    """``mask`` (PNG, TIFF) or ``csv`` from a file's first bytes."""
    if data.startswith(_PNG) or data[:4] in _TIFF:
        return "mask"
    head = data[:4096]
    if b"\x00" in head:
        raise Unsupported(
            "Import a label mask (PNG or TIFF) or a CSV of chips (row,col,class).",
            fields={"file": ["unknown format"]},
        )
    return "csv"


def read_mask(data: bytes, *, colours: bool) -> np.ndarray:
    """The mask's pixels (H, W) as int64: the integer value, or with ``colours`` the colour
    ``r << 16 | g << 8 | b`` (-1 where an RGBA pixel is fully transparent).

    The declared size is checked against :data:`MAX_MASK_PIXELS` before anything is decoded.
    """
    if data.startswith(_PNG):
        return _read_png(data, colours=colours)
    return _read_tiff(data, colours=colours)


def _too_big(width: int, height: int) -> None:
    if width * height > MAX_MASK_PIXELS:
        raise TooLarge(
            f"The mask is {width}x{height} px; an import decodes at most {MAX_MASK_PIXELS} px.",
            fields={"file": ["too many pixels"]},
        )


def _read_png(data: bytes, *, colours: bool) -> np.ndarray:
    from PIL import Image as PILImage

    try:
        img = PILImage.open(io.BytesIO(data))
        _too_big(*img.size)
        mode = img.mode
        if colours:
            if mode not in ("RGB", "RGBA", "P", "PA"):
                raise Invalid(
                    f"A colour table needs an RGB or indexed-colour mask; this PNG is '{mode}' "
                    "(give value=class pairs).",
                    fields={"classes": ["colours for a grey mask"]},
                )
            return _rgb_values(np.asarray(img.convert("RGBA")))
        if mode in ("RGB", "RGBA"):
            raise Invalid(
                'This mask is RGB: give a colour table ({"#rrggbb": class}).',
                fields={"classes": ["values for an RGB mask"]},
            )
        if mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L"):
            raise Unsupported(
                f"PNG masks of mode '{mode}' are not supported; use grey, 16-bit, indexed or RGB.",
                fields={"file": ["mode"]},
            )
        return np.asarray(img).astype(np.int64)
    except PILImage.DecompressionBombError as err:
        raise TooLarge(str(err), fields={"file": ["too many pixels"]}) from err
    except (OSError, SyntaxError, ValueError) as err:
        raise Invalid(f"The PNG could not be read: {err}", fields={"file": ["unreadable"]}) from err


def _read_tiff(data: bytes, *, colours: bool) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = tif.pages
            page = pages.first
            shape = tuple(page.shape)
            if len(pages) > 1 or len(shape) not in (2, 3):
                raise Invalid(
                    "A TIFF mask holds one 2-D plane (no stacks, series or channels beyond RGB).",
                    fields={"file": ["not one plane"]},
                )
            height, width = shape[:2]
            _too_big(width, height)
            array = page.asarray()
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as err:
        raise Invalid(
            f"The TIFF could not be read: {err}", fields={"file": ["unreadable"]}
        ) from err
    if array.ndim == 3:
        if not colours or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
            raise Invalid(
                "A TIFF with channels is read as 8-bit RGB(A) with a colour table "
                '({"#rrggbb": class}).',
                fields={"classes": ["values for an RGB mask"]},
            )
        return _rgb_values(array)
    if colours:
        raise Invalid(
            "A colour table needs an RGB mask; this TIFF has one channel (give value=class pairs).",
            fields={"classes": ["colours for a grey mask"]},
        )
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    if array.dtype.kind not in "iu":
        raise Invalid(
            f"A label mask holds integers; this TIFF holds {array.dtype}.",
            fields={"file": ["not integers"]},
        )
    return array.astype(np.int64)


def _rgb_values(rgba: np.ndarray) -> np.ndarray:
    a = rgba.astype(np.int64)
    values = (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]
    if rgba.shape[2] == 4:
        values[rgba[..., 3] == 0] = -1
    return values


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
            if not out and columns == (0, 1, 2) and not _INTEGER.match(cells[0]):
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
            if not (_INTEGER.match(row) and _INTEGER.match(col)):
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


# --- classes ---------------------------------------------------------------------------
def _schema_classes(schema: LabelSchema) -> tuple[dict, dict]:
    active = list(schema.classes.filter(removed_at=None))
    return {str(c.pk): c for c in active}, {c.name: c for c in active}


def _resolve(ref, by_id: dict, by_name: dict, *, where: str) -> LabelClass | None:
    if ref is None:
        return None
    text = str(ref).strip()
    found = by_id.get(text.lower()) or by_name.get(text)
    if found is None:
        raise Invalid(
            f"Unknown class '{text}' ({where}): use the name or id of an active class of the "
            f"schema ({', '.join(sorted(by_name)) or 'it has none'}).",
            code="unknown_class",
            fields={"classes": ["unknown class"]},
        )
    return found


def _mask_table(classes: dict, by_id: dict, by_name: dict) -> tuple[bool, dict]:
    """(colours?, {value: LabelClass | None}) of a request's table."""
    if not isinstance(classes, dict) or not classes:
        raise Invalid(
            'A mask needs a table of its values: {"1": "STO", "2": "Ge", "0": null} or '
            '{"#ff0000": "STO", ...}.',
            fields={"classes": ["required"]},
        )
    if len(classes) > MAX_CLASS_ENTRIES:
        raise Invalid(
            f"At most {MAX_CLASS_ENTRIES} entries in the class table.",
            fields={"classes": ["too many"]},
        )
    keys = [str(k).strip() for k in classes]
    colours = [bool(_COLOUR.match(k)) for k in keys]
    if any(colours) and not all(colours):
        raise Invalid(
            "The table mixes colours and values: use one kind.", fields={"classes": ["mixed"]}
        )
    table: dict[int, LabelClass | None] = {}
    for key, ref in zip(keys, classes.values(), strict=True):
        if all(colours):
            value = int(key[1:], 16)
        elif _INTEGER.match(key):
            value = int(key)
        else:
            raise Invalid(
                f"'{key}' is neither a mask value (a whole number) nor a colour (#rrggbb).",
                fields={"classes": ["bad key"]},
            )
        if value in table:
            raise Invalid(f"'{key}' appears twice in the table.", fields={"classes": ["twice"]})
        table[value] = _resolve(ref, by_id, by_name, where=f"for {key}")
    return all(colours), table


# --- chips -----------------------------------------------------------------------------
def chip_majority(
    index: np.ndarray, *, grid: Grid, n_classes: int, threshold: float
) -> tuple[np.ndarray, dict[str, int]]:
    """Per chip, the class (0..n-1) covering at least ``threshold`` of it, or -1.

    ``index`` (H, W): class index per pixel, -1 for background. Returns the (rows, cols) labels
    and how many chips were skipped for which reason (``mixed``: no class reaches the
    threshold or two tie; ``unlabelled``: only background).
    """
    s, top, left = grid.chip_size, grid.offset_y, grid.offset_x
    region = index[top : top + grid.rows * s, left : left + grid.cols * s]
    blocks = region.reshape(grid.rows, s, grid.cols, s)
    counts = np.stack(
        [(blocks == k).sum(axis=(1, 3)) for k in range(n_classes)], axis=-1
    )  # (rows, cols, n)
    best = counts.argmax(-1)
    top_count = counts.max(-1)
    ties = (counts == top_count[..., None]).sum(-1) > 1
    share = top_count / float(s * s)
    labelled = (share >= threshold) & ~ties & (top_count > 0)
    labels = np.where(labelled, best, -1)
    unlabelled = int((top_count == 0).sum())
    return labels, {
        "mixed": int((~labelled).sum()) - unlabelled,
        "unlabelled": unlabelled,
    }


def _mask_labels(data, *, grid, classes, by_id, by_name, threshold):
    colours, table = _mask_table(classes, by_id, by_name)
    values = read_mask(data, colours=colours)
    image = grid.image
    if values.shape != (image.height, image.width):
        height, width = values.shape
        raise Invalid(
            f"The mask is {width}x{height} px; the image is {image.width}x{image.height}.",
            code="size_mismatch",
            fields={"file": ["size differs from the image"]},
        )
    # one sorted lookup, not a pass per table entry: 256 entries on 64 Mpx stay fast
    keys = np.array(sorted(table), np.int64)
    slot = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    known = keys[slot] == values
    if colours:
        known |= values == -1  # transparent pixels: background
    if not known.all():
        unknown = np.unique(values[~known]).tolist()
        shown = [f"#{v:06x}" if colours else str(v) for v in unknown[:5]]
        raise Invalid(
            f"The mask holds {'colours' if colours else 'values'} the table does not name: "
            f"{', '.join(shown)}{' …' if len(unknown) > 5 else ''} (map them, or to null for "
            "background).",
            code="unknown_value",
            fields={"classes": ["values missing"]},
        )
    targets = list(dict.fromkeys(k for k in table.values() if k is not None))
    position = {k.pk: i for i, k in enumerate(targets)}
    lut = np.array(
        [-1 if table[int(v)] is None else position[table[int(v)].pk] for v in keys], np.int16
    )
    index = np.where(known & (values != -1) if colours else known, lut[slot], -1)
    del values, slot, known
    labels, skipped = chip_majority(index, grid=grid, n_classes=len(targets), threshold=threshold)
    rows, cols = np.nonzero(labels >= 0)
    chips = [(int(r), int(c), targets[int(labels[r, c])]) for r, c in zip(rows, cols, strict=True)]
    return chips, skipped, targets


def _csv_labels(data, *, grid, classes, by_id, by_name):
    if classes is not None and not isinstance(classes, dict):
        raise Invalid("classes is a table {text: class}.", fields={"classes": ["not a table"]})
    if classes and len(classes) > MAX_CLASS_ENTRIES:
        raise Invalid(
            f"At most {MAX_CLASS_ENTRIES} entries in the class table.",
            fields={"classes": ["too many"]},
        )
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
            resolved[text] = _resolve(ref, by_id, by_name, where=f"line {line}")
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
    by_id, by_name = _schema_classes(schema)
    kind = sniff(data)
    if kind == "mask":
        chips, skipped, targets = _mask_labels(
            data, grid=grid, classes=classes, by_id=by_id, by_name=by_name, threshold=threshold
        )
    else:
        chips, skipped, targets = _csv_labels(
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
