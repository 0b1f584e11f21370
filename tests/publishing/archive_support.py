"""Helpers of the dataset-package tests: a published version with a result, its package, the
package rewritten, and an import run as the worker would (``importer``)."""

import hashlib
import io
import json
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.models import SegmentationJob
from catalog.models import Dataset, DatasetVersion, Image
from catalog.services import image_calibrate
from common import storage
from labeling.models import LabelSchema, SupportSetVersion
from labeling.services import support_set_freeze
from publishing import crate_archive, rocrate, versions
from tests.analysis.helpers import (
    labelled_schema,
    run_job,
    truth_chips,
    upload_ready_image,
    vote_truth,
)
from tests.factories import fourier_champion
from workers.tasks.publishing import import_dataset_archive

ORCID = "0000-0002-1825-0097"
URL = "/api/dataset-archives/"


def published_version(world, client_for) -> dict:
    """Lab A's version 1: a calibrated image by hand, a frozen support set, a result."""
    dataset = world.dataset(
        title="STO/Ge interfaces",
        description="Simulated HAADF micrographs.",
        keywords=["STO", "Ge"],
        creators=[{"name": "Ada Curator", "orcid": ORCID, "affiliation": "Chiplab"}],
        funding=[{"funder_name": "SNSF", "award_number": "42"}],
    )
    image, s = upload_ready_image(world, dataset=dataset)
    image = image_calibrate(user=world.curator, image=image, pixel_size=0.731, pixel_unit="nm")
    schema, classes, grid = labelled_schema(world, image, s)
    vote_truth(world.annotator, grid, schema, classes, truth_chips(s))
    support = support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    fourier_champion()
    result = run_job(client_for(world.annotator), support, [image])
    version = versions.dataset_version_create(
        user=world.curator, dataset=dataset, note="First release.", results=[result.pk]
    )
    return {"version": version, "image": image, "support": support, "result": result}


def crate_bytes(client, version) -> bytes:
    response = client.get(f"/api/dataset-versions/{version.pk}/ro-crate.zip")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def stored(key: str) -> bytes:
    with storage.open_(key) as fh:
        return fh.read()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def objects_under(prefix: str) -> list[str]:
    try:
        folders, files = storage.listdir(prefix)
    except FileNotFoundError:
        return []
    return [f"{prefix}/{f}" for f in files] + [
        key for folder in folders for key in objects_under(f"{prefix}/{folder}")
    ]


def post(client, data: bytes, lab, **fields):
    upload = SimpleUploadedFile("dataset.crate.zip", data, content_type="application/zip")
    return client.post(URL, {"file": upload, "lab": str(lab.pk), **fields}, format="multipart")


TASK = "workers.tasks.publishing.import_dataset_archive"


def importer(hold_jobs, django_capture_on_commit_callbacks):
    """``imported(client, data, lab, **fields)``: POST the package (202), run the job it
    queued as the worker would, and answer the import as the API then shows it (a refusal of
    the request itself: its response)."""

    def run(client, data: bytes, lab, **fields):
        held = hold_jobs(TASK)
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, data, lab, **fields)
        if response.status_code != 202:
            return response
        body = response.json()
        assert body["status"] == "queued" and body["stage"] == "queued", body
        assert held.args(TASK) == [(body["id"],)]
        held.held.clear()
        with django_capture_on_commit_callbacks(execute=True):
            import_dataset_archive.apply(args=[body["id"]], throw=True)
        state = client.get(f"{URL}{body['id']}/")
        assert state.status_code == 200, state.content
        return state.json()

    return run


def counts() -> tuple:
    return tuple(
        m.objects.count()
        for m in (Dataset, Image, DatasetVersion, SupportSetVersion, SegmentationJob, LabelSchema)
    )


def repack(
    data: bytes, *, doc=None, drop=(), unlist=(), add=None, replace=None, keep_checksums=False
):
    """The package rewritten: ``doc(document)`` edits chiplab-archive.json, ``drop`` removes
    files (``unlist`` also from the crate), ``add`` adds files, ``replace`` swaps files' bytes;
    the crate's sizes and checksums follow unless ``keep_checksums`` (a tampered package)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    files = {n: source.read(n) for n in source.namelist()}
    if doc is not None:
        document = json.loads(files[crate_archive.ARCHIVE])
        doc(document)
        files[crate_archive.ARCHIVE] = json.dumps(document).encode()
    files.update(replace or {})
    meta = json.loads(files.pop(rocrate.METADATA))
    for node in meta["@graph"]:
        if node["@id"] in files and not keep_checksums:
            node["sha256"], node["contentSize"] = (
                sha(files[node["@id"]]),
                str(len(files[node["@id"]])),
            )
    meta["@graph"] = [n for n in meta["@graph"] if n["@id"] not in unlist]
    root = next(n for n in meta["@graph"] if n["@id"] == "./")
    root["hasPart"] = [p for p in root["hasPart"] if p["@id"] not in unlist]
    for name in (*drop, *unlist):
        files.pop(name)
    files.update(add or {})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(rocrate.METADATA, json.dumps(meta))
        for name, content in files.items():
            zf.writestr(name, content)
    return out.getvalue()
