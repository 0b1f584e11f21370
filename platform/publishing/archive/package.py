"""Checking a dataset package before anything is stored: the zip's directory and bounds, the
crate, every file's size and sha256, and the consistency of ``chiplab-archive.json``."""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from catalog import services
from common.errors import Conflict, Invalid, TooLarge
from labeling.models import ConsensusRule
from registry.selectors import model_versions_visible_to

from .. import crate_archive, rocrate, versions

_CHUNK = 1024 * 1024
#: JSON documents of a package (metadata, support sets, result.json) are read whole
MAX_JSON_BYTES = 64 * 1024 * 1024
#: files one package may hold: a version's bounds, with room for every result file
MAX_ENTRIES = (
    versions.MAX_VERSION_IMAGES
    + versions.MAX_VERSION_SUPPORT_SETS
    + versions.MAX_VERSION_RESULTS * (len(versions.RESULT_FILES) + 1)
    + 2
)
_CRATE_SPEC = "https://w3id.org/ro/crate/1."


#: ``progress(done, total)``: bytes checked so far, of all the package's files
Progress = Callable[[int, int], None]

#: what reading a member of a damaged zip raises (RuntimeError: an encrypted member)
_UNREADABLE = (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError)


@dataclass
class Package:
    """A checked package: its documents, and each file unpacked to a local path."""

    doc: dict
    files: dict[str, Path]
    probes: dict[str, object] = field(default_factory=dict)  # image id -> formats.Probe
    support_docs: dict[str, dict] = field(default_factory=dict)  # source id -> document
    result_docs: dict[str, dict] = field(default_factory=dict)  # source id -> result.json
    models: dict[str, object] = field(default_factory=dict)  # source model id -> ModelVersion


def invalid(message: str, code: str = "invalid_archive") -> Invalid:
    return Invalid(message, code=code, fields={"file": [code]})


def unpack(path: Path, tmp: Path, *, progress: Progress | None = None) -> Package:
    """Open the zip, check its directory and the crate, unpack every file checking its size
    and sha256 against the crate's; ``progress(bytes checked, bytes in all)`` after each."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise invalid("The file is not a zip archive.", "not_a_zip") from err
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        names = [i.filename for i in infos]
        if len(infos) > MAX_ENTRIES:
            raise TooLarge(
                f"The archive holds {len(infos)} files; a dataset package holds at most "
                f"{MAX_ENTRIES}.",
                code="archive_too_large",
            )
        if len(set(names)) != len(names):
            raise invalid("The archive names a file twice.")
        unpacked = sum(i.file_size for i in infos)
        if unpacked > settings.CHIPLAB_ARCHIVE_MAX_UNPACKED_BYTES:
            raise TooLarge(
                f"The archive unpacks to {unpacked} bytes; this server imports at most "
                f"{settings.CHIPLAB_ARCHIVE_MAX_UNPACKED_BYTES} "
                "(CHIPLAB_ARCHIVE_MAX_UNPACKED_BYTES).",
                code="archive_too_large",
            )
        by_name = {i.filename: i for i in infos}
        if rocrate.METADATA not in by_name:
            raise invalid(
                f"The archive has no {rocrate.METADATA}: it is not an RO-Crate.", "not_a_crate"
            )
        parts = _crate_parts(_read_json(archive, by_name[rocrate.METADATA], rocrate.METADATA))
        listed = set(parts)
        present = set(names) - {rocrate.METADATA}
        if missing := sorted(listed - present):
            raise invalid(
                f"The crate lists files the archive lacks: {', '.join(missing[:5])}.",
                "missing_file",
            )
        if extra := sorted(present - listed):
            raise invalid(
                f"The archive holds files the crate does not describe: {', '.join(extra[:5])}.",
                "unlisted_file",
            )
        if crate_archive.ARCHIVE not in parts:
            raise invalid(
                f"The crate has no {crate_archive.ARCHIVE}: it is not a Chiplab dataset package.",
                "not_a_chiplab_archive",
            )
        files: dict[str, Path] = {}
        total, done = sum(by_name[n].file_size for n in listed), 0
        for index, name in enumerate(sorted(listed)):
            files[name] = tmp / f"{index:06d}"
            _extract_checked(archive, by_name[name], parts[name], files[name])
            done += by_name[name].file_size
            if progress is not None:
                progress(done, total)
    doc = _load_json(files[crate_archive.ARCHIVE], crate_archive.ARCHIVE)
    if not isinstance(doc, dict) or doc.get("format") != crate_archive.ARCHIVE_FORMAT:
        raise invalid(
            f"{crate_archive.ARCHIVE} is not a {crate_archive.ARCHIVE_FORMAT} document.",
            "not_a_chiplab_archive",
        )
    package = Package(doc=doc, files=files)
    _cross_check(package, parts)
    return package


def _crate_parts(meta) -> dict[str, dict]:
    """The crate's data entities (``hasPart`` of the root), each with its size and sha256."""
    graph = meta.get("@graph") if isinstance(meta, dict) else None
    if not isinstance(graph, list):
        raise invalid(f"{rocrate.METADATA} has no @graph.", "not_a_crate")
    nodes = {n.get("@id"): n for n in graph if isinstance(n, dict)}
    descriptor, root = nodes.get(rocrate.METADATA), nodes.get("./")
    conforms = _ids((descriptor or {}).get("conformsTo"))
    if not any(c.startswith(_CRATE_SPEC) for c in conforms) or not root:
        raise invalid(f"{rocrate.METADATA} is not an RO-Crate 1.x descriptor.", "not_a_crate")
    if "Dataset" not in _many(root.get("@type")):
        raise invalid("The crate's root is not a Dataset.", "not_a_crate")
    parts = {}
    for part in _ids(root.get("hasPart")):
        node = nodes.get(part)
        if node is None or "File" not in _many(node.get("@type")):
            raise invalid(f"The crate's part {part[:200]} is not described as a File.")
        try:
            size = int(node["contentSize"])
            sha256 = str(node["sha256"]).lower()
        except (KeyError, TypeError, ValueError):
            raise invalid(f"The crate gives no size and sha256 for {part[:200]}.") from None
        parts[part] = {"size": size, "sha256": sha256}
    return parts


