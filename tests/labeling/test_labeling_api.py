"""The labeling REST API: roles, isolation between labs, bad input, and the main flows."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from common import storage
from labeling import services
from labeling.models import LabelSchema, SupportSetVersion, Vote
from tests.factories import DatasetFactory, ReadyImageFactory
from tests.labeling.helpers import cast

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(world, lab):
    cast(
        world.annotator,
        lab.grid,
        {(0, 0): lab.sto, (3, 3): lab.sto, (0, 3): lab.ge, (3, 0): lab.ge},
    )
    return services.support_set_freeze(user=world.annotator, schema=lab.schema, rule="single_owner")


def _endpoints(lab, version, token):
    vote = {"row": 0, "col": 0, "class": str(lab.sto.pk)}
    return [
        ("get", f"/api/datasets/{lab.dataset.pk}/schemas/", None),
        ("post", f"/api/datasets/{lab.dataset.pk}/schemas/", {}),
        ("get", f"/api/schemas/{lab.schema.pk}/", None),
        ("post", f"/api/schemas/{lab.schema.pk}/classes/", {"name": "vacuum"}),
        ("patch", f"/api/classes/{lab.sto.pk}/", {"name": "SrTiO3"}),
        ("delete", f"/api/classes/{lab.sto.pk}/", None),
        ("get", f"/api/images/{lab.image.pk}/grids/", None),
        ("post", f"/api/images/{lab.image.pk}/grids/", {"chip_size": 32}),
        ("get", f"/api/images/{lab.image.pk}/chip-size-suggestion", None),
        ("get", f"/api/grids/{lab.grid.pk}/", None),
        ("post", f"/api/grids/{lab.grid.pk}/votes/", vote),
        ("get", f"/api/grids/{lab.grid.pk}/votes/?user=all", None),
        ("get", f"/api/grids/{lab.grid.pk}/support?rule=majority", None),
        ("post", f"/api/grids/{lab.grid.pk}/gold/", {"chips": [vote]}),
        ("get", f"/api/grids/{lab.grid.pk}/gold/", None),
        ("post", f"/api/grids/{lab.grid.pk}/carry", {"from_grid": str(lab.grid.pk)}),
        ("get", f"/api/grids/{lab.grid.pk}/next-chips", None),
        ("post", f"/api/schemas/{lab.schema.pk}/versions/", {"rule": "majority"}),
        ("get", f"/api/schemas/{lab.schema.pk}/versions/", None),
        ("get", f"/api/support-sets/{version.pk}/", None),
        ("get", f"/api/schemas/{lab.schema.pk}/agreement", None),
        ("get", f"/api/schemas/{lab.schema.pk}/crowd-task", None),
        ("post", "/api/crowd-tasks/answer", {"task": token, "selected": []}),
    ]


def test_every_endpoint_is_not_found_for_another_lab(client_for, world, lab, version):
    token = services.crowd_task_next(user=world.annotator, schema=lab.schema)["task"]
    outsider = client_for(world.outsider)
    votes_before = Vote.objects.count()
    for method, url, body in _endpoints(lab, version, token):
        response = getattr(outsider, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.content)
        assert response.json()["error"]["code"] == "not_found", (method, url)
    assert Vote.objects.count() == votes_before
    assert SupportSetVersion.objects.count() == 1 and lab.schema.classes.count() == 2


def test_every_endpoint_needs_a_login(client_for, world, lab, version):
    """Except reading what a public dataset publishes (schemas, grids, frozen versions): for a
    lab dataset those reads are simply not found."""
    published = {
        f"/api/datasets/{lab.dataset.pk}/schemas/",
        f"/api/schemas/{lab.schema.pk}/",
        f"/api/images/{lab.image.pk}/grids/",
        f"/api/grids/{lab.grid.pk}/",
        f"/api/schemas/{lab.schema.pk}/versions/",
        f"/api/support-sets/{version.pk}/",
    }
    anonymous = client_for()
    for method, url, body in _endpoints(lab, version, "x"):
        response = getattr(anonymous, method)(url, body, format="json")
        expected = (404,) if method == "get" and url in published else (401, 403)
        assert response.status_code in expected, (method, url, response.status_code)


# --- schemas and classes -----------------------------------------------------------
def test_default_schema_then_named_schemas(client_for, world):
    dataset = world.dataset()
    url = f"/api/datasets/{dataset.pk}/schemas/"
    annotator = client_for(world.annotator)
    assert annotator.get(url).json() == []
    first = annotator.post(url, {}, format="json")
    assert first.status_code == 201 and first.json()["is_default"] is True
    again = annotator.post(url, {}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert annotator.post(url, {"name": "Phases"}, format="json").status_code == 403
    named = client_for(world.curator).post(url, {"name": "Phases"}, format="json")
    assert named.status_code == 201 and named.json()["is_default"] is False
    dup = client_for(world.curator).post(url, {"name": "phases"}, format="json")
    assert dup.status_code == 409
    assert [s["name"] for s in annotator.get(url).json()] == ["Default", "Phases"]


def test_class_management_is_for_curators(client_for, world, lab):
    url = f"/api/schemas/{lab.schema.pk}/classes/"
    assert (
        client_for(world.annotator).post(url, {"name": "vacuum"}, format="json").status_code == 403
    )
    assert (
        client_for(world.annotator)
        .patch(f"/api/classes/{lab.sto.pk}/", {"name": "x"}, format="json")
        .status_code
        == 403
    )
    assert client_for(world.annotator).delete(f"/api/classes/{lab.sto.pk}/").status_code == 403
    curator = client_for(world.curator)
    created = curator.post(url, {"name": "vacuum", "colour": "#112233"}, format="json")
    assert created.status_code == 201 and created.json()["colour"] == "#112233"
    assert curator.post(url, {"name": "Vacuum"}, format="json").status_code == 409
    assert curator.post(url, {"name": "v2", "colour": "blue"}, format="json").status_code == 400
    cid = created.json()["id"]
    patched = curator.patch(f"/api/classes/{cid}/", {"colour": "#ABCDEF"}, format="json")
    assert patched.status_code == 200 and patched.json()["colour"] == "#abcdef"
    assert curator.delete(f"/api/classes/{cid}/").status_code == 204
    detail = curator.get(f"/api/schemas/{lab.schema.pk}/").json()
    assert {c["name"]: c["active"] for c in detail["classes"]} == {
        "STO": True,
        "Ge": True,
        "vacuum": False,
    }
    vote = client_for(world.annotator).post(
        f"/api/grids/{lab.grid.pk}/votes/", {"row": 0, "col": 0, "class": cid}, format="json"
    )
    assert vote.status_code == 400 and vote.json()["error"]["code"] == "class_removed"


# --- grids -------------------------------------------------------------------------
def test_grids_create_list_and_validate(client_for, world, lab):
    url = f"/api/images/{lab.image.pk}/grids/"
    annotator = client_for(world.annotator)
    created = annotator.post(url, {"chip_size": 48, "offset_x": 8, "offset_y": 4}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["rows"], body["cols"]) == (5, 5)
    assert body["margins"] == {"top": 4, "left": 8, "bottom": 12, "right": 8}
    again = annotator.post(url, {"chip_size": 48, "offset_x": 8, "offset_y": 4}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    for bad in (
        {"chip_size": 0},
        {"chip_size": 257},
        {"chip_size": "big"},
        {"chip_size": 32, "offset_x": 40},
    ):
        response = annotator.post(url, bad, format="json")
        assert response.status_code == 400, bad
        assert "error" in response.json()
    assert client_for(world.viewer).post(url, {"chip_size": 16}, format="json").status_code == 403
    listed = client_for(world.viewer).get(url).json()
    assert [g["chip_size"] for g in listed] == [64, 48]
    assert client_for(world.viewer).get(f"/api/grids/{body['id']}/").json()["rows"] == 5


def test_grid_on_a_pending_image_is_a_conflict(client_for, world):
    image = ReadyImageFactory(dataset=world.dataset(), status="pending")
    response = client_for(world.annotator).post(
        f"/api/images/{image.pk}/grids/", {"chip_size": 32}, format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_ready"


def test_chip_size_suggestion_from_the_preview(client_for, world):
    image = ReadyImageFactory(dataset=world.dataset(), width=512, height=512)
    y, x = np.mgrid[0:256, 0:256]
    stripes = 127 + 120 * np.sin(2 * np.pi * x / 16) + 0 * y  # a 16 px period
    buffer = io.BytesIO()
    PILImage.fromarray(stripes.astype(np.uint8)).save(buffer, format="PNG")
    key = f"labs/test/labeling/{image.pk}/preview.png"
    storage.put_bytes(key, buffer.getvalue())
    image.preview_key = key
    image.save()
    try:
        response = client_for(world.viewer).get(f"/api/images/{image.pk}/chip-size-suggestion")
    finally:
        storage.delete(key)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["method"] == "periodicity" and body["preview_scale"] == 2.0
    assert body["period_px"] == pytest.approx(32, rel=0.1)  # 16 preview px x 2
    assert 1 <= body["chip_size"] <= 512 and body["chip_size"] % 2 == 0
    # the explanation ends with the number it explains, in image pixels
    assert body["reason"].endswith(f"-> {body['chip_size']} px"), body["reason"]
    chip = body["chip_size"]
    assert body["grid"] == [512 // chip, 512 // chip]
    assert body["uncovered_fraction"] == pytest.approx(
        1 - (512 // chip * chip) ** 2 / 512**2, abs=1e-4
    )
    no_preview = ReadyImageFactory(dataset=image.dataset)
    assert (
        client_for(world.viewer)
        .get(f"/api/images/{no_preview.pk}/chip-size-suggestion")
        .status_code
        == 404
    )


# --- votes -------------------------------------------------------------------------
def test_voting_roles_and_bad_input(client_for, world, lab):
    url = f"/api/grids/{lab.grid.pk}/votes/"
    vote = {"row": 1, "col": 2, "class": str(lab.sto.pk)}
    assert client_for(world.viewer).post(url, vote, format="json").status_code == 403
    annotator = client_for(world.annotator)
    created = annotator.post(url, vote, format="json")
    assert created.status_code == 201 and created.json()["class"] == str(lab.sto.pk)
    other = services.schema_create(user=world.curator, dataset=lab.dataset, name="Other")
    stranger = services.class_create(user=world.curator, schema=other, name="X")
    foreign_dataset = DatasetFactory(lab=world.lab, created_by=world.curator)
    foreign_schema, _ = services.schema_get_or_create_default(
        user=world.curator, dataset=foreign_dataset
    )
    foreign = services.class_create(user=world.curator, schema=foreign_schema, name="F")
    bad = [
        {"row": 4, "col": 0, "class": str(lab.sto.pk)},  # outside the 4 x 4 grid
        {"row": 0, "col": -1, "class": str(lab.sto.pk)},
        {"row": 0, "col": 0, "class": str(stranger.pk), "schema": str(lab.schema.pk)},
        {"row": 0, "col": 0, "class": str(foreign.pk)},  # a schema of another dataset
        {"row": 0, "col": 0, "class": "not-a-uuid"},
        {"row": 0, "col": 0, "class": None},  # a retraction needs its schema
        {"row": 0, "col": 0},
        {"votes": [vote], "row": 0},
    ]
    for body in bad:
        response = annotator.post(url, body, format="json")
        assert response.status_code == 400, (body, response.json())
        assert response.json()["error"]["message"]
    assert Vote.objects.count() == 1


def test_batch_votes_and_current_state(client_for, world, lab):
    url = f"/api/grids/{lab.grid.pk}/votes/"
    sto, ge = str(lab.sto.pk), str(lab.ge.pk)
    batch = {
        "votes": [
            {"row": 0, "col": 0, "class": sto, "client_id": "k1"},
            {"row": 0, "col": 1, "class": ge},
            {"row": 0, "col": 0, "class": ge},
        ]
    }  # re-click in the same batch
    response = client_for(world.annotator).post(url, batch, format="json")
    assert response.status_code == 201 and len(response.json()["votes"]) == 3
    client_for(lab.second).post(url, {"row": 0, "col": 0, "class": sto}, format="json")
    client_for(world.annotator).post(
        url, {"row": 0, "col": 1, "class": None, "schema": str(lab.schema.pk)}, format="json"
    )
    mine = client_for(world.annotator).get(url).json()
    assert [(c["row"], c["col"], c["class"]) for c in mine["chips"]] == [(0, 0, ge)]
    everyone = client_for(world.viewer).get(url, {"user": "all"}).json()
    chip = everyone["chips"][0]
    assert (chip["row"], chip["col"]) == (0, 0) and chip["counts"] == {sto: 1, ge: 1}
    assert len(everyone["chips"]) == 1 and len(chip["users"]) == 2
    assert client_for(world.viewer).get(url, {"user": "them"}).status_code == 400
    assert Vote.objects.count() == 5  # append-only: nothing was overwritten


def test_live_support_state(client_for, world, lab):
    cast(world.annotator, lab.grid, {(0, 0): lab.sto, (0, 1): lab.sto, (3, 3): lab.ge})
    url = f"/api/grids/{lab.grid.pk}/support"
    body = client_for(world.annotator).get(url, {"schema": str(lab.schema.pk)}).json()
    assert body["rule"] == "single_owner" and len(body["chips"]) == 3
    assert {c["name"]: c["count"] for c in body["classes"]} == {"STO": 2, "Ge": 1}
    assert "'Ge' has only 1 chip; give at least 2 examples per class." in body["warnings"]
    assert any("top-left quadrant" in w for w in body["warnings"])
    majority = client_for(world.annotator).get(url, {"rule": "majority"}).json()
    assert majority["chips"] == []
    assert client_for(world.annotator).get(url, {"rule": "loudest"}).status_code == 400
    assert (
        client_for(world.annotator).get(url, {"min_votes": 0, "rule": "majority"}).status_code
        == 400
    )


# --- versions ----------------------------------------------------------------------
def test_freeze_list_and_read_versions(client_for, world, lab):
    cast(
        world.annotator,
        lab.grid,
        {(0, 0): lab.sto, (3, 3): lab.sto, (0, 3): lab.ge, (3, 0): lab.ge},
    )
    cast(lab.second, lab.grid, {(0, 0): lab.sto, (3, 3): lab.sto, (0, 3): lab.ge, (3, 0): lab.ge})
    url = f"/api/schemas/{lab.schema.pk}/versions/"
    annotator, curator = client_for(world.annotator), client_for(world.curator)
    assert annotator.post(url, {"rule": "majority"}, format="json").status_code == 403
    first = curator.post(url, {"rule": "majority", "min_votes": 2}, format="json")
    assert first.status_code == 201, first.json()
    assert first.json()["number"] == 1 and len(first.json()["chips"]) == 4
    own = annotator.post(url, {"rule": "single_owner"}, format="json")
    assert own.status_code == 201 and own.json()["number"] == 2
    scoped = curator.post(url, {"rule": "majority", "grids": [str(lab.grid.pk)]}, format="json")
    assert scoped.json()["number"] == 3
    assert [v["number"] for v in annotator.get(url).json()] == [1, 2, 3]
    detail = annotator.get(f"/api/support-sets/{first.json()['id']}/").json()
    assert detail["rule"] == "majority" and detail["params"] == {"min_votes": 2}
    assert detail["agreement"]["overall"] == 1.0
    assert {c["username"] for c in detail["contributors"]} == {
        world.annotator.username,
        lab.second.username,
    }
    for bad in (
        {"rule": "loudest"},
        {"rule": "curator"},
        {},
        {"rule": "majority", "grids": ["nope"]},
    ):
        response = curator.post(url, bad, format="json")
        assert response.status_code == 400, bad
    # curator rule: no curator votes, so fewer than 2 classes
    assert (
        curator.post(url, {"rule": "curator"}, format="json").json()["error"]["code"]
        == "too_few_classes"
    )
    other_image = ReadyImageFactory(dataset=world.dataset())
    elsewhere, _ = services.grid_create(user=world.annotator, image=other_image, chip_size=64)
    response = curator.post(url, {"rule": "majority", "grids": [str(elsewhere.pk)]}, format="json")
    assert response.status_code == 400 and "dataset" in response.json()["error"]["message"]
    assert (
        annotator.patch(
            f"/api/support-sets/{first.json()['id']}/", {"rule": "curator"}, format="json"
        ).status_code
        == 405
    )


# --- gold, agreement, crowd --------------------------------------------------------
def test_gold_and_agreement(client_for, world, lab):
    url = f"/api/grids/{lab.grid.pk}/gold/"
    chips = {"chips": [{"row": 0, "col": 0, "class": str(lab.sto.pk)}]}
    assert client_for(world.annotator).post(url, chips, format="json").status_code == 403
    assert client_for(world.annotator).get(url).status_code == 403
    response = client_for(world.curator).post(url, chips, format="json")
    assert response.status_code == 200 and response.json()[0]["class"] == str(lab.sto.pk)
    assert len(client_for(world.curator).get(url).json()) == 1
    bad = {"chips": [{"row": 9, "col": 0, "class": str(lab.sto.pk)}]}
    response = client_for(world.curator).post(url, bad, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"chips": ["row/col out of range"]}
    cast(world.annotator, lab.grid, {(0, 0): lab.ge})
    report = client_for(world.curator).get(f"/api/schemas/{lab.schema.pk}/agreement").json()
    users = {r["username"]: r for r in report["annotators"]}
    assert users[world.annotator.username]["agreement_with_gold"] == 0.0
    # setting a gold answer is not answering it: the curator is not scored against it
    assert world.curator.username not in users
    # one X against one Y: no consensus, but a disagreement that counts
    assert [(p["row"], p["col"], p["consensus"], p["tied"]) for p in report["per_chip"]] == [
        (0, 0, None, True)
    ]
    assert report["per_chip"][0]["agreement"] == 0.5 and report["overall"] == 0.5
    # a viewer gets neither the gold chip (its other vote is the gold answer) nor anyone's
    # gold accuracy (the annotator's only rated chip is the gold one: nothing is left)
    seen = client_for(world.viewer).get(f"/api/schemas/{lab.schema.pk}/agreement").json()
    assert seen["annotators"] == [] and seen["gold_chips"] == 1
    assert seen["per_chip"] == [] and seen["overall"] is None


def test_gold_description_says_it_replaces_the_curators_vote(client_for, world):
    response = client_for(world.viewer).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    post = response.json()["paths"]["/api/grids/{grid_id}/gold/"]["post"]
    assert "replaces" in post["description"] and "own vote" in post["description"]


def test_crowd_task_round_trip(client_for, world, lab):
    annotator = client_for(world.annotator)
    task = annotator.get(
        f"/api/schemas/{lab.schema.pk}/crowd-task", {"grid": str(lab.grid.pk), "seed": 5}
    )
    assert task.status_code == 200, task.json()
    body = task.json()
    assert len(body["chips"]) <= 9 and body["class"]["name"] in {"STO", "Ge"}
    panel = [[c["row"], c["col"]] for c in body["chips"]]
    outside = next([r, c] for r in range(4) for c in range(4) if [r, c] not in panel)
    answer = "/api/crowd-tasks/answer"
    wrong = annotator.post(answer, {"task": body["task"], "selected": [outside]}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "not_in_panel"
    assert (
        annotator.post(answer, {"task": "garbage", "selected": []}, format="json").status_code
        == 400
    )
    done = annotator.post(answer, {"task": body["task"], "selected": panel[:3]}, format="json")
    assert done.status_code == 201 and done.json() == {
        "votes": len(panel),
        "selected": 3,
        "not_selected": len(panel) - 3,
        "answered": 1,
    }
    assert (
        annotator.post(answer, {"task": body["task"], "selected": []}, format="json").status_code
        == 409
    )
    assert (
        client_for(world.viewer).get(f"/api/schemas/{lab.schema.pk}/crowd-task").status_code == 403
    )


def test_schemas_of_public_datasets_are_readable_but_not_writable(client_for, world, lab):
    lab.dataset.visibility = "public"
    lab.dataset.save()
    outsider = client_for(world.outsider)
    assert outsider.get(f"/api/schemas/{lab.schema.pk}/").status_code == 200
    response = outsider.post(
        f"/api/grids/{lab.grid.pk}/votes/",
        {"row": 0, "col": 0, "class": str(lab.sto.pk)},
        format="json",
    )
    assert response.status_code == 404 and not Vote.objects.exists()
    assert not LabelSchema.objects.exclude(pk=lab.schema.pk).exists()
