"""E-mail addresses identify one account: sign-up refuses taken ones, invites never guess."""

import pytest
from django.contrib import admin

from accounts.models import Membership, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a much longer passphrase"


def register(client, **body):
    return client.post("/api/auth/register", body, content_type="application/json")


def test_register_refuses_an_email_another_account_uses(client):
    UserFactory(username="alice", email="alice@lab.org")
    response = register(client, username="dave", password=PASSWORD, email="Alice@LAB.org")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "email" in error["fields"] and "already" in error["message"]
    assert not User.objects.filter(username="dave").exists()


def test_register_allows_accounts_without_email(client):
    assert register(client, username="erin", password=PASSWORD).status_code == 201
    assert register(client, username="finn", password=PASSWORD, email="").status_code == 201


def invite(client_for, world, who):
    return client_for(world.owner).post(
        f"/api/labs/{world.lab.pk}/members/", {"user": who, "role": "annotator"}, format="json"
    )


def test_adding_by_email_is_refused_alike_whether_or_not_an_account_has_it(client_for, world):
    # looking the address up would tell the owner whether it has an account (invitations do it)
    alice = UserFactory(username="alice", email="alice@lab.org")
    UserFactory(username="dave", email="ALICE@lab.org")  # old duplicates: no crash either
    answers = [invite(client_for, world, who) for who in ("alice@lab.org", "nobody@lab.org")]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["error"]["code"] == "use_invitation"
    assert not Membership.objects.filter(lab=world.lab, user=alice).exists()
    # the username still names exactly one person
    assert invite(client_for, world, "alice").json()["user"]["id"] == str(alice.pk)


def test_a_username_that_looks_like_an_email_is_refused_too(client_for, world):
    # it could be mistaken for someone's address: add a stranger (invite the address instead)
    mallory = UserFactory(username="alice@lab.org", email="mallory@lab.org")
    UserFactory(username="alice", email="alice@lab.org")
    response = invite(client_for, world, "alice@lab.org")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "use_invitation"
    assert not Membership.objects.filter(lab=world.lab, user=mallory).exists()


def test_invite_prefers_the_exact_username(client_for, world):
    sam = UserFactory(username="sam", email="s1@lab.org")
    UserFactory(username="Sam", email="s2@lab.org")  # possible in old databases
    assert invite(client_for, world, "sam").json()["user"]["id"] == str(sam.pk)
    assert invite(client_for, world, "SAM").status_code == 400


def test_admin_refuses_an_email_another_account_uses():
    UserFactory(email="alice@lab.org")
    dave = UserFactory(email="dave@lab.org")
    form_class = admin.site.get_model_admin(User).form
    data = {"username": dave.username, "date_joined": "2024-01-01 00:00:00"}
    form = form_class(data={**data, "email": "ALICE@lab.org"}, instance=dave)
    assert not form.is_valid() and "email" in form.errors
    assert form_class(data={**data, "email": "dave@other.org"}, instance=dave).is_valid()


def test_admin_still_saves_old_accounts_sharing_an_email():
    UserFactory(email="shared@lab.org")
    old = UserFactory(email="Shared@lab.org")
    form_class = admin.site.get_model_admin(User).form
    data = {"username": old.username, "date_joined": "2024-01-01 00:00:00"}
    form = form_class(data={**data, "email": "Shared@lab.org", "first_name": "Old"}, instance=old)
    assert form.is_valid(), form.errors
