"""Who sees whose votes: outsiders of a public dataset, gold answers below curator, and bad
input that used to pass or crash (security review)."""

import pytest

from common.errors import Forbidden, Invalid
from labeling import selectors, services
from labeling.models import MAX_CLASS_ORDER, MAX_SCHEMA_CLASSES, LabelClass
from tests.factories import ReadyImageFactory
from tests.labeling.helpers import cast

pytestmark = pytest.mark.django_db


def chips_of(body):
    return {(c["row"], c["col"]): c["class"] for c in body["chips"]}


# --- outsiders of a public dataset ---------------------------------------------------
@pytest.fixture
def public(world, lab):
    """A public dataset: two annotators agree on four chips; a majority and a single-owner
    version are frozen."""
    lab.dataset.visibility = "public"
    lab.dataset.save()
    votes = {(0, 0): lab.sto, (3, 3): lab.sto, (0, 3): lab.ge, (3, 0): lab.ge}
    cast(world.annotator, lab.grid, votes)
    cast(lab.second, lab.grid, votes)
    lab.majority = services.support_set_freeze(
        user=world.curator, schema=lab.schema, rule="majority"
    )
    lab.own = services.support_set_freeze(
        user=world.annotator, schema=lab.schema, rule="single_owner"
    )
    lab.members = [world.annotator, lab.second, world.curator]
    return lab


def assert_members_only(response):
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "members_only"
    assert "of the dataset's lab only" in error["message"]


def test_outsiders_do_not_get_per_user_votes_of_a_public_dataset(client_for, world, public):
    outsider = client_for(world.outsider)
    url = f"/api/grids/{public.grid.pk}/votes/"
    assert_members_only(outsider.get(url, {"user": "all"}))
    # their own (none) is fine, and members still get everyone's
    mine = outsider.get(url)
    assert mine.status_code == 200 and mine.json()["chips"] == []
    everyone = client_for(world.viewer).get(url, {"user": "all"}).json()
    assert {u["user"] for c in everyone["chips"] for u in c["users"]} == {
        str(world.annotator.pk),
        str(public.second.pk),
    }


def test_outsiders_get_no_live_support_agreement_or_gold(client_for, world, public):
    outsider = client_for(world.outsider)
    support = f"/api/grids/{public.grid.pk}/support"
    # single_owner with someone else as owner would be that person's votes
    assert_members_only(outsider.get(support, {"owner": str(world.annotator.pk)}))
    assert_members_only(outsider.get(support, {"rule": "majority"}))
    # agreement rates people: refused like the votes (it used to be 404 "Lab not found.")
    assert_members_only(outsider.get(f"/api/schemas/{public.schema.pk}/agreement"))
    assert_members_only(outsider.get(f"/api/grids/{public.grid.pk}/gold/"))
    with pytest.raises(Forbidden):
        selectors.agreement(user=world.outsider, schema=public.schema)
    assert client_for(world.viewer).get(support, {"rule": "majority"}).status_code == 200


def test_outsiders_see_frozen_versions_anonymised(client_for, world, public):
    outsider, member = client_for(world.outsider), client_for(world.viewer)
    listed = outsider.get(f"/api/schemas/{public.schema.pk}/versions/")
    assert listed.status_code == 200
    for version in (public.majority, public.own):
        url = f"/api/support-sets/{version.pk}/"
        seen, full = outsider.get(url), member.get(url)
        assert seen.status_code == 200
        text = seen.content.decode() + listed.content.decode()
        for person in public.members:
            assert str(person.pk) not in text and person.username not in text
        body, ref = seen.json(), full.json()
        # the published outcome is all there
        for key in ("chips", "classes", "rule", "agreement", "warnings", "number"):
            assert body[key] == ref[key], key
        assert (
            body["agreement"]["per_chip"]
            and body["agreement"]["overall"] == ref["agreement"]["overall"]
        )
        # contributors: as many, with their vote counts, without id or username
        assert [c["votes"] for c in body["contributors"]] == [
            c["votes"] for c in ref["contributors"]
        ]
        assert all(c["id"] is None and c["username"] is None for c in body["contributors"])
        assert body["created_by"] is None and ref["created_by"] == str(version.created_by_id)
    majority = outsider.get(f"/api/support-sets/{public.majority.pk}/").json()
    assert len(majority["contributors"]) == 2 and majority["params"] == {"min_votes": 2}
    own = outsider.get(f"/api/support-sets/{public.own.pk}/").json()
    assert own["params"] == {"owner": None}
    # members keep full detail, also right after freezing
    ref = member.get(f"/api/support-sets/{public.majority.pk}/").json()
    assert {c["username"] for c in ref["contributors"]} == {
        world.annotator.username,
        public.second.username,
    }
    frozen = client_for(world.curator).post(
        f"/api/schemas/{public.schema.pk}/versions/", {"rule": "majority"}, format="json"
    )
    assert frozen.status_code == 201
    assert {c["id"] for c in frozen.json()["contributors"]} == {
        str(world.annotator.pk),
        str(public.second.pk),
    }


