"""Hooks, events turned into deliveries, and attempts against a real receiver on 127.0.0.1."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.services import image_mark_failed
from common.errors import Conflict, Forbidden, Invalid, NotFound
from tests.factories import ReadyImageFactory
from webhooks import services, signing
from webhooks.models import Delivery, DeliveryStatus, Webhook

pytestmark = pytest.mark.django_db


def _hook(world, url, events=("image.failed",), **kwargs):
    hook, secret = services.webhook_create(
        user=world.curator, lab_id=world.lab.pk, url=url, events=list(events), **kwargs
    )
    return hook, secret


def test_curators_create_hooks_others_are_refused(world):
    hook, secret = _hook(world, "http://127.0.0.1:9/h", events=["job.failed", "image.ready"])
    assert hook.secret == secret and secret.startswith("whsec_")
    assert hook.events == ["image.ready", "job.failed"]  # stable order, one each
    with pytest.raises(Forbidden):
        _hook_as(world.annotator, world)
    with pytest.raises(NotFound):
        _hook_as(world.outsider, world)


def _hook_as(user, world):
    services.webhook_create(
        user=user, lab_id=world.lab.pk, url="http://127.0.0.1:9/", events=["ping"]
    )


def test_events_and_description_are_checked_and_hooks_per_lab_bounded(world):
    for events in ([], ["ping"], ["job.done"], "job.failed"):
        with pytest.raises(Invalid):
            _hook(world, "http://127.0.0.1:9/", events=events)
    with pytest.raises(Invalid):
        _hook(world, "http://127.0.0.1:9/", description="x" * 201)
    for _ in range(services.MAX_WEBHOOKS_PER_LAB - Webhook.objects.count()):
        _hook(world, "http://127.0.0.1:9/")
    with pytest.raises(Conflict):
        _hook(world, "http://127.0.0.1:9/")


def test_rotation_replaces_the_secret(world):
    hook, first = _hook(world, "http://127.0.0.1:9/")
    hook, second = services.webhook_secret_rotate(user=world.curator, webhook=hook)
    assert second != first and Webhook.objects.get(pk=hook.pk).secret == second


def test_an_event_reaches_only_subscribed_active_hooks_of_its_lab(
    world, django_capture_on_commit_callbacks
):
    wanted, _ = _hook(world, "http://127.0.0.1:9/a", events=["image.failed"])
    _hook(world, "http://127.0.0.1:9/b", events=["image.ready"])
    _hook(world, "http://127.0.0.1:9/c", events=["image.failed"], active=False)
    services.webhook_create(
        user=world.outsider,
        lab_id=world.other_lab.pk,
        url="http://127.0.0.1:9/d",
        events=["image.failed"],
    )
    image = ReadyImageFactory(dataset=world.dataset(), status="pending")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        image_mark_failed(image_id=image.pk, reason="unreadable header")
    deliveries = list(Delivery.objects.all())
    assert [d.webhook_id for d in deliveries] == [wanted.pk]
    body = json.loads(deliveries[0].body)
    assert body["type"] == "image.failed" and body["lab"] == str(world.lab.pk)
    assert body["id"] == str(deliveries[0].event_id)
    assert body["data"]["image"] == str(image.pk)
    assert body["data"]["error"] == "unreadable header"
    # the runner's effect after the commit (event_emit), its dispatch, then the enqueue of the
    # one delivery: each waits for the transaction before it
    assert len(callbacks) == 3


def test_nothing_is_sent_when_the_transaction_rolls_back(world, django_capture_on_commit_callbacks):
    _hook(world, "http://127.0.0.1:9/a", events=["image.failed"])
    image = ReadyImageFactory(dataset=world.dataset(), status="pending")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.event_emit("image.failed", image.pk)
    assert len(callbacks) == 1 and not Delivery.objects.exists()  # waits for the commit


def _test_delivery(world, url):
    hook, secret = _hook(world, url)
    delivery = services.webhook_test_send(user=world.curator, webhook=hook)
    return hook, secret, delivery


def test_a_successful_attempt_is_signed_and_logged(world, receiver):
    _, secret, delivery = _test_delivery(world, receiver.url)
    receiver.answer((204, b"", 0))
    services.delivery_attempt(delivery_id=delivery.pk)
    (request,) = receiver.requests
    assert request.path == "/hook?lab=1"
    signing.verify(
        secret=secret,
        body=request.body,
        timestamp=request.headers["Chiplab-Timestamp"],
        signature=request.headers["Chiplab-Signature"],
    )
    assert request.headers["Chiplab-Event-Id"] == str(delivery.event_id)
    assert json.loads(request.body)["type"] == "ping"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    (attempt,) = delivery.log.all()
    assert attempt.status_code == 204 and attempt.error == "" and attempt.number == 1
    # a redelivered message of a finished delivery sends nothing
    services.delivery_attempt(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1


def test_a_failed_attempt_is_retried_with_backoff_then_given_up(
    world, receiver, settings, django_capture_on_commit_callbacks
):
    settings.CHIPLAB_WEBHOOK_MAX_ATTEMPTS = 3
    settings.CHIPLAB_WEBHOOK_RETRY_BASE_SECONDS = 10
    receiver.answer((500, b"x" * 10_000, 0))
    _, _, delivery = _test_delivery(world, receiver.url)
    with django_capture_on_commit_callbacks() as callbacks:
        services.delivery_attempt(delivery_id=delivery.pk)
    assert len(callbacks) == 1  # the retry is queued
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.locked_until is None
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 8 < wait <= 10
    # an early duplicate message does nothing
    services.delivery_attempt(delivery_id=delivery.pk)
    assert len(receiver.requests) == 1
    for expected_wait in (20, None):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        services.delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        if expected_wait:
            wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
            assert expected_wait - 2 < wait <= expected_wait  # doubled
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    log = list(delivery.log.all())
    assert [a.number for a in log] == [1, 2, 3]
    assert all(a.status_code == 500 and a.error == "HTTP 500" for a in log)
    assert all(len(a.response_excerpt) <= 512 for a in log)  # not the 10 kB answer
    assert len(receiver.requests) == 3
    # every attempt of one event carries the same event id
    assert len({r.headers["Chiplab-Event-Id"] for r in receiver.requests}) == 1


def test_attempts_are_bounded_in_time(world, receiver, settings):
    settings.CHIPLAB_WEBHOOK_TIMEOUT_SECONDS = 1
    receiver.answer((200, b"late", 3))
    _, _, delivery = _test_delivery(world, receiver.url)
    services.delivery_attempt(delivery_id=delivery.pk)
    (attempt,) = Delivery.objects.get(pk=delivery.pk).log.all()
    assert attempt.status_code is None and "timed out" in attempt.error
    assert attempt.duration_ms < 2500


def test_a_connection_error_is_logged_and_retried(world, settings):
    from tests.support.services import free_port

    _, _, delivery = _test_delivery(world, f"http://127.0.0.1:{free_port()}/")
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    (attempt,) = delivery.log.all()
    assert attempt.status_code is None and "Connection" in attempt.error
    assert delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at


def test_an_attempt_in_flight_holds_off_a_duplicate_message(
    world, receiver, django_capture_on_commit_callbacks
):
    _, _, delivery = _test_delivery(world, receiver.url)
    Delivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() + timedelta(seconds=30)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        services.delivery_attempt(delivery_id=delivery.pk)
    assert receiver.requests == [] and len(callbacks) == 1  # looks again after the lease
    Delivery.objects.filter(pk=delivery.pk).update(locked_until=timezone.now())
    services.delivery_attempt(delivery_id=delivery.pk)  # that worker died: take over
    assert len(receiver.requests) == 1


def test_a_disabled_hook_gets_no_events(world, receiver, django_capture_on_commit_callbacks):
    hook, _ = _hook(world, receiver.url)
    image = ReadyImageFactory(dataset=world.dataset(), status="pending")
    delivery = services.event_dispatch("image.failed", image.pk)[0]
    services.webhook_update(user=world.curator, webhook=hook, active=False)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and receiver.requests == []
    assert "disabled" in delivery.log.get().error
    assert services.event_dispatch("image.failed", image.pk) == []


def test_deleting_a_hook_stops_its_queued_deliveries(world, receiver):
    hook, _, delivery = _test_delivery(world, receiver.url)
    services.webhook_delete(user=world.curator, webhook=hook)
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert receiver.requests == []
