"""Webhooks API: curators manage hooks; other roles get 403, other labs' users 404."""

import uuid

import pytest

from webhooks import services
from webhooks.models import Webhook

pytestmark = pytest.mark.django_db


def _create(client, lab, url="http://127.0.0.1:9/hook", events=("job.succeeded",), **extra):
    return client.post(
        f"/api/labs/{lab.pk}/webhooks/", {"url": url, "events": list(events), **extra}
    )


@pytest.fixture
def hook(world):
    hook, _ = services.webhook_create(
        user=world.curator, lab_id=world.lab.pk, url="http://127.0.0.1:9/h", events=["job.failed"]
    )
    return hook


def test_curator_creates_a_hook_and_sees_the_secret_once(world, client_for):
    client = client_for(world.curator)
    response = _create(client, world.lab, events=["job.succeeded", "image.ready"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["secret"].startswith(body["secret_prefix"])
    assert body["events"] == ["image.ready", "job.succeeded"]
    listed = client.get(f"/api/labs/{world.lab.pk}/webhooks/").json()
    assert [h["id"] for h in listed] == [body["id"]]
    assert "secret" not in listed[0]
    detail = client.get(f"/api/webhooks/{body['id']}/").json()
    assert "secret" not in detail and detail["url"] == "http://127.0.0.1:9/hook"
    assert Webhook.objects.get(pk=body["id"]).secret == body["secret"]


def test_owner_manages_hooks_too(world, client_for):
    assert _create(client_for(world.owner), world.lab).status_code == 201


def test_update_rotate_and_delete(world, client_for, hook):
    client = client_for(world.curator)
    response = client.patch(
        f"/api/webhooks/{hook.pk}/", {"events": ["model.promoted"], "active": False}
    )
    assert response.status_code == 200, response.content
    assert response.json()["events"] == ["model.promoted"] and not response.json()["active"]
    old = Webhook.objects.get(pk=hook.pk).secret
    rotated = client.post(f"/api/webhooks/{hook.pk}/rotate-secret").json()
    assert rotated["secret"] != old and Webhook.objects.get(pk=hook.pk).secret == rotated["secret"]
    assert client.delete(f"/api/webhooks/{hook.pk}/").status_code == 204
    assert not Webhook.objects.filter(pk=hook.pk).exists()
    assert client.get(f"/api/webhooks/{hook.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "http://127.0.0.1:9/", "events": ["job.exploded"]}, "events[0]"),
        ({"url": "http://127.0.0.1:9/", "events": []}, "events"),
        ({"url": "gopher://127.0.0.1/", "events": ["job.failed"]}, "url"),
        ({"url": "http://10.0.0.7/", "events": ["job.failed"]}, "url"),
        ({"url": "http://[::1]:80/", "events": ["job.failed"]}, "url"),
        (
            {"url": "http://127.0.0.1:9/", "events": ["job.failed"], "description": "x" * 201},
            "description",
        ),
        ({"events": ["job.failed"]}, "url"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world, client_for, payload, field):
    response = client_for(world.curator).post(f"/api/labs/{world.lab.pk}/webhooks/", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_internal_url_refusal_says_why(world, client_for):
    response = _create(client_for(world.curator), world.lab, url="http://169.254.169.254/x")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "url_refused" and "CHIPLAB_WEBHOOK_ALLOWED_NETWORKS" in error["message"]


def test_send_test_queues_a_ping_logged_in_the_deliveries(
    world, client_for, hook, receiver, django_capture_on_commit_callbacks
):
    client = client_for(world.curator)
    client.patch(f"/api/webhooks/{hook.pk}/", {"url": receiver.url})
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/api/webhooks/{hook.pk}/test")
    assert response.status_code == 202, response.content
    delivery = response.json()
    assert delivery["event"] == "ping" and delivery["status"] == "pending"
    assert len(callbacks) == 1 and receiver.requests == []  # sent by a worker, not here
    services.delivery_attempt(delivery_id=delivery["id"])  # what the worker does
    page = client.get(f"/api/webhooks/{hook.pk}/deliveries/", {"limit": 10}).json()
    assert page["count"] == 1
    (logged,) = page["results"]
    assert logged["id"] == delivery["id"] and logged["status"] == "succeeded"
    assert logged["log"][0]["status_code"] == 200 and logged["log"][0]["number"] == 1
    assert logged["log"][0]["response_excerpt"] == "ok"


ENDPOINTS = [
    ("get", "/api/labs/{lab}/webhooks/"),
    ("post", "/api/labs/{lab}/webhooks/"),
    ("get", "/api/webhooks/{hook}/"),
    ("patch", "/api/webhooks/{hook}/"),
    ("delete", "/api/webhooks/{hook}/"),
    ("post", "/api/webhooks/{hook}/rotate-secret"),
    ("post", "/api/webhooks/{hook}/test"),
    ("get", "/api/webhooks/{hook}/deliveries/"),
]


def _hit(client, method, template, world, hook):
    path = template.format(lab=world.lab.pk, hook=hook.pk)
    body = {"url": "http://127.0.0.1:9/x", "events": ["job.failed"]}
    return getattr(client, method)(path, body if method in {"post", "patch"} else None)


@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_another_labs_user_gets_404(world, client_for, hook, method, template):
    response = _hit(client_for(world.outsider), method, template, world, hook)
    assert response.status_code == 404, response.content
    assert Webhook.objects.filter(pk=hook.pk, url="http://127.0.0.1:9/h").exists()


@pytest.mark.parametrize("role", ["viewer", "annotator"])
@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_non_curators_get_403(world, client_for, hook, method, template, role):
    response = _hit(client_for(getattr(world, role)), method, template, world, hook)
    assert response.status_code == 403, response.content
    assert Webhook.objects.filter(pk=hook.pk, url="http://127.0.0.1:9/h").exists()


def test_unknown_hook_is_404_and_anonymous_is_refused(world, client_for):
    assert client_for(world.curator).get(f"/api/webhooks/{uuid.uuid4()}/").status_code == 404
    assert client_for().get(f"/api/labs/{world.lab.pk}/webhooks/").status_code in (401, 403)
