"""The class table every export carries, and the colours of the classes."""

from __future__ import annotations

from collections.abc import Sequence

UNLABELLED = 255


#: PNG text chunk key (and OME MapAnnotation namespace) holding the class table
CLASS_TABLE_KEY = "chiplab:classes"


PROVENANCE_KEY = "chiplab:provenance"


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' (or 'rrggbb', '#rgb') -> (r, g, b); anything else is grey."""
    value = str(colour or "").lstrip("#")
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    try:
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except (ValueError, IndexError):
        return 128, 128, 128


def class_table(classes: Sequence[dict], *, chip_size: int, offset: Sequence[int]) -> dict:
    """The self-describing class table embedded in mask exports."""
    return {
        "classes": [
            {
                "index": i,
                "id": str(c.get("id", "")),
                "name": c.get("name", f"class {i}"),
                "colour": c.get("colour", ""),
            }
            for i, c in enumerate(classes)
        ],
        "unlabelled": UNLABELLED,
        "resolution": "pixel",
        "chip_size": int(chip_size),
        "offset": [int(offset[0]), int(offset[1])],
    }


def palette(classes: Sequence[dict]) -> list[tuple[int, int, int]]:
    """256 entries: the class colours at their indices, grey elsewhere (UNLABELLED too)."""
    palette = [(128, 128, 128)] * 256
    for i, c in enumerate(classes[:UNLABELLED]):
        palette[i] = hex_to_rgb(c.get("colour", ""))
    return palette
