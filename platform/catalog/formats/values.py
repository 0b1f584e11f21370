"""Parse the loosely typed values found in instrument tags: numbers with units and dates."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from .units import to_nm

_NUMBER_WITH_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")
_FRACTION = re.compile(r"(\.\d{6})\d+")

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d/%m/%Y", "%d/%m/%y", "%d.%m.%Y", "%Y/%m/%d")
_TIME_FORMATS = ("%H:%M:%S", "%I:%M:%S %p", "%H:%M", "%I:%M %p", "%H:%M:%S.%f")


def as_float(value: Any) -> float | None:
    """``value`` as a finite float, or ``None``."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def number_with_unit(text: Any) -> tuple[float, str] | None:
    """Split ``"-806.0 nm"`` or ``"8cm"`` into ``(-806.0, "nm")`` / ``(8.0, "cm")``."""
    if not isinstance(text, str):
        number = as_float(text)
        return None if number is None else (number, "")
    match = _NUMBER_WITH_UNIT.match(text)
    if not match:
        return None
    return float(match.group(1)), match.group(2)


def length_nm(text: Any, default_unit: str = "nm") -> float | None:
    """A signed length such as ``"-806.0 nm"`` in nanometres, or ``None``."""
    parsed = number_with_unit(text)
    if parsed is None:
        return None
    value, unit = parsed
    converted = to_nm(abs(value), unit or default_unit)
    if converted is None:
        return 0.0 if value == 0 else None
    if converted[1] != "nm":
        return None
    return math.copysign(converted[0], value)


def iso_datetime(text: Any) -> str | None:
    """Normalise an ISO 8601 timestamp (any fractional precision) or return ``None``."""
    if not isinstance(text, str) or not text.strip():
        return None
    cleaned = _FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00")
    try:
        return dt.datetime.fromisoformat(cleaned).isoformat()
    except ValueError:
        return None


def datetime_from_parts(date_text: Any, time_text: Any) -> str | None:
    """ISO 8601 from a separate date and time as written by DM or FEI (US order first).

    Day/month order is ambiguous in such tags; month/day is tried first because it is what
    the instruments' software writes by default. Unparseable time keeps the date only.
    """
    if not isinstance(date_text, str) or not date_text.strip():
        return None
    date = _parse(date_text.strip(), _DATE_FORMATS)
    if date is None:
        return None
    time_clean = _strip_zone(time_text) if isinstance(time_text, str) else ""
    time = _parse(time_clean, _TIME_FORMATS) if time_clean else None
    if time is None:
        return date.date().isoformat()
    return dt.datetime.combine(date.date(), time.time()).isoformat()


def _strip_zone(text: str) -> str:
    # DM appends a zone name or offset after the time ("3:04:39 PM PST", "15:04:39 +0100").
    parts = text.strip().split()
    if len(parts) >= 2 and parts[1].upper() in ("AM", "PM"):
        return " ".join(parts[:2])
    return parts[0] if parts else ""


def _parse(text: str, formats: tuple[str, ...]) -> dt.datetime | None:
    for fmt in formats:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def prune(mapping: dict[str, Any]) -> dict[str, Any]:
    """Drop ``None`` and empty-string values."""
    return {k: v for k, v in mapping.items() if v is not None and v != ""}
