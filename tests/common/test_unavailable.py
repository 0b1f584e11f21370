"""A view that fails because the database, the object store or the broker is down answers
503 with ``Retry-After`` and a clear body, never a 500 (the real-process tests with services
stopped under a live server are in tests/faults/)."""

import pytest
from django.test import Client


@pytest.mark.urls("tests.common.urls_failing")
@pytest.mark.parametrize(
    "service, code, says",
    [
        ("database", "database_unavailable", "The database is unavailable"),
        ("storage", "storage_unavailable", "The file store is unavailable"),
        ("queue", "queue_unavailable", "The job queue or its cache (Redis) is unavailable"),
    ],
)
def test_a_service_down_is_a_503_with_a_clear_json_body(service, code, says):
    client = Client(raise_request_exception=False)
    response = client.get("/api/test-dependency-down/", {"service": service})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == code and error["message"].startswith(says)
    assert "127.0.0.1" not in response.content.decode()  # internals stay in the log

    page = client.get("/test-dependency-down-page/", {"service": service})
    assert page.status_code == 503 and page["Retry-After"] == "5"
    assert page["Content-Type"].startswith("text/plain") and says in page.content.decode()


class _CacheDown:
    def get(self, *args, **kwargs):
        from redis.exceptions import ConnectionError as RedisDown

        raise RedisDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    set = get


class _Other:
    """A view creating something the database's caps do not bound (e.g. mails sent)."""


@pytest.mark.django_db
def test_with_the_cache_down_jobs_are_accepted_uncounted_and_other_creations_refused(
    world, monkeypatch
):
    """Jobs stay bounded by the database's caps and quota; other creations are refused."""
    from redis.exceptions import ConnectionError as RedisDown
    from rest_framework.test import APIRequestFactory

    from analysis.apis import SegmentationJobListApi
    from common import throttling

    monkeypatch.setitem(throttling.CREATION_SCOPES, f"{__name__}._Other", "login")
    request = APIRequestFactory().post("/api/x/")
    request.user = world.owner
    throttle = throttling.CreationRateThrottle()
    throttle.cache = _CacheDown()
    assert throttle.allow_request(request, SegmentationJobListApi())
    with pytest.raises(RedisDown):
        throttle.allow_request(request, _Other())