def _many(value) -> list:
    return value if isinstance(value, list) else [value]


def _ids(value) -> list[str]:
    return [str(v.get("@id")) for v in _many(value) if isinstance(v, dict) and v.get("@id")]


def _read_json(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str):
    if info.file_size > MAX_JSON_BYTES:
        raise TooLarge(f"{what} is larger than {MAX_JSON_BYTES} bytes.", code="archive_too_large")
    try:
        return json.loads(archive.read(info))
    except _UNREADABLE as err:
        raise invalid(f"{what} is damaged in the archive.", "corrupt") from err
    except ValueError as err:
        raise invalid(f"{what} is not JSON.") from err


def _load_json(path: Path, what: str):
    if path.stat().st_size > MAX_JSON_BYTES:
        raise TooLarge(f"{what} is larger than {MAX_JSON_BYTES} bytes.", code="archive_too_large")
    try:
        return json.loads(path.read_bytes())
    except ValueError as err:
        raise invalid(f"{what} is not JSON.") from err


def _extract_checked(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, expected: dict, dest: Path
) -> None:
    """Unpack one file, refusing it unless its bytes have the crate's size and sha256 (reads
    never go past the size the zip declares, which the bounds above checked)."""
    if info.file_size != expected["size"]:
        raise invalid(
            f"{info.filename}: the crate says {expected['size']} bytes, the zip holds "
            f"{info.file_size}.",
            "size_mismatch",
        )
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(info) as src, dest.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                digest.update(chunk)
                dst.write(chunk)
    except _UNREADABLE as err:
        raise invalid(f"{info.filename} is damaged in the archive: {err}", "corrupt") from err
    if size != expected["size"]:
        raise invalid(f"{info.filename}: {size} bytes, not {expected['size']}.", "size_mismatch")
    if digest.hexdigest() != expected["sha256"]:
        raise invalid(
            f"{info.filename} does not match its sha256 in the crate.", "checksum_mismatch"
        )


