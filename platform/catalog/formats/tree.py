"""Turn tag trees (dicts, lists, numpy values, XML) into bounded JSON-serialisable dicts."""

from __future__ import annotations

import datetime as dt
import enum
import math
import numbers
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np

MAX_DEPTH = 16
MAX_ITEMS = 256  # per dict or list
MAX_STRING = 16384  # characters
MAX_BYTES_SHOWN = 64


def json_safe(value: Any, *, depth: int = 0) -> Any:
    """Return ``value`` as JSON-serialisable data, truncating deep, long or binary parts."""
    if depth > MAX_DEPTH:
        return "<truncated: too deep>"
    if isinstance(value, enum.Enum):
        return value.name
    if value is None or isinstance(value, (bool, str, int)):
        return _short(value) if isinstance(value, str) else value
    if isinstance(value, np.generic):
        return json_safe(value.item(), depth=depth)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):  # float, Pillow's IFDRational…
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(bytes(value))
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        if value.size > MAX_ITEMS:
            return f"<array shape={list(value.shape)} dtype={value.dtype}>"
        return json_safe(value.tolist(), depth=depth)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["<truncated>"] = f"{len(value) - MAX_ITEMS} more entries"
                break
            out[str(key)] = json_safe(item, depth=depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        out_list = [json_safe(item, depth=depth + 1) for item in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            out_list.append(f"<truncated: {len(items) - MAX_ITEMS} more items>")
        return out_list
    return _short(repr(value))


def _short(text: str) -> str:
    text = text.replace("\x00", "")
    if len(text) > MAX_STRING:
        return text[:MAX_STRING] + f"<truncated: {len(text) - MAX_STRING} more characters>"
    return text


def _bytes(data: bytes) -> str:
    try:
        text = data.rstrip(b"\x00").decode("utf-8")
        if text.isprintable():
            return _short(text)
    except UnicodeDecodeError:
        pass
    more = "…" if len(data) > MAX_BYTES_SHOWN else ""
    return f"<{len(data)} bytes: {data[:MAX_BYTES_SHOWN].hex()}{more}>"


def xml_to_dict(text: str) -> tuple[str, dict[str, Any]]:
    """Parse XML into ``(root tag, dict)``; leaves become text, repeated children lists.

    Namespaces are dropped from tag names; attributes appear as ``"@name"`` keys.
    Raises ``xml.etree.ElementTree.ParseError`` for malformed XML. (ElementTree never
    fetches external entities, and the bundled expat refuses entity-expansion bombs.)
    """
    root = ET.fromstring(text)
    return _local(root.tag), _element(root)


def _element(element: ET.Element) -> Any:
    children = list(element)
    attributes = {f"@{_local(k)}": v for k, v in element.attrib.items() if "}" not in k}
    if not children:
        text = (element.text or "").strip()
        if attributes:
            if text:
                attributes["#text"] = text
            return attributes
        return text
    out: dict[str, Any] = dict(attributes)
    for child in children:
        key = _local(child.tag)
        value = _element(child)
        if key in out:
            if not isinstance(out[key], list):
                out[key] = [out[key]]
            out[key].append(value)
        else:
            out[key] = value
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def dig(tree: Any, *path: str) -> Any:
    """Return ``tree[path[0]][path[1]]…`` or ``None`` when any step is missing."""
    node = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
