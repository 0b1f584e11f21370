"""No login page besides the API's; the admin login is rate limited per address and backs off
per account, sharing both limits with the API's sign-in."""

import time

import pytest
from django.core.cache import cache

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RIGHT = "correct horse battery"  # UserFactory's password


@pytest.fixture
def guarded(settings):
    """3 sign-in attempts a minute per address; an account backs off after 2 failures."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"login": "3/min", "register": "3/min"},
    }
    settings.CHIPLAB_LOGIN_BACKOFF_AFTER = 2
    settings.CHIPLAB_LOGIN_BACKOFF_MAX_SECONDS = 900
    cache.clear()
    yield settings
    cache.clear()


def api_login(client, username, password, address="192.0.2.1"):
    return client.post(
        "/api/auth/login",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def admin_login(client, username, password, address="192.0.2.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- the old side door ------------------------------------------------------------------
@pytest.mark.parametrize("password", ["wrong", RIGHT])
def test_accounts_login_route_does_not_exist(client, password):
    UserFactory(username="alice")
    assert client.get("/accounts/login/").status_code == 404
    response = client.post("/accounts/login/", {"username": "alice", "password": password})
    assert response.status_code == 404
    assert not signed_in(client)
    assert client.post("/accounts/logout/").status_code == 404


# --- admin login: per address -------------------------------------------------------------
def test_admin_login_still_signs_staff_in(client, guarded):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    response = admin_login(client, "root", RIGHT)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert signed_in(client)


def test_admin_login_is_rate_limited_per_address(client, guarded):
    UserFactory(username="root", is_staff=True)
    # distinct usernames: only the address's allowance is at stake here
    codes = [admin_login(client, f"nobody{n}", "wrong").status_code for n in range(3)]
    assert codes == [200, 200, 200]  # the form again, with its error
    throttled = admin_login(client, "root", RIGHT)  # even the right password waits
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert "Too many sign-in attempts" in throttled.content.decode()
    assert not signed_in(client)
    # another address has its own allowance
    assert admin_login(client, "root", RIGHT, address="198.51.100.9").status_code == 302


def test_admin_and_api_share_one_allowance_per_address(client, guarded):
    UserFactory(username="root", is_staff=True)
    assert api_login(client, "nobody1", "wrong").status_code == 400
    assert api_login(client, "nobody2", "wrong").status_code == 400
    assert admin_login(client, "nobody3", "wrong").status_code == 200
    assert admin_login(client, "root", RIGHT).status_code == 429
    assert api_login(client, "root", RIGHT).status_code == 429


# --- per account, from any address ------------------------------------------------------------
def test_an_account_backs_off_after_failures_from_any_address(client, guarded):
    UserFactory(username="alice")
    assert api_login(client, "alice", "wrong", address="192.0.2.1").status_code == 400
    assert admin_login(client, "alice", "wrong", address="192.0.2.2").status_code == 200
    # a third address, the right password: the account waits (1 s after 2 failures)
    paused = api_login(client, "ALICE", RIGHT, address="192.0.2.3")
    assert paused.status_code == 429
    error = paused.json()["error"]
    assert error["code"] == "throttled" and "this account" in error["message"]
    assert int(paused["Retry-After"]) >= 1
    assert admin_login(client, "alice", RIGHT, address="192.0.2.4").status_code == 429
    # another account is not affected
    UserFactory(username="bob")
    assert api_login(client, "bob", RIGHT, address="192.0.2.5").status_code == 200
    time.sleep(int(paused["Retry-After"]) + 0.1)  # the point: the pause must pass on the clock
    assert api_login(client, "alice", RIGHT, address="192.0.2.6").status_code == 200
    # a success resets the streak: two more failures are free again... up to the limit
    assert api_login(client, "alice", "wrong", address="192.0.2.7").status_code == 400
    assert api_login(client, "alice", "wrong", address="192.0.2.8").status_code == 400
    assert api_login(client, "alice", RIGHT, address="192.0.2.9").status_code == 429


def test_the_backoff_doubles_and_is_capped(guarded):
    from accounts import login_guard

    guarded.CHIPLAB_LOGIN_BACKOFF_MAX_SECONDS = 5
    for _ in range(2):
        login_guard.login_failed(username="carol")
    waits = []
    for _ in range(5):
        login_guard.login_failed(username="carol")
        waits.append(login_guard.account_wait(username="carol"))
    assert waits == [2, 4, 5, 5, 5]


def test_unknown_accounts_back_off_alike(client, guarded):
    """The answers do not tell which usernames exist."""
    UserFactory(username="alice")
    for username in ("alice", "ghost"):
        codes = [
            api_login(client, username, "wrong", address=f"203.0.113.{n}").status_code
            for n in range(3)
        ]
        assert codes == [400, 400, 429], username