# --- gold answers below curator ------------------------------------------------------
@pytest.fixture
def gold(world, lab):
    """The curator sets gold (3,3) = Ge; annotator B votes Ge there too; both annotators vote
    elsewhere."""
    cast(world.annotator, lab.grid, {(0, 0): lab.sto, (0, 1): lab.ge})
    cast(lab.second, lab.grid, {(0, 0): lab.sto, (3, 3): lab.ge, (1, 1): lab.ge})
    cast(world.curator, lab.grid, {(0, 1): lab.ge, (1, 0): lab.sto, (1, 1): lab.sto})
    response = services.gold_set(
        user=world.curator, grid=lab.grid, chips=[{"row": 3, "col": 3, "class": lab.ge}]
    )
    assert len(response) == 1
    return lab


def test_votes_on_gold_chips_are_hidden_below_curator(client_for, world, gold):
    url = f"/api/grids/{gold.grid.pk}/votes/"
    ge = str(gold.ge.pk)

    def everyone(user):
        body = client_for(user).get(url, {"user": "all"}).json()
        return {(c["row"], c["col"]): c for c in body["chips"]}

    full = everyone(world.curator)
    assert full[(3, 3)]["counts"] == {ge: 2}
    assert {u["user"] for u in full[(3, 3)]["users"]} == {
        str(world.curator.pk),
        str(gold.second.pk),
    }
    assert everyone(world.owner)[(3, 3)]["counts"] == {ge: 2}
    # the annotator who did not vote there does not see the chip at all
    seen = everyone(world.annotator)
    assert (3, 3) not in seen and (3, 3) not in everyone(world.viewer)
    # B sees only their own vote there
    own = everyone(gold.second)[(3, 3)]
    assert own["counts"] == {ge: 1} and own["mine"] == ge
    assert own["users"] == [{"user": str(gold.second.pk), "class": ge}]
    # other chips are unchanged, the curator's votes on them included
    for chip in ((0, 0), (0, 1), (1, 0), (1, 1)):
        assert seen[chip] | {"mine": None} == full[chip] | {"mine": None}, chip


def test_live_support_and_agreement_leave_gold_chips_out_below_curator(client_for, world, gold):
    url = f"/api/grids/{gold.grid.pk}/support"
    queries = [
        {"rule": "curator"},
        {"rule": "single_owner", "owner": str(world.curator.pk)},
        {"rule": "majority", "min_votes": 1},
    ]
    for query in queries:
        full = chips_of(client_for(world.curator).get(url, query).json())
        assert full[(3, 3)] == str(gold.ge.pk), query
        for user in (world.annotator, world.viewer):
            body = client_for(user).get(url, query).json()
            assert (3, 3) not in chips_of(body), (query, user)
            assert all((p["row"], p["col"]) != (3, 3) for p in body["agreement"]["per_chip"])
            assert set(chips_of(body)) == set(full) - {(3, 3)}
    # B's own working set keeps B's own vote on the gold chip, rated against B alone
    own = client_for(gold.second).get(url).json()
    assert chips_of(own)[(3, 3)] == str(gold.ge.pk)
    rated = {(p["row"], p["col"]): p["voters"] for p in own["agreement"]["per_chip"]}
    assert rated[(3, 3)] == 1
    # agreement: the curator sees the gold chip rated, an annotator does not
    agreement = f"/api/schemas/{gold.schema.pk}/agreement"
    full = client_for(world.curator).get(agreement).json()
    seen = client_for(world.annotator).get(agreement).json()
    assert (3, 3) in {(p["row"], p["col"]) for p in full["per_chip"]}
    assert (3, 3) not in {(p["row"], p["col"]) for p in seen["per_chip"]}
    assert seen["gold_chips"] == 1


