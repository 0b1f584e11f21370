"""Invitations by e-mail link: role, expiry, single use, revocable; no account enumeration."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Invitation, Membership, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a much longer passphrase"


def invite(client, lab, email, role="annotator", **extra):
    return client.post(
        f"/api/labs/{lab.pk}/invitations/", {"email": email, "role": role, **extra}, format="json"
    )


def link_key(message) -> str:
    return re.search(r"#/invite/([\w-]+)", message.body).group(1)


def accept(client, key, **body):
    return client.post("/api/invitations/accept", {"key": key, **body}, format="json")


def test_the_answer_is_the_same_whether_the_address_has_an_account(client_for, world, mailoutbox):
    UserFactory(username="alice", email="alice@lab.org")
    owner = client_for(world.owner)
    known = invite(owner, world.lab, "Alice@lab.org")
    unknown = invite(owner, world.lab, "nobody@lab.org")
    assert known.status_code == unknown.status_code == 201
    drop = {"id", "email", "created", "expires_at"}
    assert {k: v for k, v in known.json().items() if k not in drop} == {
        k: v for k, v in unknown.json().items() if k not in drop
    }
    assert set(known.json()) == set(unknown.json())
    # both got a message with a link, the same text apart from the link
    assert [m.to for m in mailoutbox] == [["Alice@lab.org"], ["nobody@lab.org"]]
    bodies = [re.sub(r"#/invite/[\w-]+", "LINK", m.body) for m in mailoutbox]
    assert bodies[0] == bodies[1]
    assert world.lab.name in mailoutbox[0].subject
    # and nobody was added without accepting
    assert world.lab.memberships.count() == 4


def test_a_new_person_accepts_by_creating_an_account_even_with_signup_closed(
    client_for, world, mailoutbox, settings
):
    settings.CHIPLAB_OPEN_SIGNUP = False
    assert invite(client_for(world.owner), world.lab, "new@lab.org", "curator").status_code == 201
    key = link_key(mailoutbox[0])
    anonymous = APIClient()
    preview = anonymous.post("/api/invitations/preview", {"key": key}, format="json")
    assert preview.status_code == 200
    assert preview.json()["lab_name"] == world.lab.name
    assert preview.json()["role"] == "curator" and preview.json()["email"] == "new@lab.org"
    # sign-up itself stays closed
    closed = anonymous.post(
        "/api/auth/register", {"username": "x", "password": PASSWORD}, format="json"
    )
    assert closed.status_code == 403
    answer = accept(anonymous, key, username="newbie", password=PASSWORD, first_name="Ada")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["account_created"] is True and answer.json()["role"] == "curator"
    user = User.objects.get(username="newbie")
    assert user.email == "new@lab.org" and user.first_name == "Ada"
    assert Membership.objects.get(user=user, lab=world.lab).role == "curator"
    # the new account is signed in by the same answer
    assert anonymous.get("/api/auth/me").json()["username"] == "newbie"
    # single use
    again = accept(APIClient(), key, username="second", password=PASSWORD)
    assert again.status_code == 404 and again.json()["error"]["code"] == "invitation_gone"
    assert not User.objects.filter(username="second").exists()


def test_someone_with_an_account_accepts_signed_in(client_for, world, mailoutbox):
    mate = UserFactory(email="mate@lab.org")
    invite(client_for(world.owner), world.lab, "mate@lab.org", "annotator")
    key = link_key(mailoutbox[0])
    # not signed in, a new account with the same address is refused: sign in first
    refused = accept(APIClient(), key, username="mate2", password=PASSWORD)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "sign_in_to_accept"
    assert not Membership.objects.filter(user=mate, lab=world.lab).exists()
    answer = accept(client_for(mate), key)
    assert answer.status_code == 200 and answer.json()["account_created"] is False
    assert Membership.objects.get(user=mate, lab=world.lab).role == "annotator"


def test_a_member_keeps_the_higher_role(client_for, world, mailoutbox):
    invite(client_for(world.owner), world.lab, "x@lab.org", "viewer")
    assert accept(client_for(world.curator), link_key(mailoutbox[0])).status_code == 200
    assert Membership.objects.get(user=world.curator, lab=world.lab).role == "curator"


def test_expired_and_revoked_links_do_not_work(client_for, world, mailoutbox):
    owner = client_for(world.owner)
    first = invite(owner, world.lab, "a@lab.org", expires_in_days=1).json()
    invite(owner, world.lab, "b@lab.org")
    expired_key, revoked_key = link_key(mailoutbox[0]), link_key(mailoutbox[1])
    Invitation.objects.filter(pk=first["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    listed = owner.get(f"/api/labs/{world.lab.pk}/invitations/").json()
    assert [i["email"] for i in listed] == ["b@lab.org"]  # pending ones only
    assert owner.delete(f"/api/invitations/{listed[0]['id']}/").status_code == 204
    assert owner.delete(f"/api/invitations/{listed[0]['id']}/").status_code == 409
    for key in (expired_key, revoked_key, "not-a-key", "x" * 200):
        answer = accept(APIClient(), key, username="late", password=PASSWORD)
        assert answer.status_code == 404, key
    assert not User.objects.filter(username="late").exists()


def test_a_new_invitation_to_the_same_address_replaces_the_pending_one(
    client_for, world, mailoutbox
):
    owner = client_for(world.owner)
    invite(owner, world.lab, "a@lab.org", "viewer")
    invite(owner, world.lab, "A@lab.org", "curator")
    assert (
        accept(APIClient(), link_key(mailoutbox[0]), username="u1", password=PASSWORD).status_code
        == 404
    )
    assert (
        accept(APIClient(), link_key(mailoutbox[1]), username="u1", password=PASSWORD).json()[
            "role"
        ]
        == "curator"
    )


@pytest.mark.parametrize("role", ["viewer", "annotator", "curator"])
def test_only_owners_invite_list_and_revoke(client_for, world, mailoutbox, role):
    invitation = invite(client_for(world.owner), world.lab, "a@lab.org").json()
    member = client_for(world.users[role])
    assert invite(member, world.lab, "b@lab.org").status_code == 403
    assert member.get(f"/api/labs/{world.lab.pk}/invitations/").status_code == 403
    assert member.delete(f"/api/invitations/{invitation['id']}/").status_code == 403
    assert len(mailoutbox) == 1


def test_outsiders_get_404(client_for, world, mailoutbox):
    invitation = invite(client_for(world.owner), world.lab, "a@lab.org").json()
    outsider = client_for(world.outsider)
    assert invite(outsider, world.lab, "b@lab.org").status_code == 404
    assert outsider.get(f"/api/labs/{world.lab.pk}/invitations/").status_code == 404
    assert outsider.delete(f"/api/invitations/{invitation['id']}/").status_code == 404
    assert APIClient().get(f"/api/labs/{world.lab.pk}/invitations/").status_code in (401, 403)


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not an address"},
        {"email": "a@lab.org", "role": "king"},
        {"email": "a@lab.org", "expires_in_days": 0},
        {"email": "a@lab.org", "expires_in_days": 31},
        {"email": "a@lab.org", "expires_in_days": 10**12},
        {"email": ["a@lab.org"]},
        {"email": "a" * 300 + "@lab.org"},
    ],
)
def test_bad_invitations_are_400_and_send_nothing(client_for, world, mailoutbox, body):
    answer = client_for(world.owner).post(
        f"/api/labs/{world.lab.pk}/invitations/", body, format="json"
    )
    assert answer.status_code == 400, answer.json()
    assert not mailoutbox and not Invitation.objects.exists()


def test_a_mail_server_that_fails_stores_nothing(client_for, world, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens there
    answer = invite(client_for(world.owner), world.lab, "a@lab.org")
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "mail_unavailable"
    assert not Invitation.objects.exists()


def test_only_the_links_hash_is_stored(client_for, world, mailoutbox):
    invite(client_for(world.owner), world.lab, "a@lab.org")
    key = link_key(mailoutbox[0])
    assert not Invitation.objects.filter(key_hash=key).exists()
    assert key not in str(list(Invitation.objects.values()))


def test_links_use_the_public_url_when_set(client_for, world, mailoutbox, settings):
    settings.CHIPLAB_PUBLIC_URL = "https://chiplab.example.org"
    invite(client_for(world.owner), world.lab, "a@lab.org")
    assert "https://chiplab.example.org/#/invite/" in mailoutbox[0].body


def test_accepting_is_throttled_per_address(world, mailoutbox, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "invitations": "3/hour",
        },
    }
    anonymous = APIClient()
    codes = [
        anonymous.post("/api/invitations/preview", {"key": "guess"}, format="json").status_code
        for _ in range(4)
    ]
    cache.clear()
    assert codes == [404, 404, 404, 429]


def test_sending_invitations_is_throttled_per_owner(client_for, world, mailoutbox, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "invitations": "2/hour",
        },
    }
    owner = client_for(world.owner)
    codes = [invite(owner, world.lab, f"p{i}@lab.org").status_code for i in range(3)]
    # listing is not counted
    assert owner.get(f"/api/labs/{world.lab.pk}/invitations/").status_code == 200
    cache.clear()
    assert codes == [201, 201, 429]
    assert len(mailoutbox) == 2