def _cross_check(package: Package, parts: dict[str, dict]) -> None:
    """``chiplab-archive.json`` names files of the crate, with the crate's checksums."""
    doc = package.doc
    for key in ("version", "images", "support_sets", "results"):
        if not isinstance(doc.get(key), dict if key == "version" else list):
            raise invalid(f"{crate_archive.ARCHIVE} lacks '{key}'.")
    entries = [*doc["images"], *doc["support_sets"]]
    entries += [f for r in doc["results"] for f in _list(r, "files")]
    for entry in entries:
        if not isinstance(entry, dict):
            raise invalid(f"{crate_archive.ARCHIVE} has an entry that is not an object.")
        path = str(entry.get("path", ""))
        if path not in parts or path == crate_archive.ARCHIVE:
            raise invalid(f"{crate_archive.ARCHIVE} names a file the crate lacks: {path[:200]}.")
        if str(entry.get("sha256", "")).lower() != parts[path]["sha256"] or (
            entry.get("size") != parts[path]["size"]
        ):
            raise invalid(f"{path}: the package's documents disagree on its checksum.")
    if len(doc["images"]) > versions.MAX_VERSION_IMAGES:
        raise TooLarge("The package holds more images than a version may.", code="too_many")
    if not doc["images"]:
        raise invalid("The package holds no image.", "empty")


def _list(value: dict, key: str) -> list:
    found = value.get(key) if isinstance(value, dict) else None
    if not isinstance(found, list):
        raise invalid(f"{crate_archive.ARCHIVE}: '{key}' is missing or not a list.")
    return found


def check_documents(package: Package, *, with_results: bool) -> None:
    """The images are what they claim, the support sets and results refer to them."""
    doc = package.doc
    images: dict[str, dict] = {}
    for image in doc["images"]:
        image_id = str(image.get("id"))
        if image_id in images:
            raise invalid(f"Image {image_id[:40]} is listed twice.")
        images[image_id] = image
        package.probes[image_id] = _probe(package.files[image["path"]], image)
    shas = [i.get("sha256") for i in doc["images"]]
    if len(set(shas)) != len(shas):
        raise invalid("Two images of the package have the same bytes.")
    for entry in doc["support_sets"]:
        support = _load_json(package.files[entry["path"]], entry["path"])
        _check_support_set(support, entry, images)
        package.support_docs[str(entry.get("id"))] = support
    if not with_results:
        return
    seen = set()
    for result in doc["results"]:
        _check_result(package, result, images)
        where = (str(result.get("job")), str(result.get("image")), result.get("frame"))
        if where in seen or str(result.get("id")) in seen:
            raise invalid("The package lists a result twice.", "inconsistent")
        seen |= {where, str(result.get("id"))}


def _probe(path: Path, image: dict):
    filename = Path(str(image.get("filename") or "original")).name[:255]
    probe = services.upload_probe(path, filename)  # the upload's checks: format, bombs, decoding
    claimed = tuple(image.get(k) for k in ("format", "width", "height", "frames"))
    found = (probe.format, probe.width, probe.height, probe.frames)
    if claimed != found:
        raise invalid(
            f"{filename}: the package describes a {claimed[0]} of {claimed[1]}x{claimed[2]} px "
            f"({claimed[3]} frames); the file is a {found[0]} of {found[1]}x{found[2]} px "
            f"({found[3]} frames).",
            "inconsistent",
        )
    return probe


def _check_support_set(support, entry: dict, images: dict[str, dict]) -> None:
    name = entry["path"]
    if not isinstance(support, dict) or support.get("id") != entry.get("id"):
        raise invalid(f"{name} is not the support set the package lists.", "inconsistent")
    classes, chips = _list(support, "classes"), _list(support, "chips")
    try:
        chip_size = int(support["chip_size"])
        offset_y, offset_x = (int(v) for v in support["offset"])
        class_ids = [str(c["id"]) for c in classes]
        names = [str(c["name"]) for c in classes]
        str(support["schema"]["name"])
        int(support["number"])
        cells = [(str(c["image"]), int(c["row"]), int(c["col"]), str(c["class"])) for c in chips]
    except (KeyError, TypeError, ValueError) as err:
        raise invalid(f"{name} is not a frozen support set ({err!r}).", "inconsistent") from None
    if support.get("rule") not in ConsensusRule.values:
        raise invalid(f"{name}: unknown consensus rule.", "inconsistent")
    if chip_size < 1 or not (0 <= offset_y < chip_size and 0 <= offset_x < chip_size):
        raise invalid(f"{name}: chip size and offset do not make a grid.", "inconsistent")
    if len(set(class_ids)) != len(class_ids) or not all(names):
        raise invalid(f"{name}: its classes are not distinct and named.", "inconsistent")
    for image_id, row, col, class_id in cells:
        if image_id not in images or class_id not in class_ids:
            raise invalid(
                f"{name}: a chip names an image or class the package lacks.", "inconsistent"
            )
        image = images[image_id]
        rows = (int(image["height"]) - offset_y) // chip_size
        cols = (int(image["width"]) - offset_x) // chip_size
        if not (0 <= row < rows and 0 <= col < cols):
            raise invalid(f"{name}: chip ({row}, {col}) lies outside its image.", "inconsistent")


