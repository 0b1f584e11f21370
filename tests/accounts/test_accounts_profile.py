"""Other people's e-mail addresses stay private; users edit their own name and ORCID."""

import pytest

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

VALID_ORCID = "0000-0002-1825-0097"  # ORCID's documented example (Josiah Carberry)


# --- e-mail addresses --------------------------------------------------------------
def test_a_stranger_adding_someone_to_a_new_lab_does_not_learn_their_email(client_for, world):
    stranger = client_for(UserFactory(username="x_out"))  # a member of no lab
    lab = stranger.post("/api/labs/", {"name": "Fishing"}, format="json").json()
    members = f"/api/labs/{lab['id']}/members/"
    added = stranger.post(members, {"user": world.owner.username}, format="json")
    assert added.status_code == 201, added.json()
    assert added.json()["user"]["username"] == world.owner.username
    assert "email" not in added.json()["user"]
    listed = stranger.get(members)
    promoted = stranger.patch(f"{members}{world.owner.pk}/", {"role": "owner"}, format="json")
    for response in (added, listed, promoted):
        assert response.status_code in (200, 201)
        assert world.owner.email not in response.content.decode()


def test_lab_members_see_each_others_names_and_orcid_but_not_email(client_for, world):
    User.objects.filter(pk=world.curator.pk).update(
        first_name="Ada", last_name="Lovelace", orcid=VALID_ORCID
    )
    listed = client_for(world.viewer).get(f"/api/labs/{world.lab.pk}/members/").json()
    curator = next(m["user"] for m in listed if m["user"]["id"] == str(world.curator.pk))
    assert curator == {
        "id": str(world.curator.pk),
        "username": world.curator.username,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "orcid": VALID_ORCID,
    }
    assert all("email" not in m["user"] for m in listed)


def test_adding_by_username_does_not_echo_the_address(client_for, world):
    newcomer = UserFactory(email="new@lab.org")
    response = client_for(world.owner).post(
        f"/api/labs/{world.lab.pk}/members/", {"user": newcomer.username}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["user"]["id"] == str(newcomer.pk)
    assert "new@lab.org" not in response.content.decode()


def test_users_see_their_own_email(client_for, client, user):
    assert client_for(user).get("/api/auth/me").json()["email"] == user.email
    login = client.post(
        "/api/auth/login",
        {"username": user.username, "password": "correct horse battery"},
        content_type="application/json",
    )
    assert login.json()["email"] == user.email


def test_the_schema_shows_no_email_for_other_users():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    member_user = components["Membership"]["properties"]["user"]["allOf"][0]["$ref"]
    assert "email" not in components[member_user.rsplit("/", 1)[-1]]["properties"]
    me = schema["paths"]["/api/auth/me"]["get"]["responses"]["200"]["content"]
    me_ref = me["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "email" in components[me_ref]["properties"]


# --- editing one's own profile ------------------------------------------------------
def patch_me(client_for, user, body):
    return client_for(user).patch("/api/auth/me", body, format="json")


def test_users_set_their_name_and_orcid(client_for, user):
    response = patch_me(
        client_for, user, {"first_name": "Ada", "last_name": "Lovelace", "orcid": VALID_ORCID}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["orcid"] == VALID_ORCID and response.json()["email"] == user.email
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.orcid) == ("Ada", "Lovelace", VALID_ORCID)
    # a partial update changes only what was sent
    assert patch_me(client_for, user, {"last_name": "King"}).status_code == 200
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.orcid) == ("Ada", "King", VALID_ORCID)


def test_new_datasets_credit_the_profile_name_and_orcid(client_for, world):
    patch_me(client_for, world.curator, {"first_name": "Ada", "orcid": "0000-0002-1694-233x"})
    created = client_for(world.curator).post(
        "/api/datasets/", {"lab": str(world.lab.pk), "title": "STO films"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["creators"] == [{"name": "Ada", "orcid": "0000-0002-1694-233X"}]


@pytest.mark.parametrize(
    "orcid",
    [
        "0000-0002-1825-0098",  # wrong check digit
        "0000-0002-1694-2330",  # X expected
        "0000000218250097",  # no hyphens
        "0000-0002-1825-009",  # too short
        "https://orcid.org/0000-0002-1825-0098",  # the URL form, checked the same way
        "https://example.org/0000-0002-1825-0097",
        "abcd-efgh-ijkl-mnop",
    ],
)
def test_bad_orcids_are_refused(client_for, user, orcid):
    response = patch_me(client_for, user, {"orcid": orcid})
    assert response.status_code == 400
    error = response.json()["error"]
    assert "orcid" in error["fields"] and "ORCID" in error["message"]
    user.refresh_from_db()
    assert user.orcid == ""


def test_the_orcid_url_form_is_stored_bare(client_for, user):
    response = patch_me(client_for, user, {"orcid": "https://orcid.org/0000-0002-1825-0097"})
    assert response.status_code == 200 and response.json()["orcid"] == "0000-0002-1825-0097"


def test_orcid_can_be_cleared(client_for, user):
    patch_me(client_for, user, {"orcid": VALID_ORCID})
    assert patch_me(client_for, user, {"orcid": ""}).json()["orcid"] == ""


@pytest.mark.parametrize(
    "body", [{"email": "me@else.org"}, {"username": "root"}, {"is_staff": True}]
)
def test_other_account_fields_cannot_be_patched(client_for, user, body):
    before = (user.username, user.email, user.is_staff)
    response = patch_me(client_for, user, body)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == set(body)
    user.refresh_from_db()
    assert (user.username, user.email, user.is_staff) == before


def test_names_are_length_checked(client_for, user):
    response = patch_me(client_for, user, {"first_name": "x" * 151})
    assert response.status_code == 400 and "first_name" in response.json()["error"]["fields"]


def test_anonymous_cannot_patch_me(client):
    response = client.patch("/api/auth/me", {"orcid": VALID_ORCID}, content_type="application/json")
    assert response.status_code in (401, 403)
