"""JEOL TemReporter XML (stored in a TIFF ImageDescription) → instrument metadata."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .tree import dig, xml_to_dict
from .values import as_float, iso_datetime, length_nm, prune


def is_temreporter(description: str | None) -> bool:
    """True when a TIFF ImageDescription holds a JEOL TemReporter document."""
    return bool(description) and "<TemReporter" in description[:2048]


def parse_temreporter(description: str) -> dict[str, Any] | None:
    """The TemReporter XML as a nested dict, or ``None`` if it does not parse."""
    try:
        root, tree = xml_to_dict(description.strip().strip("\x00"))
    except ET.ParseError:
        return None
    return tree if root == "TemReporter" and isinstance(tree, dict) else None


def temreporter_instrument(tree: dict[str, Any]) -> dict[str, Any]:
    """Map TemReporter fields to the platform's instrument keys (absent fields are left out).

    The imaging mode comes from ``ImageSourceDetector`` (``stem_DF`` → ``"STEM DF"``): in
    STEM the ``IlluminationSystem/Mode`` still reads ``modeTEM``. For STEM, the
    ``DetectAngleString`` selector (``"8cm"``) is the detector camera length.
    """
    voltage = as_float(dig(tree, "ElectronGun", "AccelerationVoltage"))
    source = dig(tree, "ImageSourceDetector") or ""
    mode = _mode(source, tree)
    forming = dig(tree, "ImageFormingSystem") or {}
    magnification = None
    if str(forming.get("SelectorUnitString", "")).upper() == "X":
        magnification = as_float(forming.get("SelectorValue"))
    camera_length = None
    if mode and mode.startswith("STEM"):
        camera_length = length_nm(forming.get("DetectAngleString"), default_unit="cm")
    return prune(
        {
            "microscope": dig(tree, "Instruments"),
            "manufacturer": dig(tree, "Manufacturer"),
            "voltage_kv": voltage / 1000.0 if voltage is not None else None,
            "magnification": magnification,
            "mode": mode,
            "detector": dig(tree, "Scan", "Modelname")
            if mode and mode.startswith("STEM")
            else None,
            "image_source": source or None,
            "acquired_at": iso_datetime(dig(tree, "DateTime")),
            "operator": dig(tree, "Operator"),
            "specimen": dig(tree, "Specimen"),
            "defocus_nm": length_nm(forming.get("DefocusValue")),
            "camera_length_mm": camera_length / 1e6 if camera_length is not None else None,
            "spot_size": dig(tree, "IlluminationSystem", "SpotSizeString"),
            "frame_time_s": as_float(dig(tree, "Scan", "ExposureTimeValue"))
            if mode and mode.startswith("STEM")
            else None,
        }
    )


def _mode(source: str, tree: dict[str, Any]) -> str | None:
    lowered = source.lower()
    if lowered.startswith("stem"):
        suffix = source.split("_", 1)[1].upper() if "_" in source else ""
        return f"STEM {suffix}".strip()
    illumination = str(dig(tree, "IlluminationSystem", "Mode") or "")
    if illumination.lower() == "modetem" and source:
        return "TEM"
    return None
