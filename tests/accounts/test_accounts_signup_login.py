"""Sign-up validates usernames; sign-in and sign-up are rate limited per client address."""

import pytest
from django.core.cache import cache

from accounts import services
from accounts.models import User
from common.errors import Conflict, Invalid
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a much longer passphrase"


def register(client, username, **extra):
    return client.post(
        "/api/auth/register",
        {"username": username, "password": PASSWORD, **extra},
        content_type="application/json",
    )


# --- usernames ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "username",
    [
        "<img src=x onerror=alert(1)>",
        "a/b?c#d",
        "evil\u202egnp.exe",  # right-to-left override
        "zero\u200bwidth",
        "two words",
        "x" * 151,
    ],
)
def test_register_refuses_bad_usernames(client, username):
    response = register(client, username)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "username" in error["fields"], error
    assert "username" in error["message"].lower()
    assert not User.objects.exists()


@pytest.mark.parametrize("username", ["ada.lovelace", "ada+chiplab@lab.org", "josé_2", "a-b"])
def test_register_accepts_ordinary_usernames(client, username):
    assert register(client, username).status_code == 201
    assert User.objects.filter(username=username).exists()


def test_user_create_validates_usernames_itself():
    with pytest.raises(Invalid) as err:
        services.user_create(username="a/b?c#d", password=PASSWORD)
    assert "username" in err.value.fields


def test_usernames_are_normalised_before_the_taken_check():
    UserFactory(username="fiona")
    with pytest.raises(Conflict) as err:
        services.user_create(username="\ufb01ona", password=PASSWORD)  # "ﬁ" ligature
    assert err.value.fields == {"username": ["taken"]}
    assert User.objects.filter(username__iexact="fiona").count() == 1


# --- rate limits ----------------------------------------------------------------------
@pytest.fixture
def low_rates(settings):
    """Sign-in and sign-up limited to 3 requests a minute (the suite's default is generous)."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "3/min", "register": "3/min"},
    }
    cache.clear()
    yield
    cache.clear()


def login(client, password, **headers):
    return client.post(
        "/api/auth/login",
        {"username": "alice", "password": password},
        content_type="application/json",
        **headers,
    )


def test_repeated_sign_in_attempts_are_throttled(client, low_rates):
    UserFactory(username="alice")
    answers = [login(client, "wrong").status_code for _ in range(3)]
    assert answers == [400, 400, 400]
    throttled = login(client, "correct horse battery")  # even the right password now waits
    assert throttled.status_code == 429
    error = throttled.json()["error"]
    assert error["code"] == "throttled" and "seconds" in error["message"]
    assert int(throttled["Retry-After"]) > 0
    # another client address has its own allowance
    other = login(client, "correct horse battery", REMOTE_ADDR="10.0.0.7")
    assert other.status_code == 200


def test_a_forged_forwarded_for_header_does_not_reset_the_limit(client, low_rates):
    UserFactory(username="alice")
    codes = [
        login(client, "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(5)
    ]
    assert codes == [400, 400, 400, 429, 429]


def test_sign_up_is_throttled(client, low_rates):
    codes = [register(client, f"newbie{n}").status_code for n in range(4)]
    assert codes == [201, 201, 201, 429]
    assert not User.objects.filter(username="newbie3").exists()
