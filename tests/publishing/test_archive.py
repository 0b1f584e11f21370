"""Dataset packages: a published version exported as its RO-Crate zip and imported into another
lab (standing in for another Chiplab) as a new dataset, then re-derived; bad packages refused
with nothing stored.

The import answers 202 and queues the check and restore; these tests hold that job back and
run the real task (``workers.tasks.publishing.import_dataset_archive``, delivery tracking
included) in this process, then read the outcome through the API (``imported``). A real
worker runs it in tests/client/test_archive_client.py."""

import io
import json
import uuid
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from analysis import artefacts
from analysis.models import JobStatus, SegmentationResult
from analysis.rederive import result_rederive
from catalog.models import Dataset, DatasetVersion, Image
from catalog.services import image_ingest
from common import storage
from common.errors import Forbidden, Invalid, NotFound, TooLarge
from labeling.models import MAX_SCHEMA_CLASSES, Grid, LabelClass, SupportSetVersion
from publishing import archive, crate_archive, datacite
from publishing.models import DatasetArchiveImport
from tests.factories import MembershipFactory
from tests.publishing.archive_support import (
    ORCID,
    TASK,
    URL,
    counts,
    crate_bytes,
    importer,
    objects_under,
    post,
    published_version,
    repack,
    sha,
    stored,
)
from workers.tasks.publishing import import_dataset_archive

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(world, client_for):
    """Lab A's version 1: a calibrated image by hand, a frozen support set, a result."""
    return published_version(world, client_for)


@pytest.fixture
def imported(hold_jobs, django_capture_on_commit_callbacks):
    return importer(hold_jobs, django_capture_on_commit_callbacks)


# --- the round trip ------------------------------------------------------------------------
def test_round_trip_export_import_rederive(world, published, client_for, imported):
    """Lab A's published version, exported and imported into lab B: new ids, the same bytes
    for originals and result files, the same labels, and a result that re-derives identical."""
    version, image, result = published["version"], published["image"], published["result"]
    data = crate_bytes(client_for(world.viewer), version)
    lab_b, curator_b = world.other_lab, world.outsider  # lab B's owner

    body = imported(client_for(curator_b), data, lab_b)
    assert (body["status"], body["stage"], body["error"]) == ("succeeded", "done", ""), body
    assert body["done_bytes"] == body["total_bytes"] > len(data) // 2
    assert (body["images"], body["support_sets"], body["results"]) == (1, 1, 1)
    assert body["source"]["version"] == str(version.pk)
    assert body["source"]["persistent_url"].endswith(f"/dataset-versions/{version.pk}/")
    dataset = Dataset.objects.get(pk=body["dataset"]["id"])
    assert dataset.pk != version.dataset_id and dataset.lab == lab_b
    assert objects_under(f"labs/{lab_b.pk}/archive-imports") == []  # the package is gone
    expected = ("STO/Ge interfaces", "CC-BY-4.0", ["STO", "Ge"])
    assert (dataset.title, dataset.licence, dataset.keywords) == expected
    assert dataset.creators[0]["orcid"] == ORCID and dataset.funding[0]["award_number"] == "42"

    # originals: new ids and keys, bit-exact, ingested like uploads, the pixel size kept
    (copy,) = dataset.images.all()
    assert copy.pk != image.pk and copy.original_key != image.original_key
    assert copy.sha256 == image.sha256 == sha(stored(copy.original_key))
    assert stored(copy.original_key) == stored(image.original_key)
    assert (copy.width, copy.height, copy.format) == (image.width, image.height, image.format)
    copy = image_ingest(image_id=copy.pk)
    assert copy.status == "ready"
    assert copy.pixel_size == pytest.approx(0.731) and copy.pixel_unit == "nm"
    assert copy.instrument == image.instrument

    # classes and the frozen support set: new ids, the same chips on the new image's grid
    (schema,) = dataset.schemas.all()
    assert schema.is_default
    source_set, new_set = published["support"], SupportSetVersion.objects.get(schema=schema)
    assert new_set.pk != source_set.pk
    assert [c["name"] for c in new_set.classes] == [c["name"] for c in source_set.classes]
    assert {c["id"] for c in new_set.classes}.isdisjoint({c["id"] for c in source_set.classes})
    assert set(LabelClass.objects.filter(schema=schema).values_list("name", flat=True)) == {
        c["name"] for c in source_set.classes
    }
    names_of = {c["id"]: c["name"] for c in source_set.classes}
    new_names = {c["id"]: c["name"] for c in new_set.classes}
    assert sorted((c["row"], c["col"], names_of[c["class"]]) for c in source_set.chips) == sorted(
        (c["row"], c["col"], new_names[c["class"]]) for c in new_set.chips
    )
    assert {c["image"] for c in new_set.chips} == {str(copy.pk)}
    assert Grid.objects.get(pk=new_set.chips[0]["grid"]).image_id == copy.pk

    # the result: a finished job of lab B, label-exact, its files bit-exact
    (new_result,) = SegmentationResult.objects.filter(image=copy)
    assert new_result.pk != result.pk and new_result.job.lab == lab_b
    assert new_result.job.status == JobStatus.SUCCEEDED
    assert new_result.job.support_set == new_set
    assert new_result.job.model_version == result.job.model_version
    old_arrays = artefacts.npz_load(result.arrays_key)
    new_arrays = artefacts.npz_load(new_result.arrays_key)
    for name in ("labels", "probs", "confidence"):
        assert np.array_equal(old_arrays[name], new_arrays[name]), name
    assert new_result.fractions == result.fractions and new_result.counts == result.counts
    for name in ("mask.png", "mask.ome.tif", "counts.csv", "result.json"):
        assert stored(new_result.artefacts[name]) == stored(result.artefacts[name]), name
    assert [c["name"] for c in new_result.classes] == [c["name"] for c in result.classes]
    assert [c["id"] for c in new_result.classes] == [c["id"] for c in new_set.classes]

    _check_imported_version(body, version, dataset, new_result, client_for, curator_b, world)


