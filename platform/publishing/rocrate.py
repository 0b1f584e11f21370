"""RO-Crate 1.2 packages of dataset versions: ``ro-crate-metadata.json``.

The crate holds the version's originals (``images/<id>/<name>``), its support sets
(``support-sets/<id>.json``) and its results' maps and tables (``results/<id>/<name>``), each
a ``File`` with sha256, size and encoding format; images carry their pixel size as
``exifData`` ``PropertyValue``s (as the RO-Crate spec does for image metadata). Each result's
provenance is a ``CreateAction``: instrument the model version and Chiplab at its code
version, object the image, the support set and the parameters, result the files.

``chiplab-archive.json`` (a ``File`` of the crate like the others, written by
``crate_archive``) says what another Chiplab needs to import the package as a dataset. The
zip, streamed, is ``rocrate_zip``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.urls import reverse

from catalog.licences import LICENCES, licence_url
from catalog.links import base_url, version_persistent_url
from catalog.models import DatasetVersion

from .crate_archive import ARCHIVE, archive_document, safe_name

SPEC = "https://w3id.org/ro/crate/1.2"
CONTEXT = "https://w3id.org/ro/crate/1.2/context"
METADATA = "ro-crate-metadata.json"
CHIPLAB = "https://github.com/chiplab/chiplab"  # the software's identity in provenance


@dataclass(frozen=True)
class Entry:
    """One file of the crate: its path in the zip, its storage key, size and sha256."""

    path: str
    key: str
    size: int
    sha256: str
    encoding_format: str


def entries(version: DatasetVersion) -> list[Entry]:
    manifest = version.manifest
    out = [
        Entry(
            f"images/{image['id']}/{safe_name(image['filename'])}",
            image["key"],
            image["size"],
            image["sha256"],
            image["encoding_format"],
        )
        for image in manifest["images"]
    ]
    out += [
        Entry(f"support-sets/{s['id']}.json", s["key"], s["size"], s["sha256"], "application/json")
        for s in manifest["support_sets"]
    ]
    out += [
        Entry(
            f"results/{r['id']}/{f['name']}", f["key"], f["size"], f["sha256"], f["encoding_format"]
        )
        for r in manifest["results"]
        for f in r["files"]
    ]
    return out


def _ref(id_: str) -> dict:
    return {"@id": id_}


def _refs(ids: list[str]) -> dict | list[dict]:
    """References, a single one as a single value (RO-Crate 1.2's JSON-LD recommendation)."""
    return _ref(ids[0]) if len(ids) == 1 else [_ref(i) for i in ids]


def _people(creators: list[dict]) -> tuple[list[dict], list[dict]]:
    """Persons (``@id`` their ORCID iD where known) and the organisations they belong to."""
    persons, organisations = [], {}
    for index, creator in enumerate(creators):
        orcid = creator.get("orcid")
        person = {
            "@id": f"https://orcid.org/{orcid}" if orcid else f"#creator-{index}",
            "@type": "Person",
            "name": creator["name"],
        }
        if name := (creator.get("affiliation") or "").strip():
            org_id = f"#organisation-{safe_name(name).lower()}"
            organisations[org_id] = {"@id": org_id, "@type": "Organization", "name": name}
            person["affiliation"] = _ref(org_id)
        persons.append(person)
    return persons, list(organisations.values())


def _identifiers(prefix: str, url: str, uuid_: str, doi: str) -> list[dict]:
    """Identifiers as ``PropertyValue``s (the Science-on-Schema.org way RO-Crate recommends)."""
    found = [("url", "URL", url, url), ("uuid", "urn:uuid", f"urn:uuid:{uuid_}", None)]
    if doi:
        found.insert(
            0,
            (
                "doi",
                "https://registry.identifiers.org/registry/doi",
                f"doi:{doi}",
                f"https://doi.org/{doi}",
            ),
        )
    out = []
    for key, scheme, value, link in found:
        node = {
            "@id": f"#{prefix}-identifier-{key}",
            "@type": "PropertyValue",
            "name": f"{key} identifier",
            "propertyID": scheme,
            "value": value,
        }
        if link:
            node["url"] = link
        out.append(node)
    return out


def _licence(spdx: str) -> dict:
    url = licence_url(spdx)
    name = LICENCES.get(spdx, spdx)
    return {
        "@id": url or "#licence",
        "@type": "CreativeWork",
        "name": name,
        "identifier": spdx,
        "description": f"{name} (SPDX identifier {spdx})",
    }


def _file(entry: Entry, **extra) -> dict:
    return {
        "@id": entry.path,
        "@type": "File",
        "name": entry.path.rsplit("/", 1)[-1],
        "contentSize": str(entry.size),
        "encodingFormat": entry.encoding_format,
        "sha256": entry.sha256,
        **extra,
    }


def metadata(version: DatasetVersion, request=None) -> dict:
    """The crate's ``ro-crate-metadata.json`` (a JSON-LD document)."""
    manifest = version.manifest
    url = version_persistent_url(version, request)
    files = {entry.path: entry for entry in entries(version)}
    archive = archive_document(version, request)
    by_image = {e.path.split("/")[1]: e for e in files.values() if e.path.startswith("images/")}
    by_set = {e.path[13:-5]: e for e in files.values() if e.path.startswith("support-sets/")}
    persons, organisations = _people(version.creators)
    identifiers = _identifiers("version", url, str(version.pk), version.doi)
    licence = _licence(version.licence)
    lab = {"@id": f"#lab-{manifest['lab']['id']}", "@type": "Organization"}
    lab["name"] = manifest["lab"]["name"]
    graph: list[dict] = [
        {
            "@id": METADATA,
            "@type": "CreativeWork",
            "conformsTo": _ref(SPEC),
            "about": _ref("./"),
        },
    ]
    root = {
        "@id": "./",
        "@type": "Dataset",
        "name": f"{version.title} (version {version.number})",
        "description": version.description or version.title,
        "datePublished": version.created.isoformat(),
        "version": str(version.number),
        "identifier": _refs([i["@id"] for i in identifiers]),
        "url": url,
        "license": _ref(licence["@id"]),
        "publisher": _ref(lab["@id"]),
        "keywords": version.keywords,
        "hasPart": _refs([ARCHIVE, *files]),
    }
    if persons:
        root["creator"] = _refs([p["@id"] for p in persons])
    if version.note:
        root["abstract"] = version.note
    provenance = _provenance(manifest, files, base_url(request))
    if actions := [n["@id"] for n in provenance if n["@type"] == "CreateAction"]:
        root["mentions"] = _refs(actions)
    graph += [root, *identifiers, licence, lab, *persons, *organisations]
    graph.append(_archive_file(archive))
    graph += _image_files(manifest["images"], by_image)
    graph += _support_set_files(manifest["support_sets"], by_set)
    graph += provenance
    return {"@context": CONTEXT, "@graph": graph}


def _archive_file(archive: bytes) -> dict:
    """``chiplab-archive.json`` as a ``File`` of the crate."""
    return {
        "@id": ARCHIVE,
        "@type": "File",
        "name": ARCHIVE,
        "contentSize": str(len(archive)),
        "encodingFormat": "application/json",
        "sha256": hashlib.sha256(archive).hexdigest(),
        "description": "What another Chiplab needs to import this package as a dataset: "
        "image metadata, support sets and results with their parameters, by path",
    }


def _image_files(images: list[dict], by_image: dict[str, Entry]) -> list[dict]:
    """Each original as a ``File``/``ImageObject``, its calibration as ``exifData``."""
    graph: list[dict] = []
    for image in images:
        entry = by_image[image["id"]]
        exif = [
            {"@id": f"#image-{image['id']}-{name}", "@type": "PropertyValue", "name": name} | value
            for name, value in _image_properties(image)
        ]
        graph.append(
            _file(
                entry,
                **{"@type": ["File", "ImageObject"]},
                name=image["filename"],
                identifier=f"urn:uuid:{image['id']}",
                description=f"Original micrograph, bit-exact as uploaded ({image['format']}, "
                f"{image['width']}x{image['height']} px"
                + (f", {image['frames']} frames" if image["frames"] > 1 else "")
                + ")",
                width=str(image["width"]),
                height=str(image["height"]),
                dateCreated=image["created"],
                exifData=_refs([p["@id"] for p in exif]),
            )
        )
        graph += exif
    return graph


def _support_set_files(support_sets: list[dict], by_set: dict[str, Entry]) -> list[dict]:
    graph: list[dict] = []
    for support in support_sets:  # anonymised: contributors counted, not named
        graph.append(
            _file(
                by_set[support["id"]],
                name=support["name"],
                identifier=f"urn:uuid:{support['id']}",
                description=f"Frozen support set: {support['n_chips']} labelled chips of "
                f"{', '.join(str(c) for c in support['classes'])}",
                dateCreated=support["created"],
            )
        )
    return graph


def _image_properties(image: dict) -> list[tuple[str, dict]]:
    props = []
    if image.get("pixel_size"):
        props.append(
            ("pixel_size", {"value": image["pixel_size"], "unitText": image.get("pixel_unit", "")})
        )
    props += [
        ("dtype", {"value": image["dtype"]}),
        ("frames", {"value": image["frames"]}),
        *((f"instrument_{k}", {"value": v}) for k, v in image.get("instrument", {}).items()),
    ]
    return props


#: what each result file is, for its description
_RESULT_FILE_DESCRIPTIONS = {
    "mask.ome.tif": "Pixel label map (OME-TIFF, class table and provenance in its description)",
    "mask.png": "Pixel label map (indexed PNG, class table in its text chunk)",
    "confidence.png": "Per-pixel confidence (8-bit grey PNG)",
    "counts.csv": "Per-class counts, area fractions and uncertainties",
    "particles.csv": "One row per particle of the object classes",
    "series.csv": "Per-frame class fractions of the time series",
    "profile.csv": "Class fractions per row band and per column band",
    "result.json": "Chip labels, probabilities, statistics and provenance",
    "arrays.npz": "Chip arrays (NumPy npz): labels, class probabilities and confidence",
}


def _provenance(manifest: dict, files: dict[str, Entry], base: str) -> list[dict]:
    """A ``CreateAction`` per result with its instruments and parameters."""
    graph: list[dict] = []
    seen: set[str] = set()
    images = {i["id"]: i for i in manifest["images"]}
    for result in manifest["results"]:
        model = result["model_version"]
        model_id = f"#model-version-{model.get('id')}"
        code_id = f"#chiplab-{safe_name(result['code_version'] or 'unknown')}"
        if model_id not in seen:
            seen.add(model_id)
            node = {
                "@id": model_id,
                "@type": "SoftwareApplication",
                "name": f"{model.get('name', 'model')} v{model.get('version', '?')}",
                "version": str(model.get("version", "")),
                "identifier": f"urn:uuid:{model.get('id')}",
                "url": base + reverse("model-version-detail", args=[model.get("id")]),
            }
            if model.get("weights_sha256"):
                node["sha256"] = model["weights_sha256"]
            if model.get("encoder_kind"):
                node["description"] = f"encoder: {model['encoder_kind']}" + (
                    f", MLflow run {model['run_id']}" if model.get("run_id") else ""
                )
            graph.append(node)
        if code_id not in seen:
            seen.add(code_id)
            graph.append(
                {
                    "@id": code_id,
                    "@type": "SoftwareApplication",
                    "name": "Chiplab",
                    "url": CHIPLAB,
                    "version": result["code_version"] or "unknown",
                }
            )
        params = [
            {
                "@id": f"#result-{result['id']}-param-{name}",
                "@type": "PropertyValue",
                "name": name,
                "value": value if isinstance(value, str | int | float) else json.dumps(value),
            }
            for name, value in sorted(result["params"].items())
            if value is not None
        ]
        image = images[result["image"]]
        image_path = f"images/{image['id']}/{safe_name(image['filename'])}"
        outputs = [f"results/{result['id']}/{f['name']}" for f in result["files"]]
        action = {
            "@id": f"#result-{result['id']}",
            "@type": "CreateAction",
            "name": f"Segmentation of {image['filename']}"
            + (f" (frame {result['frame']})" if image["frames"] > 1 else ""),
            "identifier": f"urn:uuid:{result['id']}",
            "instrument": [_ref(model_id), _ref(code_id)],
            "object": [
                _ref(image_path),
                _ref(f"support-sets/{result['support_set']}.json"),
                *(_ref(p["@id"]) for p in params),
            ],
            "result": [_ref(path) for path in outputs if path in files],
            "endTime": result["created"],
        }
        if result.get("started"):
            action["startTime"] = result["started"]
        graph += [action, *params]
        for name in outputs:
            kind = name.rsplit("/", 1)[-1]
            graph.append(_file(files[name], description=_RESULT_FILE_DESCRIPTIONS.get(kind, kind)))
    return graph