def test_consensus_still_counts_gold_answers(world, gold):
    """Freezing is unchanged: a gold answer is the curator's vote in every rule."""
    curator = services.support_set_freeze(user=world.curator, schema=gold.schema, rule="curator")
    assert {(c["row"], c["col"]): c["class"] for c in curator.chips}[(3, 3)] == str(gold.ge.pk)
    majority = services.support_set_freeze(
        user=world.curator, schema=gold.schema, rule="majority", min_votes=2
    )
    assert {(c["row"], c["col"]) for c in majority.chips} == {(0, 0), (0, 1), (3, 3)}


# --- bad input -----------------------------------------------------------------------
def test_class_order_is_bounded(client_for, world, lab):
    curator = client_for(world.curator)
    url = f"/api/schemas/{lab.schema.pk}/classes/"
    for order in (10**20, 2**63, MAX_CLASS_ORDER + 1, -1):
        response = curator.post(url, {"name": "big", "order": order}, format="json")
        assert response.status_code == 400, (order, response.content)
        assert list(response.json()["error"]["fields"]) == ["order"]
        patched = curator.patch(f"/api/classes/{lab.sto.pk}/", {"order": order}, format="json")
        assert patched.status_code == 400, (order, patched.content)
        assert list(patched.json()["error"]["fields"]) == ["order"]
    assert LabelClass.objects.count() == 2
    assert LabelClass.objects.get(pk=lab.sto.pk).order != MAX_CLASS_ORDER + 1
    top = curator.post(url, {"name": "last", "order": MAX_CLASS_ORDER}, format="json")
    assert top.status_code == 201 and top.json()["order"] == MAX_CLASS_ORDER
    # the next class goes after it without passing the bound
    after = curator.post(url, {"name": "after"}, format="json")
    assert after.status_code == 201 and after.json()["order"] == MAX_CLASS_ORDER
    with pytest.raises(Invalid) as error:
        services.class_update(user=world.curator, label_class=lab.ge, order=2**31)
    assert error.value.fields == {"order": [f"0 to {MAX_CLASS_ORDER}"]}


def test_classes_per_schema_are_bounded(client_for, world, lab):
    curator = client_for(world.curator)
    url = f"/api/schemas/{lab.schema.pk}/classes/"
    for i in range(MAX_SCHEMA_CLASSES - 2):  # the schema has STO and Ge
        assert curator.post(url, {"name": f"phase {i}"}, format="json").status_code == 201
    refused = curator.post(url, {"name": "one too many"}, format="json")
    assert refused.status_code == 400, refused.content
    error = refused.json()["error"]
    assert error["code"] == "too_many_classes" and str(MAX_SCHEMA_CLASSES) in error["message"]
    assert not LabelClass.objects.filter(name="one too many").exists()
    # a removed class frees its place; restoring it takes one again
    assert curator.delete(f"/api/classes/{lab.ge.pk}/").status_code in (200, 204)
    assert curator.post(url, {"name": "in its place"}, format="json").status_code == 201
    restored = curator.patch(f"/api/classes/{lab.ge.pk}/", {"active": True}, format="json")
    assert restored.status_code == 400 and restored.json()["error"]["code"] == "too_many_classes"
    active = LabelClass.objects.filter(schema=lab.schema, removed_at=None).count()
    assert active == MAX_SCHEMA_CLASSES