def _check_imported_version(body, version, dataset, new_result, client_for, curator_b, world):
    """Version 1 of the imported dataset: names its source, and its result re-derives."""
    # version 1 of the new dataset is the package as imported, naming its source
    imported = DatasetVersion.objects.get(pk=body["version"]["id"])
    assert imported.dataset == dataset and imported.number == 1
    assert imported.manifest["source"]["version"] == str(version.pk)
    assert str(version.pk) in imported.note or "dataset-versions" in imported.note
    related = datacite.version_datacite(imported)["relatedIdentifiers"]
    assert {
        "relatedIdentifier": body["source"]["persistent_url"],
        "relatedIdentifierType": "URL",
        "relationType": "IsIdenticalTo",
    } in related

    # re-derived from the imported version's provenance alone: bit-identical
    report = result_rederive(version=imported, result_id=str(new_result.pk))
    assert report["identical"] is True, report
    assert report["chip_labels"]["differing"] == 0 and report["pixel_mask"]["differing"] == 0
    api = client_for(curator_b).post(
        f"/api/dataset-versions/{imported.pk}/results/{new_result.pk}/rederive"
    )
    assert api.status_code == 200 and api.json()["identical"] is True

    # lab A does not see lab B's copy
    viewer_a = client_for(world.viewer)
    assert viewer_a.get(f"/api/datasets/{dataset.pk}/").status_code == 404


def test_an_imported_version_exports_and_imports_again(world, published, client_for, imported):
    """The copy's own package names the original source, and imports again."""
    first = imported(
        client_for(world.outsider),
        crate_bytes(client_for(world.viewer), published["version"]),
        world.other_lab,
    )
    imported_version = DatasetVersion.objects.get(pk=first["version"]["id"])
    data = crate_bytes(client_for(world.outsider), imported_version)
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(crate_archive.ARCHIVE))
    assert doc["source"]["version"] == str(published["version"].pk)
    second = imported(client_for(world.curator), data, world.lab)
    assert second["status"] == "succeeded", second
    assert second["source"]["version"] == str(imported_version.pk)
    copy = Image.objects.get(dataset_id=second["dataset"]["id"])
    assert copy.sha256 == published["image"].sha256


