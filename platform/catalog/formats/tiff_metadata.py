"""Calibration, instrument metadata and raw tags of a TIFF (OME, ImageJ, FEI, JEOL, resolution)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import tifffile

from .jeol import is_temreporter, parse_temreporter, temreporter_instrument
from .tree import dig, json_safe, xml_to_dict
from .units import calibration, from_density, uncalibrated
from .values import as_float, datetime_from_parts, iso_datetime, prune

# ResolutionUnit values: 2 = inch, 3 = centimetre (1 = none: no absolute calibration).
_NM_PER_RESOLUTION_UNIT = {2: 2.54e7, 3: 1e7}


def tiff_metadata(tif: tifffile.TiffFile) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Return ``(calibration, instrument, raw)`` for an open TIFF.

    Calibration sources, first match wins: OME-XML ``PhysicalSizeX``, ImageJ ``unit`` with
    ``XResolution``, FEI/Thermo ``[Scan] PixelWidth``, then ``XResolution`` with
    ``ResolutionUnit`` inch/cm (screen/print defaults of ≤ 1200 dpi are ignored).
    """
    page = tif.pages.first
    description = _description(page)
    raw: dict[str, Any] = {"tags": _tags(page)}
    instrument: dict[str, Any] = {}
    candidates: list[dict[str, Any]] = []

    if tif.is_ome and tif.ome_metadata:
        raw["ome_xml"] = json_safe(tif.ome_metadata)
        raw["tags"].pop("ImageDescription", None)
        ome_cal, ome_instrument = _ome(tif.ome_metadata)
        candidates.append(ome_cal)
        instrument.update(ome_instrument)
    if tif.is_imagej and tif.imagej_metadata:
        raw["imagej"] = json_safe(tif.imagej_metadata)
        candidates.append(_imagej(tif.imagej_metadata, page))
    fei = tif.fei_metadata if tif.is_fei else None
    if fei:
        raw["fei"] = json_safe(fei)
        candidates.append(_fei_calibration(fei))
        instrument.update(_fei_instrument(fei))
    if description and is_temreporter(description):
        tree = parse_temreporter(description)
        if tree is not None:
            raw["temreporter"] = json_safe(tree)
            raw["tags"]["ImageDescription"] = "<JEOL TemReporter XML, parsed under 'temreporter'>"
            instrument.update(temreporter_instrument(tree))
    candidates.append(_resolution(page))

    chosen = next((c for c in candidates if c["pixel_size"] is not None), uncalibrated())
    return chosen, instrument, raw


def _description(page: tifffile.TiffPage) -> str | None:
    tag = page.tags.get("ImageDescription")
    if tag is None:
        return None
    value = tag.value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _tags(page: tifffile.TiffPage) -> dict[str, Any]:
    """The first page's tags by name, JSON-safe and truncated."""
    return {tag.name: json_safe(tag.value) for tag in page.tags.values()}


def _rational(page: tifffile.TiffPage, name: str) -> float | None:
    tag = page.tags.get(name)
    if tag is None:
        return None
    value = tag.value
    if isinstance(value, tuple) and len(value) == 2:
        numerator, denominator = value
        return numerator / denominator if denominator else None
    return as_float(value)


def _resolution(page: tifffile.TiffPage) -> dict[str, Any]:
    unit_tag = page.tags.get("ResolutionUnit")
    unit = int(unit_tag.value) if unit_tag is not None else 2  # TIFF default: inch
    nm_per_unit = _NM_PER_RESOLUTION_UNIT.get(unit)
    x = _rational(page, "XResolution")
    if nm_per_unit is None or x is None:
        return uncalibrated()
    return from_density(x, _rational(page, "YResolution"), nm_per_unit, source="tiff_resolution")


def _imagej(meta: dict[str, Any], page: tifffile.TiffPage) -> dict[str, Any]:
    """ImageJ keeps the unit in its description and pixels-per-unit in ``XResolution``."""
    unit = meta.get("unit")
    x = _rational(page, "XResolution")
    if not unit or not x:
        return uncalibrated()
    y = _rational(page, "YResolution")
    return calibration(1.0 / x, str(unit), y=1.0 / y if y else None, source="imagej")


def _ome(xml: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``PhysicalSizeX``/``Unit`` (µm by the OME schema's default) and acquisition facts."""
    try:
        _, tree = xml_to_dict(xml)
    except ET.ParseError:
        return uncalibrated(), {}
    image = dig(tree, "Image")
    if isinstance(image, list):
        image = image[0]
    pixels = dig(image, "Pixels") or {}
    size_x = as_float(pixels.get("@PhysicalSizeX"))
    size_y = as_float(pixels.get("@PhysicalSizeY"))
    unit_x = pixels.get("@PhysicalSizeXUnit", "µm")
    cal = calibration(
        size_x, unit_x, y=size_y, y_unit=pixels.get("@PhysicalSizeYUnit", "µm"), source="ome"
    )
    microscope = dig(tree, "Instrument", "Microscope")
    if isinstance(dig(tree, "Instrument"), list):
        microscope = dig(tree["Instrument"][0], "Microscope")
    microscope = microscope if isinstance(microscope, dict) else {}
    acquired = dig(image, "AcquisitionDate")
    instrument = prune(
        {
            "microscope": microscope.get("@Model"),
            "manufacturer": microscope.get("@Manufacturer"),
            "acquired_at": iso_datetime(acquired if isinstance(acquired, str) else None),
        }
    )
    return cal, instrument


def _fei_calibration(fei: dict[str, Any]) -> dict[str, Any]:
    width = as_float(dig(fei, "Scan", "PixelWidth"))
    height = as_float(dig(fei, "Scan", "PixelHeight"))
    return calibration(width, "m", y=height, source="fei")


def _fei_instrument(fei: dict[str, Any]) -> dict[str, Any]:
    """FEI/Thermo Fisher SEM/FIB INI block (tags 34680/34682); values are SI units."""
    voltage = as_float(dig(fei, "Beam", "HV"))
    return prune(
        {
            "microscope": dig(fei, "System", "SystemType"),
            "manufacturer": "FEI / Thermo Fisher",
            "voltage_kv": voltage / 1000.0 if voltage is not None else None,
            "mode": "SEM",
            "detector": " ".join(
                str(v) for v in (dig(fei, "Detectors", "Name"), dig(fei, "Detectors", "Mode")) if v
            ),
            "acquired_at": datetime_from_parts(dig(fei, "User", "Date"), dig(fei, "User", "Time")),
            "operator": dig(fei, "User", "User"),
        }
    )
