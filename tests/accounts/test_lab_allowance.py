"""Labs are not free to make: one person owns at most CHIPLAB_MAX_OWNED_LABS_PER_USER, since
each lab brings its own job caps, daily quota and turn in the workers' fair order."""

import pytest

from accounts.models import Lab, Membership, Role

pytestmark = pytest.mark.django_db


def create(client, name):
    return client.post("/api/labs/", {"name": name}, format="json")


def test_a_person_owns_at_most_the_allowance_of_labs(client_for, user, settings):
    settings.CHIPLAB_MAX_OWNED_LABS_PER_USER = 2
    client = client_for(user)
    assert [create(client, f"lab {i}").status_code for i in range(2)] == [201, 201]
    refused = create(client, "one too many")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "too_many_labs" and "You own 2 labs" in error["message"]
    assert not Lab.objects.filter(slug="one-too-many").exists()  # nothing half-made


def test_labs_owned_by_others_or_joined_do_not_count(client_for, world, settings):
    settings.CHIPLAB_MAX_OWNED_LABS_PER_USER = 1
    annotator = world.annotator  # a member, not an owner, of world.lab
    assert create(client_for(annotator), "my own").status_code == 201
    assert create(client_for(annotator), "a second one").status_code == 429
    owned = Membership.objects.filter(user=annotator, role=Role.OWNER).count()
    assert owned == 1


def test_zero_means_no_cap(client_for, user, settings):
    settings.CHIPLAB_MAX_OWNED_LABS_PER_USER = 0
    client = client_for(user)
    assert {create(client, f"lab {i}").status_code for i in range(3)} == {201}
