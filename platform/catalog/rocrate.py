"""RO-Crate 1.2 packages of dataset versions: ``ro-crate-metadata.json`` and a streamed zip.

The crate holds the version's originals (``images/<id>/<name>``), its support sets
(``support-sets/<id>.json``) and its results' maps and tables (``results/<id>/<name>``), each
a ``File`` with sha256, size and encoding format; images carry their pixel size as
``exifData`` ``PropertyValue``s (as the RO-Crate spec does for image metadata). Each result's
provenance is a ``CreateAction``: instrument the model version and Chiplab at its code
version, object the image, the support set and the parameters, result the files.

``chiplab-archive.json`` (a ``File`` of the crate like the others) says what another Chiplab
needs to import the package as a dataset (``catalog.archive``): the version's metadata and, for
each file, what it is (image metadata, support sets, results with their model and
parameters), by path in the zip, never by storage key.

The zip is written as it is sent (no temporary file, memory bounded by one chunk) and is the
same bytes on every download (entries dated by the version; registering the version's DOI
adds it to the metadata, once). Originals are checked against
their sha256 as they go out; a mismatch stops the stream rather than ship a wrong file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import reverse

from common import storage

from .fair import base_url, version_persistent_url
from .licences import LICENCES, licence_url
from .models import DatasetVersion

log = logging.getLogger(__name__)

SPEC = "https://w3id.org/ro/crate/1.2"
CONTEXT = "https://w3id.org/ro/crate/1.2/context"
METADATA = "ro-crate-metadata.json"
ARCHIVE = "chiplab-archive.json"
ARCHIVE_FORMAT = "chiplab.dataset-archive/1"
CHIPLAB = "https://github.com/chiplab/chiplab"  # the software's identity in provenance
_CHUNK = 1024 * 1024
_COMPRESSED = ("image/png", "image/jpeg")


@dataclass(frozen=True)
class Entry:
    """One file of the crate: its path in the zip, its storage key, size and sha256."""

    path: str
    key: str
    size: int
    sha256: str
    encoding_format: str


def _safe(name: str) -> str:
    """A file name that needs no escaping in a URI path (RO-Crate ids are relative URIs)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "file"
    return cleaned[:120]


def entries(version: DatasetVersion) -> list[Entry]:
    manifest = version.manifest
    out = [
        Entry(
            f"images/{image['id']}/{_safe(image['filename'])}",
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
            org_id = f"#organisation-{_safe(name).lower()}"
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
    graph.append(
        {
            "@id": ARCHIVE,
            "@type": "File",
            "name": ARCHIVE,
            "contentSize": str(len(archive)),
            "encodingFormat": "application/json",
            "sha256": hashlib.sha256(archive).hexdigest(),
            "description": "What another Chiplab needs to import this package as a dataset: "
            "image metadata, support sets and results with their parameters, by path",
        }
    )
    for image in manifest["images"]:
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
    for support in manifest["support_sets"]:  # anonymised: contributors counted, not named
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
    graph += provenance
    return {"@context": CONTEXT, "@graph": graph}


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


def archive_document(version: DatasetVersion, request=None) -> bytes:
    """``chiplab-archive.json``: the version's manifest with paths in the zip for storage keys,
    and its metadata, so that another Chiplab can import the package (``catalog.archive``)."""
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
            without_key(i, f"images/{i['id']}/{_safe(i['filename'])}") for i in manifest["images"]
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
    return json.dumps(document, indent=1, sort_keys=True).encode()


def _provenance(manifest: dict, files: dict[str, Entry], base: str) -> list[dict]:
    """A ``CreateAction`` per result with its instruments and parameters."""
    graph: list[dict] = []
    seen: set[str] = set()
    images = {i["id"]: i for i in manifest["images"]}
    for result in manifest["results"]:
        model = result["model_version"]
        model_id = f"#model-version-{model.get('id')}"
        code_id = f"#chiplab-{_safe(result['code_version'] or 'unknown')}"
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
        image_path = f"images/{image['id']}/{_safe(image['filename'])}"
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


# --- the zip ---------------------------------------------------------------------------
class _Sink(io.RawIOBase):
    """A write-only stream that hands over what was written since the last ``take``."""

    def __init__(self):
        self._buffer = bytearray()
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._buffer += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = bytes(self._buffer)
        self._buffer.clear()
        return out


class ChecksumMismatch(RuntimeError):
    pass


def zip_size_hint(version: DatasetVersion) -> int:
    """The bytes of the files the crate holds (the zip is a little larger)."""
    return sum(e.size for e in entries(version))


def zip_stream(version: DatasetVersion, request=None) -> Iterator[bytes]:
    """The crate as zip bytes, produced as they are read (a generator of chunks)."""
    date_time = version.created.timetuple()[:6]
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        doc = json.dumps(metadata(version, request), indent=1).encode()
        info = zipfile.ZipInfo(METADATA, date_time=date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, doc)
        info = zipfile.ZipInfo(ARCHIVE, date_time=date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, archive_document(version, request))
        yield sink.take()
        for entry in entries(version):
            info = zipfile.ZipInfo(entry.path, date_time=date_time)
            compressed = entry.encoding_format in _COMPRESSED or entry.size > 64 * _CHUNK
            info.compress_type = zipfile.ZIP_STORED if compressed else zipfile.ZIP_DEFLATED
            info.file_size = entry.size
            digest = hashlib.sha256()
            with storage.open_(entry.key) as src, archive.open(info, "w") as dst:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
                    yield sink.take()
            if digest.hexdigest() != entry.sha256:
                log.error(
                    "crate of version %s: %s does not match its sha256", version.pk, entry.key
                )
                raise ChecksumMismatch(f"{entry.path} does not match its recorded sha256")
            yield sink.take()
    yield sink.take()
