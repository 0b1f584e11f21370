"""Many annotators voting on one grid at once: no vote lost, none stored twice."""

import threading
from collections import Counter

import pytest
from django.db import connections
from rest_framework.test import APIClient

from accounts.models import Role
from labeling import services
from labeling.models import Grid, Vote
from tests.factories import MembershipFactory, ReadyImageFactory

pytestmark = pytest.mark.django_db(transaction=True)

USERS, BATCHES, PER_BATCH, SINGLES = 8, 4, 4, 4


def _run_in_threads(work, n):
    """Run ``work(i)`` in n threads started together; each closes its own DB connection."""
    barrier, errors = threading.Barrier(n), []

    def target(i):
        try:
            barrier.wait(timeout=30)
            work(i)
        except Exception as err:  # surfaced by the assertion below
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)


def test_parallel_voting_loses_and_duplicates_nothing(world, lab):
    users = [MembershipFactory(lab=world.lab, role=Role.ANNOTATOR).user for _ in range(USERS)]
    url = f"/api/grids/{lab.grid.pk}/votes/"
    classes = [str(lab.sto.pk), str(lab.ge.pk)]
    statuses: list[int] = []

    def vote(i):
        client = APIClient()
        client.force_authenticate(users[i])
        for b in range(BATCHES):
            batch = {
                "votes": [
                    {
                        "row": (b + j) % 4,
                        "col": (i + j) % 4,
                        "class": classes[(i + b + j) % 2],
                        "client_id": f"u{i}-b{b}-v{j}",
                    }
                    for j in range(PER_BATCH)
                ]
            }
            # every batch is sent twice, as a client retrying after a lost response would
            for _ in range(2):
                statuses.append(client.post(url, batch, format="json").status_code)
        for s in range(SINGLES):  # plain clicks without a client id are always new votes
            statuses.append(
                client.post(
                    url, {"row": s, "col": i % 4, "class": classes[s % 2]}, format="json"
                ).status_code
            )

    _run_in_threads(vote, USERS)

    assert Counter(statuses) == {201: USERS * (2 * BATCHES + SINGLES)}
    assert Vote.objects.count() == USERS * (BATCHES * PER_BATCH + SINGLES)
    per_user = Counter(Vote.objects.values_list("user_id", flat=True))
    assert set(per_user.values()) == {BATCHES * PER_BATCH + SINGLES}
    keyed = Vote.objects.exclude(client_id="")
    assert (
        keyed.count()
        == len(set(keyed.values_list("user_id", "client_id")))
        == USERS * BATCHES * PER_BATCH
    )


def test_parallel_grid_creation_makes_one_grid(world):
    image = ReadyImageFactory(dataset=world.dataset())
    made = []

    def create(i):
        grid, created = services.grid_create(user=world.annotator, image=image, chip_size=32)
        made.append((grid.pk, created))

    _run_in_threads(create, 6)
    assert Grid.objects.filter(image=image).count() == 1
    assert len({pk for pk, _ in made}) == 1 and sum(created for _, created in made) == 1
