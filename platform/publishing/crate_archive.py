"""``chiplab-archive.json``, the file of a version's RO-Crate that says what another Chiplab
needs to import the package as a dataset (``publishing.archive``): the version's metadata and,
for each file, what it is (image metadata, support sets, results with their model and
parameters), by path in the zip, never by storage key."""

from __future__ import annotations

import json
import re

from catalog.annotations import annotations_by_image
from catalog.links import version_persistent_url
from catalog.models import DatasetVersion

ARCHIVE = "chiplab-archive.json"
ARCHIVE_FORMAT = "chiplab.dataset-archive/1"


def safe_name(name: str) -> str:
    """A file name that needs no escaping in a URI path (RO-Crate ids are relative URIs)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "file"
    return cleaned[:120]


def archive_document(version: DatasetVersion, request=None) -> bytes:
    """``chiplab-archive.json``: the version's manifest with paths in the zip for storage keys,
    and its metadata, so that another Chiplab can import the package (``publishing.archive``)."""
    manifest = version.manifest

    def without_key(entry: dict, path: str) -> dict:
        return {**{k: v for k, v in entry.items() if k != "key"}, "path": path}

    document = {
        "format": ARCHIVE_FORMAT,
        "version": {
            "id": str(version.pk),
            "number": version.number,
            "persistent_url": version_persistent_url(version, request),
            "doi": version.doi,
            "note": version.note,
            "title": version.title,
            "description": version.description,
            "keywords": version.keywords,
            "licence": version.licence,
            "creators": version.creators,
            "funding": version.funding,
            "created": version.created.isoformat(),
        },
        "lab": manifest["lab"],
        "dataset": manifest["dataset"],
        "images": [
            without_key(i, f"images/{i['id']}/{safe_name(i['filename'])}")
            for i in manifest["images"]
        ],
        "support_sets": [
            without_key(s, f"support-sets/{s['id']}.json") for s in manifest["support_sets"]
        ],
        "results": [
            {
                **r,
                "files": [without_key(f, f"results/{r['id']}/{f['name']}") for f in r["files"]],
            }
            for r in manifest["results"]
        ],
    }
    if source := manifest.get("source"):  # a version imported from another Chiplab
        document["source"] = source
    # the images' tags and key-value pairs as they are now (not part of the snapshot)
    document["annotations"] = annotations_by_image([i["id"] for i in manifest["images"]])
    return json.dumps(document, indent=1, sort_keys=True).encode()