def test_results_need_their_model_version(world, published, client_for, imported):
    data = repack(
        crate_bytes(client_for(world.viewer), published["version"]),
        doc=lambda d: d["results"][0]["model_version"].update(
            id="00000000-0000-0000-0000-000000000001", name="elsewhere-encoder"
        ),
    )
    before = counts()
    state = imported(client_for(world.outsider), data, world.other_lab)
    assert state["status"] == "failed" and state["error_code"] == "model_unavailable"
    assert "elsewhere-encoder" in state["error"] and state["dataset"] is None
    assert counts() == before
    state = imported(client_for(world.outsider), data, world.other_lab, with_results="false")
    assert state["status"] == "succeeded", state
    assert state["results"] == 0 and state["support_sets"] == 1


def test_a_package_without_chip_arrays_imports_from_result_json(
    world, published, client_for, imported
):
    """Packages of versions published before arrays.npz was frozen: the labels and confidence
    come from result.json; each chip's probability of its class is its confidence."""
    result = published["result"]
    arrays_path = f"results/{result.pk}/arrays.npz"

    def without_arrays(document):
        files = document["results"][0]["files"]
        document["results"][0]["files"] = [f for f in files if f["name"] != "arrays.npz"]

    data = repack(
        crate_bytes(client_for(world.viewer), published["version"]),
        doc=without_arrays,
        unlist=[arrays_path],
    )
    state = imported(client_for(world.outsider), data, world.other_lab)
    assert state["status"] == "succeeded", state
    (copy,) = SegmentationResult.objects.filter(job__lab=world.other_lab)
    old, new = artefacts.npz_load(result.arrays_key), artefacts.npz_load(copy.arrays_key)
    assert np.array_equal(old["labels"], new["labels"])
    assert np.allclose(old["confidence"], new["confidence"], atol=1e-6)
    picked = np.take_along_axis(new["probs"], new["labels"][..., None].astype(int), -1)
    assert np.allclose(picked[..., 0], new["confidence"])
    assert new["probs"].shape == old["probs"].shape
    assert np.allclose(new["probs"].sum(-1), 1.0, atol=1e-5)


# --- bad packages --------------------------------------------------------------------------
def _bad_packages(data: bytes) -> dict:
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    original = next(n for n in names if n.startswith("images/"))
    mask = next(n for n in names if n.endswith("/mask.png"))
    flipped = bytearray(zipfile.ZipFile(io.BytesIO(data)).read(original))
    flipped[-1] ^= 0xFF
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(crate_archive.ARCHIVE))
    support_path = doc["support_sets"][0]["path"]
    support = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(support_path))
    support["classes"] += [
        {"id": str(uuid.uuid4()), "name": f"phase {i}", "colour": "#123456"}
        for i in range(MAX_SCHEMA_CLASSES)
    ]
    more = json.dumps(support).encode()
    return {
        # more classes than a schema holds
        "too_many_classes": (
            400,
            repack(
                data,
                replace={support_path: more},
                doc=lambda d: d["support_sets"][0].update(sha256=sha(more), size=len(more)),
            ),
        ),
        "not_a_zip": (400, b"PK\x03\x04 this is not really a zip"),
        "checksum_mismatch": (
            400,
            repack(data, replace={original: bytes(flipped)}, keep_checksums=True),
        ),
        "missing_file": (400, repack(data, drop=[mask])),
        "unlisted_file": (400, repack(data, add={"extra.txt": b"hello"})),
        "not_a_crate": (400, _zip({"a.txt": b"x"})),
        "inconsistent": (400, repack(data, doc=lambda d: d["images"][0].update(width=999))),
        # a zip bomb: a small zip that says it unpacks past the server's limit
        "archive_too_large": (413, repack(data, add={"zeros.bin": b"\0" * (12 * 1024**2)})),
    }


