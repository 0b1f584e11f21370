"""The vote endpoint's cost and its access rules after the cut: queries per vote, the token's
``last_used`` written at most once a minute, the one-query grid-and-role lookup agreeing with
the full visibility rule."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accounts import services as accounts
from accounts.authentication import LAST_USED_RESOLUTION
from accounts.models import ApiToken, Role
from catalog.models import Dataset, Visibility
from catalog.selectors import dataset_visible, datasets_visible_to
from common.errors import Forbidden, NotFound
from labeling import selectors, services
from labeling.models import Vote
from tests.factories import (
    DatasetFactory,
    GridFactory,
    LabelClassFactory,
    LabelSchemaFactory,
    ReadyImageFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

# token, grid with the voter's role, BEGIN, classes, INSERT, COMMIT (BEGIN/COMMIT are
# savepoints inside a test's transaction); a client id adds a SAVEPOINT and its RELEASE
QUERIES_PER_VOTE = 6
QUERIES_PER_VOTE_WITH_CLIENT_ID = 8


def _token_client(user) -> APIClient:
    _, key = accounts.token_create(user=user, name="load")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_one_vote_costs_a_fixed_number_of_queries(world, lab, django_assert_max_num_queries):
    client = _token_client(world.annotator)
    url = f"/api/grids/{lab.grid.pk}/votes/"
    assert client.post(url, {"row": 0, "col": 0, "class": str(lab.sto.pk)}).status_code == 201
    with django_assert_max_num_queries(QUERIES_PER_VOTE):
        response = client.post(url, {"row": 1, "col": 0, "class": str(lab.ge.pk)})
    assert response.status_code == 201
    with django_assert_max_num_queries(QUERIES_PER_VOTE_WITH_CLIENT_ID):
        response = client.post(
            url,
            {"row": 1, "col": 1, "class": None, "client_id": "c1", "schema": str(lab.schema.pk)},
        )
    assert response.status_code == 201, response.json()
    # a batch without client ids is one INSERT, whatever its length
    batch = [{"row": r, "col": c, "class": str(lab.sto.pk)} for r in range(4) for c in range(4)]
    with django_assert_max_num_queries(QUERIES_PER_VOTE):
        response = client.post(url, {"votes": batch * 3})
    assert response.status_code == 201
    ids = [v["id"] for v in response.json()["votes"]]
    assert ids == sorted(ids) and len(ids) == 48  # stored in the order sent
    assert Vote.objects.filter(user=world.annotator).count() == 51


def test_a_mixed_batch_keeps_its_order(client_for, world, lab):
    """With a client id in the batch, votes are stored one by one in the order sent, so the
    last vote for a chip is still the current one."""
    url = f"/api/grids/{lab.grid.pk}/votes/"
    sto, ge = str(lab.sto.pk), str(lab.ge.pk)
    votes = [
        {"row": 0, "col": 0, "class": sto},
        {"row": 0, "col": 0, "class": ge, "client_id": "k"},
        {"row": 0, "col": 0, "class": sto},
    ]
    client = client_for(world.annotator)
    response = client.post(url, {"votes": votes}, format="json")
    assert response.status_code == 201
    ids = [v["id"] for v in response.json()["votes"]]
    assert ids == sorted(ids)
    mine = client.get(url).json()["chips"]
    assert [(c["row"], c["col"], c["class"]) for c in mine] == [(0, 0, sto)]
    # a replay of the whole batch stores the client-id vote once, the others again
    assert client.post(url, {"votes": votes}, format="json").status_code == 201
    assert Vote.objects.filter(user=world.annotator).count() == 5


def test_last_used_is_written_at_most_once_a_minute(world, lab):
    client = _token_client(world.annotator)
    token = ApiToken.objects.get(user=world.annotator)
    url = f"/api/grids/{lab.grid.pk}/votes/"
    vote = {"row": 0, "col": 0, "class": str(lab.sto.pk)}
    assert token.last_used is None
    assert client.post(url, vote).status_code == 201
    first = ApiToken.objects.get(pk=token.pk).last_used
    assert first is not None
    assert client.post(url, vote).status_code == 201
    assert ApiToken.objects.get(pk=token.pk).last_used == first
    earlier = first - LAST_USED_RESOLUTION - timedelta(seconds=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used=earlier)
    assert client.post(url, vote).status_code == 201
    assert ApiToken.objects.get(pk=token.pk).last_used > first


def test_voting_access_is_unchanged(client_for, world, lab):
    url = f"/api/grids/{lab.grid.pk}/votes/"
    vote = {"row": 0, "col": 0, "class": str(lab.sto.pk)}
    assert client_for(world.viewer).post(url, vote, format="json").status_code == 403
    assert client_for(world.outsider).post(url, vote, format="json").status_code == 404
    for role in ("annotator", "curator", "owner"):
        assert client_for(world.users[role]).post(url, vote, format="json").status_code == 201
    # a private dataset: its creator and curators vote, other annotators do not see it
    private = DatasetFactory(lab=world.lab, created_by=lab.second, visibility=Visibility.PRIVATE)
    image = ReadyImageFactory(dataset=private)
    k = LabelClassFactory(schema=LabelSchemaFactory(dataset=private, is_default=True), name="K")
    grid = GridFactory(image=image, created_by=lab.second)
    url = f"/api/grids/{grid.pk}/votes/"
    vote = {"row": 0, "col": 0, "class": str(k.pk)}
    assert client_for(world.annotator).post(url, vote, format="json").status_code == 404
    assert client_for(lab.second).post(url, vote, format="json").status_code == 201
    assert client_for(world.curator).post(url, vote, format="json").status_code == 201
    # a public dataset of another lab: visible, but only its lab's members vote
    public = DatasetFactory(lab=world.lab, created_by=world.curator, visibility=Visibility.PUBLIC)
    grid = GridFactory(image=ReadyImageFactory(dataset=public), created_by=world.annotator)
    response = client_for(world.outsider).post(f"/api/grids/{grid.pk}/votes/", vote, format="json")
    assert response.status_code == 404


def test_dataset_visible_agrees_with_the_visibility_query(world):
    """The one-dataset rule used by the vote path against ``datasets_visible_to``, for every
    visibility, role (or none) and creator."""
    creator = world.curator
    datasets = [
        DatasetFactory(lab=world.lab, created_by=who, visibility=visibility)
        for visibility in Visibility
        for who in (creator, world.annotator)
    ]
    people = [*world.users.values(), world.outsider, UserFactory()]
    for person in people:
        visible = set(datasets_visible_to(user=person).values_list("pk", flat=True))
        role = world.lab.memberships.filter(user=person).values_list("role", flat=True).first()
        for dataset in Dataset.objects.filter(pk__in=[d.pk for d in datasets]):
            got = dataset_visible(user=person, dataset=dataset, role=role)
            assert got == (dataset.pk in visible), (person.username, role, dataset.visibility)


def test_grid_for_voting_hides_unknown_and_invisible_grids(world, lab):
    grid = selectors.grid_for_voting(user=world.annotator, grid_id=lab.grid.pk)
    assert grid.pk == lab.grid.pk and grid.voter_role == (world.annotator.pk, Role.ANNOTATOR)
    with pytest.raises(NotFound):
        selectors.grid_for_voting(user=world.outsider, grid_id=lab.grid.pk)
    with pytest.raises(NotFound):
        selectors.grid_for_voting(user=world.annotator, grid_id=world.lab.pk)  # not a grid
    # a viewer's grid carries the role, and the service refuses it without asking again
    grid = selectors.grid_for_voting(user=world.viewer, grid_id=lab.grid.pk)
    with pytest.raises(Forbidden):
        services.votes_cast_many(
            user=world.viewer, grid=grid, votes=[{"row": 0, "col": 0, "class": lab.sto}]
        )
