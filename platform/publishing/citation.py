"""How to cite a published dataset version: CSL-JSON, BibTeX and a plain-text reference.

The DOI is the identifier cited once minted; before that, the version's persistent URL.
Names written "Family, Given" are split for CSL; any other name is kept whole (``literal``),
never guessed apart.
"""

from __future__ import annotations

import re

from catalog.links import version_persistent_url
from catalog.models import DatasetVersion

from .datacite import _name_parts


def _authors(version: DatasetVersion) -> list[str]:
    names = [c["name"].strip() for c in version.creators if (c.get("name") or "").strip()]
    return names or [version.manifest["lab"]["name"]]


def _link(version: DatasetVersion, request) -> str:
    if version.doi:
        return f"https://doi.org/{version.doi}"
    return version_persistent_url(version, request)


def version_csl(version: DatasetVersion, request=None) -> dict:
    """One CSL-JSON item (``type: dataset``)."""
    authors = []
    for name in _authors(version):
        parts = _name_parts(name)
        authors.append({"family": parts[0], "given": parts[1]} if parts else {"literal": name})
    issued = version.created.date()
    item = {
        "id": f"chiplab-{version.pk}",
        "type": "dataset",
        "title": version.title,
        "author": authors,
        "issued": {"date-parts": [[issued.year, issued.month, issued.day]]},
        "publisher": version.manifest["lab"]["name"],
        "version": str(version.number),
        "URL": _link(version, request),
        "medium": "Electron micrographs",
    }
    if version.doi:
        item["DOI"] = version.doi
    if version.keywords:
        item["keyword"] = ", ".join(version.keywords)
    if version.description:
        item["abstract"] = version.description
    return item


# characters with a meaning in BibTeX, written so that they print as themselves
_BIBTEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
}


def _tex(text: str) -> str:
    text = " ".join(str(text).split())  # a field is one line
    return "".join(_BIBTEX.get(char, char) for char in text)


def bibtex_key(version: DatasetVersion) -> str:
    first = _authors(version)[0]
    parts = _name_parts(first)
    stem = parts[0] if parts else first.split()[-1]
    stem = re.sub(r"[^A-Za-z0-9]", "", stem) or "chiplab"
    return f"{stem}{version.created.year}_v{version.number}_{str(version.pk)[:8]}"


def version_bibtex(version: DatasetVersion, request=None) -> str:
    """A BibTeX ``@misc`` entry (biblatex reads the same fields)."""
    fields = [
        ("author", " and ".join(_tex(name) for name in _authors(version))),
        ("title", "{" + _tex(version.title) + "}"),
        ("year", str(version.created.year)),
        ("month", version.created.strftime("%b").lower()),
        ("publisher", _tex(version.manifest["lab"]["name"])),
        ("version", str(version.number)),
        ("howpublished", "Chiplab dataset version"),
    ]
    if version.doi:
        fields.append(("doi", _tex(version.doi)))
    fields.append(("url", _link(version, request)))
    if version.keywords:
        fields.append(("keywords", _tex(", ".join(version.keywords))))
    body = ",\n".join(
        f"  {name} = {value}" if name == "month" else f"  {name} = {{{value}}}"
        for name, value in fields
    )
    return f"@misc{{{bibtex_key(version)},\n{body}\n}}\n"


def version_reference(version: DatasetVersion, request=None) -> str:
    """A plain-text reference (the shape DataCite's citation formatter gives)."""
    authors = "; ".join(_authors(version))
    return (
        f"{authors} ({version.created.year}). {version.title} (Version {version.number}) "
        f"[Data set]. {version.manifest['lab']['name']}. {_link(version, request)}"
    )
