"""SPDX licence identifiers offered for datasets (data and content licences first)."""

LICENCES: dict[str, str] = {
    "CC-BY-4.0": "Creative Commons Attribution 4.0 International",
    "CC0-1.0": "Creative Commons Zero v1.0 Universal",
    "CC-BY-SA-4.0": "Creative Commons Attribution Share Alike 4.0 International",
    "CC-BY-NC-4.0": "Creative Commons Attribution Non Commercial 4.0 International",
    "CC-BY-NC-SA-4.0": "Creative Commons Attribution Non Commercial Share Alike 4.0",
    "CC-BY-ND-4.0": "Creative Commons Attribution No Derivatives 4.0 International",
    "ODbL-1.0": "Open Data Commons Open Database License v1.0",
    "PDDL-1.0": "Open Data Commons Public Domain Dedication & License 1.0",
    "ODC-By-1.0": "Open Data Commons Attribution License v1.0",
    "BSD-3-Clause": "BSD 3-Clause License",
    "MIT": "MIT License",
    "Apache-2.0": "Apache License 2.0",
    "LicenseRef-All-Rights-Reserved": "All rights reserved (not openly licensed)",
}

# Licences that allow reuse by other labs (e.g. training shared models on the data).
OPEN_LICENCES = frozenset(LICENCES) - {"LicenseRef-All-Rights-Reserved"}


def licence_url(spdx_id: str) -> str:
    if spdx_id.startswith("LicenseRef-"):
        return ""
    return f"https://spdx.org/licenses/{spdx_id}.html"
