"""Password reset by e-mail: Django's tokens, single use, no enumeration, rate limited."""

import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from accounts import login_guard
from accounts.services.passwords import RESET_MAIL_TASK
from tests.common.held_jobs import held_jobs
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NEW = "a brand new passphrase"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def post(email):
    return APIClient().post("/api/auth/password-reset", {"email": email}, format="json")


def ask(email):
    """Ask for a reset as a browser would, then let a worker run what the request queued."""
    with held_jobs(RESET_MAIL_TASK) as held, TestCase.captureOnCommitCallbacks(execute=True):
        answer = post(email)
    for task, args in held.held:
        import_string(task).apply(args=args).get()  # the Celery task, in this process
    return answer


def confirm(uid, token, password=NEW):
    return APIClient().post(
        "/api/auth/password-reset/confirm",
        {"uid": uid, "token": token, "password": password},
        format="json",
    )


def link_parts(message):
    return re.search(r"#/reset/([\w-]+)/([\w-]+)", message.body).groups()


def test_the_answer_never_tells_whether_an_account_exists(mailoutbox):
    UserFactory(username="alice", email="alice@lab.org")
    known, unknown = ask("ALICE@lab.org"), ask("nobody@lab.org")
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert [m.to for m in mailoutbox] == [["alice@lab.org"]]


def test_known_and_unknown_addresses_take_the_same_path_in_the_request(mailoutbox):
    """The request only queues a message for the worker, whatever the address: the same
    queries, the same message, the same answer, and no mail server while it runs (a timing
    side channel otherwise tells which addresses have accounts)."""
    UserFactory(username="alice", email="alice@lab.org")
    paths, queued = {}, []
    for email in ("alice@lab.org", "nobody@lab.org"):
        with (
            held_jobs() as held,
            CaptureQueriesContext(connection) as queries,
            TestCase.captureOnCommitCallbacks(execute=True),
        ):
            answer = post(email)
        assert mailoutbox == []  # nothing was looked up or mailed while the request ran
        queued += held.held
        sql = [q["sql"].replace(email, "<email>") for q in queries.captured_queries]
        jobs = [(task, args[0].replace(email, "<email>"), args[1:]) for task, args in held.held]
        paths[email] = (answer.status_code, answer.content, sql, jobs)
    assert paths["alice@lab.org"] == paths["nobody@lab.org"]
    assert paths["alice@lab.org"][3] == [(RESET_MAIL_TASK, "<email>", ("http://testserver/",))]
    for task, args in queued:  # the worker's part: only the known address gets mail
        import_string(task).apply(args=args).get()
    assert [m.to for m in mailoutbox] == [["alice@lab.org"]]


def test_a_reset_link_sets_a_new_password_once(mailoutbox, client):
    alice = UserFactory(username="alice", email="alice@lab.org")
    ask("alice@lab.org")
    uid, token = link_parts(mailoutbox[0])
    assert "alice" in mailoutbox[0].body
    weak = confirm(uid, token, "123")
    assert weak.status_code == 400 and "password" in weak.json()["error"]["fields"]
    assert confirm(uid, token).status_code == 204
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    used = confirm(uid, token, "yet another passphrase")
    assert used.status_code == 404 and used.json()["error"]["code"] == "reset_link_gone"
    signed_in = client.post(
        "/api/auth/login", {"username": "alice", "password": NEW}, content_type="application/json"
    )
    assert signed_in.status_code == 200


@pytest.mark.parametrize(
    "uid,token,status",
    [
        ("", "", 400),
        ("bm9wZQ", "abc-def", 404),
        ("!!!", "x", 404),
        ("a" * 100, "b" * 200, 404),
        ("a" * 101, "b", 400),
    ],
)
def test_bad_links_are_refused(uid, token, status):
    alice = UserFactory(email="alice@lab.org")
    answer = confirm(uid, token)
    assert answer.status_code == status, answer.content
    alice.refresh_from_db()
    assert not alice.check_password(NEW)


def test_inactive_accounts_and_shared_addresses_get_no_mail(mailoutbox):
    UserFactory(email="gone@lab.org", is_active=False)
    UserFactory(email="shared@lab.org")
    UserFactory(email="SHARED@lab.org")  # old duplicates: never guess whose password
    assert ask("gone@lab.org").status_code == ask("shared@lab.org").status_code == 202
    assert mailoutbox == []


def test_an_inbox_gets_at_most_a_few_messages_an_hour(mailoutbox):
    UserFactory(email="alice@lab.org")
    answers = [ask("alice@lab.org").status_code for _ in range(login_guard.RESETS_PER_ADDRESS + 2)]
    assert answers == [202] * len(answers)
    assert len(mailoutbox) == login_guard.RESETS_PER_ADDRESS


def test_requests_are_throttled_per_client_address(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "password_reset": "2/hour",
        },
    }
    codes = [post(f"n{i}@lab.org").status_code for i in range(3)]
    assert codes == [202, 202, 429]


def test_a_reset_ends_the_login_backoff(mailoutbox, settings):
    settings.CHIPLAB_LOGIN_BACKOFF_AFTER = 1
    UserFactory(username="alice", email="alice@lab.org")
    for _ in range(3):
        login_guard.login_failed(username="alice")
    assert login_guard.account_wait(username="alice") > 0
    ask("alice@lab.org")
    assert confirm(*link_parts(mailoutbox[0])).status_code == 204
    assert login_guard.account_wait(username="alice") == 0


def test_bad_bodies_are_400():
    for body in ({}, {"email": "nope"}, {"email": ["a@b.org"]}, {"email": "a" * 300 + "@b.org"}):
        assert APIClient().post("/api/auth/password-reset", body, format="json").status_code == 400
