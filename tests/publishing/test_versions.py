"""Dataset versions: immutable numbered snapshots, their landing pages, the "latest" alias and
their RO-Crate 1.2 packages (contents checked against the stored files, and validated)."""

import hashlib
import io
import json
import zipfile

import pytest
from django.test import Client

from accounts.models import Role
from analysis.models import JobStatus, SegmentationResult
from catalog.models import DatasetVersion, Visibility
from catalog.services import dataset_update
from common import storage
from common.errors import Conflict, Forbidden, Invalid, NotFound
from labeling.services import support_set_freeze
from publishing import rocrate_zip, versions
from tests.analysis.helpers import labelled_schema, truth_chips, upload_ready_image, vote_truth
from tests.catalog import rocrate_support
from tests.factories import MembershipFactory, fourier_champion
from tests.support.segmentation import segmentation_run

pytestmark = pytest.mark.django_db
ORCID = "0000-0002-1825-0097"


def versions_url(dataset) -> str:
    return f"/api/datasets/{dataset.pk}/versions/"


def page_client(user=None) -> Client:
    """A browser-like client for the server-rendered pages (a session, not a token)."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def segmented(world, client_for):
    """A dataset with a ready image, a frozen support set and a finished segmentation."""
    dataset = world.dataset(
        title="STO/Ge interfaces",
        description="Simulated HAADF micrographs of an STO/Ge interface.",
        keywords=["STO", "Ge"],
        creators=[{"name": "Ada Curator", "orcid": ORCID, "affiliation": "Chiplab"}],
    )
    image, s = upload_ready_image(world, dataset=dataset)
    schema, classes, grid = labelled_schema(world, image, s)
    vote_truth(world.annotator, grid, schema, classes, truth_chips(s))
    support = support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    fourier_champion()
    client = client_for(world.annotator)
    job = client.post(
        "/api/segmentation-jobs/",
        {"support_set": str(support.pk), "images": [str(image.pk)]},
        format="json",
    ).json()
    segmentation_run(job_id=job["id"])
    result = SegmentationResult.objects.get(job_id=job["id"])
    assert result.job.status == JobStatus.SUCCEEDED, result.job.error
    return {"dataset": dataset, "image": image, "support": support, "result": result}


@pytest.fixture
def published(world, segmented):
    version = versions.dataset_version_create(
        user=world.curator,
        dataset=segmented["dataset"],
        note="First release.",
        results=[segmented["result"].pk],
    )
    return {**segmented, "version": version}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stored(key: str) -> bytes:
    with storage.open_(key) as fh:
        return fh.read()


# --- services ----------------------------------------------------------------------------
def test_a_version_freezes_images_support_sets_and_results(world, published):
    version, image, result = published["version"], published["image"], published["result"]
    assert version.number == 1 and version.note == "First release."
    assert version.title == "STO/Ge interfaces" and version.licence == "CC-BY-4.0"
    assert [i["sha256"] for i in version.manifest["images"]] == [image.sha256]
    assert _sha(_stored(image.original_key)) == image.sha256
    # the result's support set comes with it, although it was not asked for
    assert [s["id"] for s in version.manifest["support_sets"]] == [str(published["support"].pk)]
    (entry,) = version.manifest["results"]
    assert entry["support_set"] == str(published["support"].pk)
    assert entry["model_version"]["encoder_kind"] == "fourier"
    assert entry["code_version"]
    names = {f["name"] for f in entry["files"]}
    assert {"mask.png", "mask.ome.tif", "counts.csv", "result.json", "arrays.npz"} <= names
    kept = {**result.artefacts, "arrays.npz": result.arrays_key}
    for f in entry["files"]:  # copies under the version's keys, same bytes as the result's
        assert f["key"].startswith(versions.version_prefix(version.dataset, version.pk))
        assert _sha(_stored(f["key"])) == f["sha256"] == _sha(_stored(kept[f["name"]]))
    support_doc = json.loads(_stored(version.manifest["support_sets"][0]["key"]))
    assert support_doc["n_contributors"] == 1 and "contributors" not in support_doc
    assert set(version.images.all()) == {image}


def test_numbers_count_up_and_only_curators_publish(world, published):
    dataset = published["dataset"]
    second = versions.dataset_version_create(user=world.owner, dataset=dataset)
    assert second.number == 2 and second.manifest["results"] == []
    for role in ("viewer", "annotator"):
        with pytest.raises(Forbidden):
            versions.dataset_version_create(user=world.users[role], dataset=dataset)
    with pytest.raises(NotFound):
        versions.dataset_version_create(user=world.outsider, dataset=dataset)


def test_a_published_version_never_changes(world, published, client_for):
    """Edits of the dataset, a new calibration, a rewritten result and a new image leave the
    version as it was (metadata, files, crate bytes); a new version carries them."""
    version, dataset, image, result = (
        published[k] for k in ("version", "dataset", "image", "result")
    )
    client = client_for(world.viewer)
    before = client.get(f"/api/dataset-versions/{version.pk}/").json()
    crate_before = body(client.get(f"/api/dataset-versions/{version.pk}/ro-crate.zip"))

    dataset_update(user=world.curator, dataset=dataset, title="Renamed", licence="CC0-1.0")
    client_for(world.curator).patch(
        f"/api/images/{image.pk}/", {"pixel_size": 0.5, "pixel_unit": "nm"}, format="json"
    )
    storage.put_bytes(result.artefacts["result.json"], b'{"rewritten": true}')
    upload_ready_image(world, dataset=dataset, seed=7)

    version.refresh_from_db()
    assert client.get(f"/api/dataset-versions/{version.pk}/").json() == before
    assert body(client.get(f"/api/dataset-versions/{version.pk}/ro-crate.zip")) == crate_before
    assert version.title == "STO/Ge interfaces" and len(version.manifest["images"]) == 1

    newer = versions.dataset_version_create(user=world.curator, dataset=dataset, note="Fix")
    assert (newer.number, newer.title, newer.licence) == (2, "Renamed", "CC0-1.0")
    assert len(newer.manifest["images"]) == 2
    assert newer.manifest["images"][0]["pixel_size"] == 0.5

    # no way to change or remove it through the API
    curator = client_for(world.owner)
    for method in ("put", "patch", "delete"):
        response = getattr(curator, method)(f"/api/dataset-versions/{version.pk}/", {})
        assert response.status_code == 405, method
    # nor to delete what it holds
    response = curator.delete(f"/api/images/{image.pk}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "published"
    response = curator.delete(f"/api/datasets/{dataset.pk}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "published"
    assert DatasetVersion.objects.filter(pk=version.pk).exists()


def test_bad_choices_are_refused_and_leave_nothing_behind(world, segmented):
    dataset = segmented["dataset"]
    other = world.dataset(title="Other")
    other_image, _ = upload_ready_image(world, dataset=other, seed=3)
    cases = [
        ({"results": ["not-a-uuid"]}, Invalid),
        ({"results": [segmented["image"].pk]}, Invalid),  # an image id is not a result
        ({"support_sets": [other_image.pk]}, Invalid),
        ({"note": "x" * (versions.MAX_NOTE_CHARS + 1)}, Invalid),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            versions.dataset_version_create(user=world.curator, dataset=dataset, **kwargs)
    with pytest.raises(Conflict):  # nothing to publish
        versions.dataset_version_create(user=world.curator, dataset=world.dataset(title="Empty"))
    assert not DatasetVersion.objects.exists()
    prefix = versions.version_prefix(dataset, "")
    assert not storage.exists(prefix)  # no orphaned copies


# --- API -----------------------------------------------------------------------------------
def test_api_publish_list_latest_and_detail(world, segmented, client_for):
    dataset, result = segmented["dataset"], segmented["result"]
    curator = client_for(world.curator)
    response = curator.post(
        versions_url(dataset), {"note": "v1", "results": [str(result.pk)]}, format="json"
    )
    assert response.status_code == 201, response.content
    first = response.json()
    assert first["number"] == 1 and first["results"][0]["id"] == str(result.pk)
    assert first["persistent_url"].endswith(f"/dataset-versions/{first['id']}/")
    second = curator.post(versions_url(dataset), {}, format="json").json()

    viewer = client_for(world.viewer)
    listed = viewer.get(versions_url(dataset)).json()
    assert [v["number"] for v in listed["results"]] == [2, 1]
    latest = viewer.get(f"{versions_url(dataset)}latest").json()
    assert latest["id"] == second["id"]
    assert viewer.get(first["links"]["self"]).json()["note"] == "v1"
    jsonld = viewer.get(first["links"]["jsonld"]).json()
    assert jsonld["version"] == "1" and jsonld["distribution"][0]["encodingFormat"] == (
        "application/zip"
    )

    assert viewer.post(versions_url(dataset), {}, format="json").status_code == 403
    bad = curator.post(versions_url(dataset), {"results": ["nope"]}, format="json")
    assert bad.status_code == 400 and "results[0]" in bad.json()["error"]["fields"]
    too_many = curator.post(
        versions_url(dataset),
        {"support_sets": [str(segmented["support"].pk)] * 51},
        format="json",
    )
    assert too_many.status_code == 400


def test_latest_before_any_version_is_a_clear_404(world, segmented, client_for):
    response = client_for(world.viewer).get(f"{versions_url(segmented['dataset'])}latest")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_version"


def test_another_lab_gets_404_everywhere(world, published, client_for):
    version, dataset = published["version"], published["dataset"]
    urls = [
        versions_url(dataset),
        f"{versions_url(dataset)}latest",
        f"/api/dataset-versions/{version.pk}/",
        f"/api/dataset-versions/{version.pk}/jsonld",
        f"/api/dataset-versions/{version.pk}/ro-crate-metadata.json",
        f"/api/dataset-versions/{version.pk}/ro-crate.zip",
    ]
    pages = [f"/dataset-versions/{version.pk}/", f"/datasets/{dataset.pk}/versions/latest/"]
    for client in (client_for(world.outsider), client_for(None)):
        for url in urls:
            assert client.get(url).status_code == 404, url
        assert client.post(versions_url(dataset), {}, format="json").status_code == 404
    for client in (page_client(world.outsider), page_client(None)):
        for url in pages:
            assert client.get(url).status_code == 404, url
    assert page_client(world.viewer).get(pages[0]).status_code == 200
    # a lab member who may not see a private dataset does not see its versions either
    dataset_update(user=world.curator, dataset=dataset, visibility=Visibility.PRIVATE)
    member = MembershipFactory(lab=world.lab, role=Role.VIEWER).user
    assert client_for(member).get(f"/api/dataset-versions/{version.pk}/").status_code == 404


def test_public_versions_are_open_to_everyone(world, published, client_for):
    version, dataset = published["version"], published["dataset"]
    dataset_update(user=world.curator, dataset=dataset, visibility=Visibility.PUBLIC)
    anonymous = client_for(None)
    assert anonymous.get(f"/api/dataset-versions/{version.pk}/").status_code == 200
    assert anonymous.get(f"/api/dataset-versions/{version.pk}/ro-crate.zip").status_code == 200
    # seeing is not publishing
    response = client_for(world.outsider).post(versions_url(dataset), {}, format="json")
    assert response.status_code == 404


# --- landing pages -----------------------------------------------------------------------
def test_landing_page_latest_alias_and_dataset_page(world, published, client_for):
    version, dataset = published["version"], published["dataset"]
    client = page_client(world.viewer)
    page = client.get(f"/dataset-versions/{version.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "STO/Ge interfaces" in html and "version 1" in html and "ro-crate.zip" in html
    assert f"https://orcid.org/{ORCID}" in html
    block = html.split('<script type="application/ld+json">')[1].split("</script>")[0]
    jsonld = json.loads(block)
    assert jsonld["@id"] == f"http://testserver/dataset-versions/{version.pk}/"
    assert jsonld["creator"][0]["identifier"] == f"https://orcid.org/{ORCID}"
    assert page["Content-Security-Policy"].startswith("default-src 'none'")

    newer = versions.dataset_version_create(user=world.curator, dataset=dataset)
    alias = client.get(f"/datasets/{dataset.pk}/versions/latest/")
    assert alias.status_code == 302 and alias["Location"] == f"/dataset-versions/{newer.pk}/"
    assert (
        "A newer version exists" in client.get(f"/dataset-versions/{version.pk}/").content.decode()
    )
    listing = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert (
        f"/dataset-versions/{version.pk}/" in listing
        and f"/dataset-versions/{newer.pk}/" in listing
    )


# --- the RO-Crate ------------------------------------------------------------------------
def _many(value) -> list:
    return value if isinstance(value, list) else [value]


def _crate(client, version) -> tuple[zipfile.ZipFile, dict]:
    response = client.get(f"/api/dataset-versions/{version.pk}/ro-crate.zip")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(body(response)))
    assert archive.testzip() is None
    return archive, json.loads(archive.read("ro-crate-metadata.json"))


def test_crate_files_match_the_stored_files(world, published, client_for):
    version, image, result = published["version"], published["image"], published["result"]
    archive, meta = _crate(client_for(world.viewer), version)
    graph = {node["@id"]: node for node in meta["@graph"]}
    assert meta["@context"] == "https://w3id.org/ro/crate/1.2/context"
    descriptor = graph["ro-crate-metadata.json"]
    assert descriptor["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.2"}
    root = graph["./"]
    parts = [p["@id"] for p in _many(root["hasPart"])]
    # every file of the zip is described, and every described file is in the zip
    assert sorted(parts) == sorted(n for n in archive.namelist() if n != "ro-crate-metadata.json")
    for path in parts:
        data, node = archive.read(path), graph[path]
        assert "File" in (node["@type"] if isinstance(node["@type"], list) else [node["@type"]])
        assert node["sha256"] == _sha(data) and node["contentSize"] == str(len(data))

    # the original: bit-exact, with its pixel size
    (image_path,) = [p for p in parts if p.startswith("images/")]
    assert archive.read(image_path) == _stored(image.original_key)
    assert graph[image_path]["sha256"] == image.sha256
    exif = {
        graph[ref["@id"]]["name"]: graph[ref["@id"]] for ref in _many(graph[image_path]["exifData"])
    }
    assert exif["pixel_size"]["@type"] == "PropertyValue"
    assert exif["pixel_size"]["value"] == pytest.approx(image.pixel_size)
    assert exif["pixel_size"]["unitText"] == image.pixel_unit

    # creators with ORCID, the licence
    assert root["creator"] == {"@id": f"https://orcid.org/{ORCID}"}
    person = graph[f"https://orcid.org/{ORCID}"]
    assert person["name"] == "Ada Curator"
    assert graph[person["affiliation"]["@id"]] == {
        "@id": "#organisation-chiplab",
        "@type": "Organization",
        "name": "Chiplab",
    }
    ids = {graph[i["@id"]]["propertyID"]: graph[i["@id"]]["value"] for i in root["identifier"]}
    assert ids["urn:uuid"] == f"urn:uuid:{version.pk}"
    assert ids["URL"].endswith(f"/dataset-versions/{version.pk}/")
    assert root["license"] == {"@id": "https://spdx.org/licenses/CC-BY-4.0.html"}
    assert graph[root["license"]["@id"]]["identifier"] == "CC-BY-4.0"

    # the result's provenance
    action = graph[f"#result-{result.pk}"]
    assert action["@type"] == "CreateAction"
    assert {"@id": f"#result-{result.pk}"} in _many(root["mentions"])
    model = graph[action["instrument"][0]["@id"]]
    assert model["name"] == "chiplab-fourier v1" and model["@type"] == "SoftwareApplication"
    assert graph[action["instrument"][1]["@id"]]["version"] == result.job.code_version
    objects = [o["@id"] for o in action["object"]]
    assert objects[:2] == [image_path, f"support-sets/{published['support'].pk}.json"]
    params = {graph[o]["name"]: graph[o]["value"] for o in objects[2:]}
    assert params["chip_size"] == 32 and "temperature" in params
    outputs = [o["@id"] for o in action["result"]]
    assert f"results/{result.pk}/mask.ome.tif" in outputs
    assert f"results/{result.pk}/counts.csv" in outputs
    assert archive.read(f"results/{result.pk}/counts.csv") == _stored(
        result.artefacts["counts.csv"]
    )


def test_crate_bytes_are_the_same_on_every_download(world, published, client_for):
    client = client_for(world.viewer)
    url = f"/api/dataset-versions/{published['version'].pk}/ro-crate.zip"
    assert body(client.get(url)) == body(client.get(url))


def test_a_changed_original_stops_the_download(world, published, client_for):
    """Originals are checked as they go out: a file that no longer matches its sha256 is
    not shipped as if it did."""
    image = published["image"]
    storage.put_bytes(image.original_key, b"not the micrograph")
    response = client_for(world.viewer).get(
        f"/api/dataset-versions/{published['version'].pk}/ro-crate.zip"
    )
    with pytest.raises(rocrate_zip.ChecksumMismatch):
        body(response)


def test_crate_validates_against_ro_crate_1_2(world, published, client_for, tmp_path):
    archive, meta = _crate(client_for(world.viewer), published["version"])
    crate_dir = tmp_path / "crate"
    archive.extractall(crate_dir)
    # the crate uses no term outside the context the validator is given (see rocrate_support)
    keys = {k for node in meta["@graph"] for k in node if not k.startswith("@")}
    types = {
        t
        for n in meta["@graph"]
        for t in ([n["@type"]] if isinstance(n["@type"], str) else n["@type"])
    }
    assert keys | types <= set(rocrate_support.CONTEXT_TERMS)
    cache = tmp_path / "roc-cache"
    rocrate_support.seed_offline_cache(cache)
    result = rocrate_support.validate(crate_dir, cache, severity="RECOMMENDED")
    issues = [
        f"{i.severity.name} {i.check.identifier}: {i.message}"
        for i in result.get_issues()
        if i.check.identifier not in rocrate_support.RECOMMENDATIONS_NOT_MET
    ]
    assert not issues, "\n".join(issues)
    # every MUST of the profile holds
    assert not [i for i in result.get_issues() if i.severity.name == "REQUIRED"]


def test_the_validator_catches_a_broken_crate(world, published, client_for, tmp_path):
    """The validation above can fail: a crate without a licence or date does not pass."""
    archive, meta = _crate(client_for(world.viewer), published["version"])
    crate_dir = tmp_path / "crate"
    archive.extractall(crate_dir)
    root = next(n for n in meta["@graph"] if n["@id"] == "./")
    del root["datePublished"], root["license"]
    (crate_dir / "ro-crate-metadata.json").write_text(json.dumps(meta))
    cache = tmp_path / "roc-cache"
    rocrate_support.seed_offline_cache(cache)
    result = rocrate_support.validate(crate_dir, cache, severity="RECOMMENDED")
    assert not result.passed()


# --- harvesting ----------------------------------------------------------------------------
def test_sitemap_lists_public_datasets_and_versions_only(world, published):
    from xml.etree import ElementTree

    version, dataset = published["version"], published["dataset"]
    hidden = world.dataset(title="Lab only")

    def locs() -> set[str]:
        response = page_client(None).get("/sitemap.xml")
        assert response.status_code == 200 and response["Content-Type"] == "application/xml"
        ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
        return {e.text for e in ElementTree.fromstring(response.content).findall("s:url/s:loc", ns)}

    assert locs() == set()  # lab datasets and their versions are never listed
    dataset_update(user=world.curator, dataset=dataset, visibility=Visibility.PUBLIC)
    assert locs() == {
        f"http://testserver/datasets/{dataset.pk}/",
        f"http://testserver/dataset-versions/{version.pk}/",
    }
    assert f"/datasets/{hidden.pk}/" not in "".join(locs())