def test_agreement_of_a_grid_of_another_dataset_is_refused(client_for, world, lab):
    elsewhere = ReadyImageFactory(dataset=world.dataset())
    grid, _ = services.grid_create(user=world.annotator, image=elsewhere, chip_size=64)
    response = client_for(world.viewer).get(
        f"/api/schemas/{lab.schema.pk}/agreement", {"grid": str(grid.pk)}
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {"grid": ["other dataset"]}
    same = client_for(world.viewer).get(
        f"/api/schemas/{lab.schema.pk}/agreement", {"grid": str(lab.grid.pk)}
    )
    assert same.status_code == 200


def test_gold_with_a_malformed_schema_names_the_field(client_for, world, lab):
    response = client_for(world.curator).get(
        f"/api/grids/{lab.grid.pk}/gold/", {"schema": "garbage"}
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["schema"]
    ok = client_for(world.curator).get(f"/api/grids/{lab.grid.pk}/gold/", {"schema": lab.schema.pk})
    assert ok.status_code == 200 and ok.json() == []


def test_anyone_reads_a_public_datasets_published_annotations_without_identities(
    client_for, world, public
):
    """FAIR: frozen versions of a public dataset are readable without an account, linked from
    the dataset's JSON-LD, and name no lab member; a private dataset's stay hidden."""
    anonymous = client_for()
    schemas = anonymous.get(f"/api/datasets/{public.dataset.pk}/schemas/")
    assert schemas.status_code == 200, schemas.content
    assert [s["created_by"] for s in schemas.json()] == [None]
    grid = anonymous.get(f"/api/grids/{public.grid.pk}/")
    assert grid.status_code == 200 and grid.json()["created_by"] is None
    assert anonymous.get(f"/api/images/{public.grid.image_id}/grids/").status_code == 200
    versions = anonymous.get(f"/api/schemas/{public.schema.pk}/versions/")
    assert versions.status_code == 200 and len(versions.json()) == 2
    text = versions.content.decode()
    assert not any(str(m.pk) in text or m.username in text for m in public.members)
    doc = anonymous.get(f"/api/datasets/{public.dataset.pk}/jsonld").json()
    links = {p["distribution"]["contentUrl"].rsplit("/api", 1)[1] for p in doc["hasPart"]}
    assert links == {f"/support-sets/{v.pk}/" for v in (public.majority, public.own)}
    for link in links:
        assert anonymous.get("/api" + link).status_code == 200
    # members still see who created what; writing needs an account
    member = client_for(world.viewer).get(f"/api/grids/{public.grid.pk}/").json()
    assert member["created_by"] == str(public.grid.created_by_id)
    assert anonymous.post(f"/api/images/{public.grid.image_id}/grids/", {}).status_code in (
        401,
        403,
    )
    public.dataset.visibility = "lab"
    public.dataset.save()
    assert anonymous.get(f"/api/schemas/{public.schema.pk}/versions/").status_code == 404
    assert anonymous.get(f"/api/support-sets/{public.own.pk}/").status_code == 404


def test_freezing_an_unchanged_support_set_with_reuse_returns_the_newest_version(
    client_for, world, lab
):
    cast(world.annotator, lab.grid, {(0, 0): lab.sto, (3, 3): lab.ge})
    url = f"/api/schemas/{lab.schema.pk}/versions/"
    annotator = client_for(world.annotator)
    body = {"rule": "single_owner", "grids": [str(lab.grid.pk)], "reuse": True}
    first = annotator.post(url, body, format="json")
    assert first.status_code == 201, first.json()
    again = annotator.post(url, body, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    # without reuse an explicit freeze still numbers a new version
    fresh = annotator.post(url, {**body, "reuse": False}, format="json")
    assert fresh.status_code == 201 and fresh.json()["number"] == first.json()["number"] + 1
    cast(world.annotator, lab.grid, {(1, 1): lab.ge})  # changed: a new one
    changed = annotator.post(url, body, format="json")
    assert changed.status_code == 201 and changed.json()["number"] == fresh.json()["number"] + 1