def _check_result(package: Package, result: dict, images: dict[str, dict]) -> None:
    result_id = str(result.get("id"))
    if not isinstance(result.get("frame", 0), int) or result.get("frame", 0) < 0:
        raise invalid(f"Result {result_id[:40]}: its frame is not a number.", "inconsistent")
    if str(result.get("image")) not in images:
        raise invalid(f"Result {result_id[:40]} is of an image the package lacks.", "inconsistent")
    if str(result.get("support_set")) not in package.support_docs:
        raise invalid(
            f"Result {result_id[:40]} used a support set the package lacks.", "inconsistent"
        )
    files = {f.get("name"): f for f in result["files"]}
    if "result.json" not in files:
        raise invalid(f"Result {result_id[:40]} has no result.json.", "inconsistent")
    document = _load_json(package.files[files["result.json"]["path"]], "result.json")
    try:
        labels = np.asarray(document["labels"], dtype=np.int64)
        grid = document["grid"]
        chip_size, (offset_y, offset_x) = int(grid["chip_size"]), grid["offset"]
        rows, cols = int(grid["rows"]), int(grid["cols"])
        [float(f) for f in document["stats"]["fractions"]]
        dict(document["provenance"]["params"])
        [str(c["name"]) for c in document["classes"]]
    except (KeyError, TypeError, ValueError) as err:
        raise invalid(f"Result {result_id[:40]}: result.json is not a result ({err!r}).") from None
    image = images[str(result["image"])]
    if labels.shape != (rows, cols) or rows * chip_size + int(offset_y) > int(image["height"]):
        raise invalid(f"Result {result_id[:40]}: its grid does not fit its image.", "inconsistent")
    if cols * chip_size + int(offset_x) > int(image["width"]):
        raise invalid(f"Result {result_id[:40]}: its grid does not fit its image.", "inconsistent")
    if "arrays.npz" in files:
        arrays = _load_npz(package.files[files["arrays.npz"]["path"]])
        if not np.array_equal(np.asarray(arrays.get("labels")), labels):
            raise invalid(
                f"Result {result_id[:40]}: arrays.npz and result.json disagree on the labels.",
                "inconsistent",
            )
    package.result_docs[result_id] = document


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in ("labels", "probs", "confidence")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise invalid(f"A result's arrays.npz is not readable ({err}).", "inconsistent") from err


def resolve_models(package: Package, *, user) -> None:
    """The model version that made each result, on this server: the same id, else the same
    name, version and weights, among the versions the importing user may use."""
    visible = model_versions_visible_to(user=user)
    missing = []
    for result in package.doc["results"]:
        model = result.get("model_version") or {}
        key = str(model.get("id"))
        if key in package.models:
            continue
        found = None
        with contextlib.suppress(ValueError):
            found = visible.filter(pk=uuid.UUID(key)).first()
        if found is None and model.get("name") and isinstance(model.get("version"), int):
            same = visible.filter(name=str(model["name"]), version=model["version"])
            if model.get("weights_sha256"):
                same = same.filter(weights_sha256=model["weights_sha256"])
            if model.get("encoder_kind"):
                same = same.filter(encoder_kind=model["encoder_kind"])
            found = same.first()
        if found is None:
            missing.append(f"{model.get('name', '?')} v{model.get('version', '?')}")
        package.models[key] = found
    if missing:
        raise Conflict(
            "The results were made by model versions this server does not have: "
            + ", ".join(sorted(set(missing)))
            + ". Register them first, or import without results.",
            code="model_unavailable",
        )
