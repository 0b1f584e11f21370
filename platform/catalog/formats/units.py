"""Length units: normalise pixel sizes to nanometres and build calibration dicts."""

from __future__ import annotations

import math
from typing import Any

# Nanometres per unit, keyed by the lower-cased spellings seen in DM, ImageJ, OME and TIFF.
_NM_PER_UNIT: dict[str, float] = {
    "pm": 1e-3,
    "å": 0.1,
    "a": 0.1,
    "angstrom": 0.1,
    "angstroms": 0.1,
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometre": 1.0,
    "µm": 1e3,
    "um": 1e3,
    "micron": 1e3,
    "microns": 1e3,
    "micrometer": 1e3,
    "micrometre": 1e3,
    "mm": 1e6,
    "cm": 1e7,
    "m": 1e9,
    "meter": 1e9,
    "metre": 1e9,
    "inch": 2.54e7,
}

# Spellings of "no unit": the image is not calibrated.
_NO_UNIT = {"", "pixel", "pixels", "px", "none", "unknown"}

# TIFF/PNG/JPEG densities at or below this (in dots per inch) are screen or print defaults
# written by every image library (72, 96, 300 dpi…), not a microscope calibration.
MAX_DEFAULT_DPI = 1200.0


def canonical_unit(unit: str | None) -> str:
    """Lower-cased unit with micro and ångström spellings unified (``"\\u00B5m"`` → ``"µm"``)."""
    text = (unit or "").strip()
    text = text.replace("\\u00B5", "µ").replace("\\u00b5", "µ").replace("\\u00C5", "Å")
    text = text.replace("\u03bc", "µ").replace("\u212b", "Å")
    return text.lower()


def to_nm(value: float, unit: str | None) -> tuple[float, str] | None:
    """Convert a length to nanometres; reciprocal lengths go to 1/nm; other units stay as given.

    Returns ``None`` for a missing or non-positive value or a "pixel"/empty unit.
    """
    if value is None or not math.isfinite(value) or value <= 0:
        return None
    key = canonical_unit(unit)
    if key in _NO_UNIT:
        return None
    if key in _NM_PER_UNIT:
        return value * _NM_PER_UNIT[key], "nm"
    for prefix in ("1/", "/"):
        if key.startswith(prefix) and key[len(prefix) :] in _NM_PER_UNIT:
            return value / _NM_PER_UNIT[key[len(prefix) :]], "1/nm"
    return float(value), (unit or "").strip()


def calibration(
    x: float | None = None,
    unit: str | None = None,
    *,
    source: str | None = None,
    y: float | None = None,
    y_unit: str | None = None,
) -> dict[str, Any]:
    """Build the calibration dict; an unusable value gives the uncalibrated dict."""
    if x is None:
        return uncalibrated()
    converted = to_nm(float(x), unit)
    if converted is None:
        return uncalibrated()
    size_x, out_unit = converted
    size_y = size_x
    if y is not None:
        converted_y = to_nm(float(y), y_unit if y_unit is not None else unit)
        if converted_y is not None and converted_y[1] == out_unit:
            size_y = converted_y[0]
    return {
        "pixel_size": size_x,
        "pixel_size_y": size_y,
        "pixel_unit": out_unit,
        "source": source,
    }


def uncalibrated() -> dict[str, Any]:
    """The calibration dict of an image without a known pixel size."""
    return {"pixel_size": None, "pixel_size_y": None, "pixel_unit": None, "source": None}


def from_density(
    per_unit_x: float, per_unit_y: float | None, nm_per_unit: float, *, source: str
) -> dict[str, Any]:
    """Calibration from a pixels-per-length density, ignoring screen/print default densities."""
    if not per_unit_x or per_unit_x <= 0 or not math.isfinite(per_unit_x):
        return uncalibrated()
    dpi = per_unit_x * 2.54e7 / nm_per_unit
    if dpi <= MAX_DEFAULT_DPI:
        return uncalibrated()
    size_y = nm_per_unit / per_unit_y if per_unit_y and per_unit_y > 0 else None
    return calibration(nm_per_unit / per_unit_x, "nm", source=source, y=size_y)