def _zip(files: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return out.getvalue()


def test_bad_packages_are_refused_and_store_nothing(
    world, published, client_for, settings, imported
):
    data = crate_bytes(client_for(world.viewer), published["version"])
    settings.CHIPLAB_ARCHIVE_MAX_UNPACKED_BYTES = len(data) + 10 * 1024**2
    client = client_for(world.outsider)
    before = counts()
    prefix = f"labs/{world.other_lab.pk}"
    for code, (_, package) in _bad_packages(data).items():
        assert len(package) < 2 * 1024**2  # the bomb is small on the wire
        state = imported(client, package, world.other_lab)
        assert state["status"] == "failed", (code, state)
        assert state["error_code"] == code and state["error"], (code, state)
        assert state["dataset"] is None and state["finished"], code
        assert counts() == before, code
        assert objects_under(prefix) == [], code
    # the good package still imports under the same limits
    assert imported(client, data, world.other_lab)["status"] == "succeeded"


def test_size_bounds_and_no_file(world, published, client_for, settings):
    data = crate_bytes(client_for(world.viewer), published["version"])
    client = client_for(world.outsider)
    settings.CHIPLAB_ARCHIVE_MAX_BYTES = len(data) - 1
    response = post(client, data, world.other_lab)
    assert response.status_code == 413 and "CHIPLAB_ARCHIVE_MAX_BYTES" in response.content.decode()
    response = client.post(URL, {"lab": str(world.other_lab.pk)}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_file"
    assert not Dataset.objects.filter(lab=world.other_lab).exists()


def test_a_failure_while_storing_leaves_nothing(
    world, published, client_for, monkeypatch, hold_jobs, django_capture_on_commit_callbacks
):
    """Objects written before a failure are deleted, the rows roll back, and the import
    records the failure (a fault injected into the store's writes)."""
    data = crate_bytes(client_for(world.viewer), published["version"])
    held = hold_jobs(TASK)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client_for(world.outsider), data, world.other_lab)
    assert response.status_code == 202, response.content
    real_put, calls = storage.put, []

    def failing_put(key, fileobj):
        calls.append(key)
        if len(calls) == 4:
            raise OSError("store went away")
        return real_put(key, fileobj)

    monkeypatch.setattr(storage, "put", failing_put)
    before = counts()
    (args,) = held.args(TASK)
    import_dataset_archive.apply(args=args, throw=True)
    assert len(calls) == 4 and counts() == before
    assert objects_under(f"labs/{world.other_lab.pk}") == []
    job = DatasetArchiveImport.objects.get(pk=args[0])
    assert job.status == "failed" and "store went away" in job.error and job.dataset is None


def test_access(world, published, client_for, imported):
    data = crate_bytes(client_for(world.viewer), published["version"])
    # another lab's member: the lab does not exist for them
    assert post(client_for(world.outsider), data, world.lab).status_code == 404
    assert post(client_for(None), data, world.lab).status_code in (401, 403)
    for role in ("viewer", "annotator"):
        assert post(client_for(world.users[role]), data, world.lab).status_code == 403
    with pytest.raises(Forbidden):
        archive.dataset_archive_import_start(
            user=MembershipFactory(lab=world.other_lab, role=Role.ANNOTATOR).user,
            lab=world.other_lab,
            upload=SimpleUploadedFile("p.zip", data),
        )
    with pytest.raises(NotFound):
        archive.dataset_archive_import_start(
            user=world.viewer, lab=world.other_lab, upload=SimpleUploadedFile("p.zip", data)
        )
    assert not Dataset.objects.filter(lab=world.other_lab).exists()
    # an import is seen only by its lab's curators
    state = imported(client_for(world.outsider), data, world.other_lab)
    url = f"{URL}{state['id']}/"
    assert client_for(world.viewer).get(url).status_code == 404  # lab A
    assert client_for(None).get(url).status_code in (401, 403)
    annotator = MembershipFactory(lab=world.other_lab, role=Role.ANNOTATOR).user
    assert client_for(annotator).get(url).status_code == 404
    assert client_for(world.outsider).get(url).json()["status"] == "succeeded"


def test_service_errors_are_domain_errors(world, published, client_for, settings):
    """The service raises the project's errors (mapped to 4xx once), never a bare exception;
    nothing is stored for a refused request."""
    data = crate_bytes(client_for(world.viewer), published["version"])
    settings.CHIPLAB_ARCHIVE_MAX_BYTES = 1000
    with pytest.raises(TooLarge):
        archive.dataset_archive_import_start(
            user=world.outsider, lab=world.other_lab, upload=SimpleUploadedFile("p.zip", data)
        )
    with pytest.raises(Invalid):
        archive.dataset_archive_import_start(
            user=world.outsider, lab=world.other_lab, upload=SimpleUploadedFile("p.zip", b"")
        )
    with pytest.raises(Invalid):
        archive.dataset_archive_import_start(
            user=world.outsider,
            lab=world.other_lab,
            upload=SimpleUploadedFile("p.zip", b"PK"),
            visibility="everyone",
        )
    assert not DatasetArchiveImport.objects.exists()
    assert objects_under(f"labs/{world.other_lab.pk}") == []
