"""Labs, memberships, roles and tokens through the API."""

import pytest

from accounts.models import ApiToken, Membership, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_creating_a_lab_makes_the_creator_owner(client_for, user):
    response = client_for(user).post("/api/labs/", {"name": "Electron Optics"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["slug"] == "electron-optics" and body["role"] == "owner"
    assert Membership.objects.get(lab_id=body["id"], user=user).role == Role.OWNER


def test_duplicate_lab_slug_is_a_conflict(client_for, user):
    client_for(user).post("/api/labs/", {"name": "Same"}, format="json")
    response = client_for(user).post("/api/labs/", {"name": "Same"}, format="json")
    assert response.status_code == 409
    assert "slug" in response.json()["error"]["message"]


def test_lab_list_shows_only_my_labs_with_my_role(client_for, world):
    body = client_for(world.annotator).get("/api/labs/").json()
    assert [(lab["id"], lab["role"]) for lab in body] == [(str(world.lab.pk), "annotator")]


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("get", ""),
        ("patch", ""),
        ("get", "members/"),
        ("post", "members/"),
        ("post", "leave"),
    ],
)
def test_other_labs_are_not_found(client_for, world, method, suffix):
    response = getattr(client_for(world.outsider), method)(
        f"/api/labs/{world.lab.pk}/{suffix}", {"user": world.viewer.username}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_member_detail_of_other_lab_is_not_found(client_for, world):
    url = f"/api/labs/{world.lab.pk}/members/{world.viewer.pk}/"
    assert (
        client_for(world.outsider).patch(url, {"role": "owner"}, format="json").status_code == 404
    )
    assert client_for(world.outsider).delete(url).status_code == 404


def test_owner_invites_changes_role_and_removes(client_for, world):
    newcomer = UserFactory(email="new@lab.org")
    owner = client_for(world.owner)
    members = f"/api/labs/{world.lab.pk}/members/"
    # by e-mail address: refused without looking it up (invitations are for addresses)
    response = owner.post(members, {"user": "NEW@lab.org", "role": "annotator"}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "use_invitation"
    response = owner.post(members, {"user": newcomer.username, "role": "annotator"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["user"]["username"] == newcomer.username
    assert owner.post(members, {"user": newcomer.username}, format="json").status_code == 409
    url = f"{members}{newcomer.pk}/"
    assert owner.patch(url, {"role": "curator"}, format="json").json()["role"] == "curator"
    assert owner.delete(url).status_code == 204
    assert not Membership.objects.filter(user=newcomer, lab=world.lab).exists()


@pytest.mark.parametrize("role", ["viewer", "annotator", "curator"])
def test_only_owners_manage_members(client_for, world, role):
    members = f"/api/labs/{world.lab.pk}/members/"
    response = client_for(world.users[role]).post(
        members, {"user": world.outsider.username}, format="json"
    )
    assert response.status_code == 403
    assert "owner" in response.json()["error"]["message"]
    # but every member may read the member list
    assert client_for(world.users[role]).get(members).status_code == 200


def test_invite_errors_are_clear(client_for, world):
    owner = client_for(world.owner)
    members = f"/api/labs/{world.lab.pk}/members/"
    unknown = owner.post(members, {"user": "nobody"}, format="json")
    assert unknown.status_code == 400 and "nobody" in unknown.json()["error"]["message"]
    bad_role = owner.post(members, {"user": world.outsider.username, "role": "god"}, format="json")
    assert bad_role.status_code == 400 and "role" in bad_role.json()["error"]["fields"]


def test_last_owner_cannot_leave_or_be_demoted(client_for, world):
    owner = client_for(world.owner)
    assert owner.post(f"/api/labs/{world.lab.pk}/leave").status_code == 409
    demote = owner.patch(
        f"/api/labs/{world.lab.pk}/members/{world.owner.pk}/", {"role": "viewer"}, format="json"
    )
    assert demote.status_code == 409


def test_member_can_leave_and_then_sees_nothing(client_for, world):
    viewer = client_for(world.viewer)
    assert viewer.post(f"/api/labs/{world.lab.pk}/leave").status_code == 204
    assert viewer.get(f"/api/labs/{world.lab.pk}/").status_code == 404


def test_user_may_belong_to_several_labs(client_for, world):
    from tests.factories import MembershipFactory

    MembershipFactory(user=world.viewer, lab=world.other_lab, role=Role.CURATOR)
    roles = {lab["id"]: lab["role"] for lab in client_for(world.viewer).get("/api/labs/").json()}
    assert roles == {str(world.lab.pk): "viewer", str(world.other_lab.pk): "curator"}


def test_token_lifecycle(client_for, user):
    owner = client_for(user)
    created = owner.post("/api/tokens/", {"name": "pipeline"}, format="json")
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("chl_") and created.json()["prefix"] == key[:12]
    assert ApiToken.objects.get().key_hash != key  # stored hashed, never in clear

    from rest_framework.test import APIClient

    pipeline = APIClient()
    pipeline.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert pipeline.get("/api/auth/me").json()["username"] == user.username
    listed = owner.get("/api/tokens/").json()
    assert [t["name"] for t in listed] == ["pipeline"] and "key" not in listed[0]

    assert owner.delete(f"/api/tokens/{created.json()['id']}/").status_code == 204
    revoked = pipeline.get("/api/auth/me")
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["error"]["message"]
    assert owner.get("/api/tokens/").json() == []


def test_cannot_revoke_someone_elses_token(client_for, world):
    token_id = (
        client_for(world.owner).post("/api/tokens/", {"name": "t"}, format="json").json()["id"]
    )
    assert client_for(world.outsider).delete(f"/api/tokens/{token_id}/").status_code == 404
    assert ApiToken.objects.get(pk=token_id).revoked_at is None


def test_garbage_token_is_refused(client):
    response = client.get("/api/auth/me", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401


def test_session_login_and_logout(client):
    UserFactory(username="alice")
    bad = client.post(
        "/api/auth/login", {"username": "alice", "password": "x"}, content_type="application/json"
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "Wrong username or password."
    good = client.post(
        "/api/auth/login",
        {"username": "alice", "password": "correct horse battery"},
        content_type="application/json",
    )
    assert good.status_code == 200
    assert client.get("/api/auth/me").json()["username"] == "alice"
    client.post("/api/auth/logout")
    assert client.get("/api/auth/me").status_code in (401, 403)


def test_register_validates_password(client):
    weak = client.post(
        "/api/auth/register", {"username": "bob", "password": "1"}, content_type="application/json"
    )
    assert weak.status_code == 400 and "password" in weak.json()["error"]["fields"]
    ok = client.post(
        "/api/auth/register",
        {"username": "bob", "password": "a much longer passphrase"},
        content_type="application/json",
    )
    assert ok.status_code == 201


def test_anonymous_gets_401_on_private_endpoints(client):
    assert client.get("/api/labs/").status_code in (401, 403)
    assert client.get("/api/tokens/").status_code in (401, 403)
