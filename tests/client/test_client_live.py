"""The Python client against a live server: paging, errors, uploads, downloads."""

import hashlib

import pytest
from chiplab_client import ChiplabError, Client
from chiplab_client._http import UrllibTransport

from tests.client.helpers import png_bytes
from tests.factories import DatasetFactory
from tests.support.services import free_port


class Recording(UrllibTransport):
    """The real transport, remembering the URLs it was asked for."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def send(self, request):
        self.urls.append((request.method, request.url))
        return super().send(request)


def test_lists_follow_next_across_pages(world, client_as):
    for _ in range(5):
        world.dataset()
    transport = Recording()
    chiplab = client_as(world.viewer, transport=transport)

    titles = [d["title"] for d in chiplab.datasets.list(page_size=2)]

    assert len(titles) == 5 == len(set(titles))
    pages = [url for method, url in transport.urls if "/api/datasets/" in url]
    assert len(pages) == 3
    assert "limit=2" in pages[0] and "offset=4" in pages[2]
    # the lab filter is a query parameter; another lab is not found
    with pytest.raises(ChiplabError) as caught:
        list(chiplab.datasets.list(lab=str(world.other_lab.pk)))
    assert caught.value.status == 404
    assert len(list(chiplab.datasets.list(lab=str(world.lab.pk), page_size=1000))) == 5


def test_another_labs_dataset_is_a_404_with_the_api_error_body(world, client_as):
    secret = DatasetFactory(lab=world.other_lab, created_by=world.outsider)
    chiplab = client_as(world.curator)

    with pytest.raises(ChiplabError) as caught:
        chiplab.datasets.get(str(secret.pk))

    err = caught.value
    assert err.status == 404 and err.code == "not_found"
    assert err.body == {"error": {"code": "not_found", "message": err.message}}
    assert err.method == "GET" and str(secret.pk) in err.url
    assert str(err).startswith("404 not_found: ")


def test_bad_input_is_a_400_naming_the_fields(world, client_as):
    chiplab = client_as(world.curator)

    with pytest.raises(ChiplabError) as caught:
        chiplab.datasets.create(str(world.lab.pk), "", licence="not-a-licence")

    err = caught.value
    assert err.status == 400 and err.code == "invalid"
    assert set(err.fields) == {"title", "licence"}
    assert err.body["error"]["fields"] == err.fields
    # a bad page size is the API's 400 too, not a silent default
    with pytest.raises(ChiplabError) as caught:
        list(chiplab.datasets.list(page_size=5000))
    assert caught.value.status == 400 and "limit" in caught.value.fields


def test_a_wrong_token_is_a_401(server):
    with pytest.raises(ChiplabError) as caught:
        Client(server, "chl_not-a-token", retries=0).labs.list()
    assert caught.value.status == 401 and caught.value.code == "authentication_failed"


def test_an_unreachable_server_is_a_chiplab_error_after_bounded_retries():
    delays = []
    chiplab = Client(f"http://127.0.0.1:{free_port()}", "t", retries=3, sleep=delays.append)

    with pytest.raises(ChiplabError) as caught:
        chiplab.labs.list()

    assert caught.value.status is None and caught.value.code == "connection_error"
    assert len(delays) == 3 and delays[0] < delays[2]  # backed off, then gave up


def test_upload_with_progress_then_the_original_comes_back_bit_exact(world, client_as, tmp_path):
    dataset = world.dataset()
    chiplab = client_as(world.curator)
    path = tmp_path / "grains.png"
    path.write_bytes(png_bytes(1))
    seen = []

    image = chiplab.images.upload(
        str(dataset.pk), path, progress=lambda sent, total: seen.append((sent, total))
    )

    assert image["original_filename"] == "grains.png"
    assert image["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert image["status"] == "pending" and (image["width"], image["height"]) == (48, 48)
    assert seen[-1][0] == seen[-1][1] > path.stat().st_size  # the whole multipart body
    back = chiplab.images.download_original(image["id"], tmp_path / "back")
    assert back.read_bytes() == path.read_bytes()
    (tmp_path / "folder").mkdir()
    named = chiplab.images.download_original(image["id"], tmp_path / "folder")
    assert named.name == "grains.png"
    # the status filter is a query parameter (a worker left running by an integration test
    # may have ingested the image by now)
    assert list(chiplab.images.list(str(dataset.pk), status="failed")) == []
    assert [i["id"] for i in chiplab.images.list(str(dataset.pk))] == [image["id"]]
    # the same bytes again: the API's 409 duplicate
    with pytest.raises(ChiplabError) as caught:
        chiplab.images.upload(str(dataset.pk), png_bytes(1), filename="again.png")
    assert caught.value.status == 409 and caught.value.code == "duplicate"


def test_an_unreadable_file_is_refused_and_a_viewer_may_not_upload(world, client_as):
    dataset = world.dataset()
    with pytest.raises(ChiplabError) as caught:
        client_as(world.curator).images.upload(str(dataset.pk), b"not a png", filename="x.png")
    assert 400 <= caught.value.status < 500 and caught.value.message
    with pytest.raises(ChiplabError) as caught:
        client_as(world.viewer).images.upload(str(dataset.pk), png_bytes(2), filename="y.png")
    assert caught.value.status == 403


def test_labeling_objects_through_the_client(world, client_as):
    """Schemas, classes, a grid and votes: the labeling area end to end (no worker)."""
    from tests.factories import ReadyImageFactory

    dataset = world.dataset()
    image = ReadyImageFactory(dataset=dataset)
    curator = client_as(world.curator)
    schema = curator.schemas.create(str(dataset.pk))
    ge = curator.classes.create(schema["id"], "Ge", colour="#e69f00")
    sto = curator.classes.create(schema["id"], "STO")
    grid = curator.grids.create(str(image.pk), 32)
    assert (grid["rows"], grid["cols"]) == (8, 8)
    assert curator.grids.create(str(image.pk), 32)["id"] == grid["id"]  # existing one

    curator.votes.cast(
        grid["id"],
        [{"row": 0, "col": c, "class": ge["id"]} for c in range(2)]
        + [{"row": 7, "col": c, "class": sto["id"]} for c in range(2)],
    )
    version = curator.support_sets.freeze(schema["id"], rule="single_owner")
    assert version["number"] == 1 and len(version["chips"]) == 4
    assert curator.support_sets.get(version["id"])["id"] == version["id"]
    assert [v["id"] for v in curator.support_sets.list(schema["id"])] == [version["id"]]
    renamed = curator.classes.update(ge["id"], name="Germanium")
    assert renamed["name"] == "Germanium"
    assert {c["name"] for c in curator.schemas.get(schema["id"])["classes"]} == {
        "Germanium",
        "STO",
    }


def test_a_script_can_sign_in_with_a_password_and_make_itself_a_token(world, server):
    """Session sign-in keeps its cookie; writes then carry Django's CSRF token."""
    session = Client(server, token="", retries=0)
    me = session.auth.login(world.annotator.username, "correct horse battery")
    assert me["username"] == world.annotator.username

    created = session.tokens.create("pipeline")

    assert created["key"].startswith("chl_")
    assert Client(server, created["key"]).auth.me()["username"] == world.annotator.username
    session.auth.logout()
    with pytest.raises(ChiplabError) as caught:
        session.tokens.list()
    assert caught.value.status in (401, 403)
