"""The class table of an annotation import: a mask's values or colours, or a CSV's class
cells, resolved to active classes of the schema (by id or name; ``null``: background)."""

from __future__ import annotations

import re

from common.errors import Invalid

from ..models import LabelClass, LabelSchema

#: entries of a value/colour -> class table
MAX_CLASS_ENTRIES = 256

COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
INTEGER = re.compile(r"^[+-]?\d{1,10}$")


def table_size_check(classes: dict | None) -> None:
    """Refuse a class table of more than :data:`MAX_CLASS_ENTRIES` entries."""
    if classes and len(classes) > MAX_CLASS_ENTRIES:
        raise Invalid(
            f"At most {MAX_CLASS_ENTRIES} entries in the class table.",
            fields={"classes": ["too many"]},
        )


def schema_classes(schema: LabelSchema) -> tuple[dict, dict]:
    active = list(schema.classes.filter(removed_at=None))
    return {str(c.pk): c for c in active}, {c.name: c for c in active}


def class_resolve(ref, by_id: dict, by_name: dict, *, where: str) -> LabelClass | None:
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


def mask_table(classes: dict, by_id: dict, by_name: dict) -> tuple[bool, dict]:
    """(colours?, {value: LabelClass | None}) of a request's table."""
    if not isinstance(classes, dict) or not classes:
        raise Invalid(
            'A mask needs a table of its values: {"1": "STO", "2": "Ge", "0": null} or '
            '{"#ff0000": "STO", ...}.',
            fields={"classes": ["required"]},
        )
    table_size_check(classes)
    keys = [str(k).strip() for k in classes]
    colours = [bool(COLOUR.match(k)) for k in keys]
    if any(colours) and not all(colours):
        raise Invalid(
            "The table mixes colours and values: use one kind.", fields={"classes": ["mixed"]}
        )
    table: dict[int, LabelClass | None] = {}
    for key, ref in zip(keys, classes.values(), strict=True):
        if all(colours):
            value = int(key[1:], 16)
        elif INTEGER.match(key):
            value = int(key)
        else:
            raise Invalid(
                f"'{key}' is neither a mask value (a whole number) nor a colour (#rrggbb).",
                fields={"classes": ["bad key"]},
            )
        if value in table:
            raise Invalid(f"'{key}' appears twice in the table.", fields={"classes": ["twice"]})
        table[value] = class_resolve(ref, by_id, by_name, where=f"for {key}")
    return all(colours), table
