"""Writes of the webhooks app: hooks, events turned into deliveries, and delivery attempts.

Events are emitted with :func:`event_emit` by the services where they happen; the work is
deferred to after their transaction commits (a rolled-back change tells nobody), and every
POST happens in a worker (``workers.tasks.webhooks``), never in a request.
"""

import json
import logging
import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import Role
from accounts.selectors import require_role
from common import jobs
from common.errors import Conflict, Invalid

from . import addresses, signing, transport
from .events import BUILDERS
from .models import PING, Delivery, DeliveryAttempt, DeliveryStatus, Event, Webhook

log = logging.getLogger(__name__)

MAX_WEBHOOKS_PER_LAB = 20
DELIVERIES_KEPT_PER_WEBHOOK = 500
DELIVERY_TASK = "workers.tasks.webhooks.deliver_webhook"
MAX_DESCRIPTION = 200


# --- hooks -------------------------------------------------------------------------------
def _clean_events(events) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise Invalid("events: choose at least one event.", fields={"events": ["required"]})
    unknown = [e for e in events if e not in Event.values]
    if unknown:
        known = ", ".join(Event.values)
        raise Invalid(
            f"events: unknown event '{str(unknown[0])[:40]}' (known: {known}).",
            fields={"events": ["unknown event"]},
        )
    return [e for e in Event.values if e in events]  # one each, in a stable order


def _clean_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(
            f"description: at most {MAX_DESCRIPTION} characters.",
            fields={"description": ["too long"]},
        )
    return description


@transaction.atomic
def webhook_create(
    *, user, lab_id, url: str, events: list[str], description: str = "", active: bool = True
) -> tuple[Webhook, str]:
    """Register ``url`` for ``events`` of a lab (curators); the secret is returned only here."""
    require_role(user=user, lab_id=lab_id, role=Role.CURATOR)
    url = addresses.url_check(url)
    events = _clean_events(events)
    description = _clean_description(description)
    if Webhook.objects.select_for_update().filter(lab_id=lab_id).count() >= MAX_WEBHOOKS_PER_LAB:
        raise Conflict(
            f"A lab has at most {MAX_WEBHOOKS_PER_LAB} webhooks; delete one first.",
            code="too_many_webhooks",
        )
    secret = signing.secret_new()
    hook = Webhook.objects.create(
        lab_id=lab_id,
        url=url,
        events=events,
        description=description,
        active=active,
        secret=secret,
        created_by=user,
    )
    return hook, secret


@transaction.atomic
def webhook_update(*, user, webhook: Webhook, **fields) -> Webhook:
    """Change the URL, events, description or whether the hook is active (curators)."""
    require_role(user=user, lab_id=webhook.lab_id, role=Role.CURATOR)
    if "url" in fields:
        webhook.url = addresses.url_check(fields["url"])
    if "events" in fields:
        webhook.events = _clean_events(fields["events"])
    if "description" in fields:
        webhook.description = _clean_description(fields["description"])
    if "active" in fields:
        webhook.active = bool(fields["active"])
    webhook.save()
    return webhook


@transaction.atomic
def webhook_delete(*, user, webhook: Webhook) -> None:
    """Delete the hook and its delivery log; queued attempts find it gone and stop."""
    require_role(user=user, lab_id=webhook.lab_id, role=Role.CURATOR)
    webhook.delete()


@transaction.atomic
def webhook_secret_rotate(*, user, webhook: Webhook) -> tuple[Webhook, str]:
    """A new secret (returned only here); every later attempt is signed with it."""
    require_role(user=user, lab_id=webhook.lab_id, role=Role.CURATOR)
    secret = signing.secret_new()
    webhook.secret = secret
    webhook.save(update_fields=["secret", "updated"])
    return webhook, secret


@transaction.atomic
def webhook_test_send(*, user, webhook: Webhook) -> Delivery:
    """Queue a ``ping`` delivery to the hook (whatever its events), logged like any other."""
    require_role(user=user, lab_id=webhook.lab_id, role=Role.CURATOR)
    data = {"webhook": str(webhook.pk), "message": "A test delivery from Chiplab."}
    return _deliveries_create(PING, webhook.lab_id, data, [webhook])[0]


# --- events ------------------------------------------------------------------------------
def event_emit(event: str, pk, **extra) -> None:
    """Tell the lab's hooks that ``event`` happened to the object ``pk``, once committed.

    Cheap and safe to call from any service: nothing happens before the transaction commits,
    and a failure here is logged, never raised into the caller's work.
    """
    if event not in BUILDERS:
        raise ValueError(f"unknown webhook event {event!r}")
    transaction.on_commit(partial(_dispatch_logged, event, str(pk), extra), robust=True)


def _dispatch_logged(event: str, pk: str, extra: dict) -> None:
    try:
        event_dispatch(event, pk, **extra)
    except Exception:
        log.exception("webhook event %s of %s was not dispatched", event, pk)


def event_dispatch(event: str, pk, **extra) -> list[Delivery]:
    """Create and queue one delivery per active hook of the object's lab that wants ``event``."""
    if not Webhook.objects.filter(active=True).exists():
        return []  # the common case: no lab has hooks; one cheap query
    built = BUILDERS[event](pk, **extra)
    if built is None:
        return []
    lab_id, data = built
    hooks = [h for h in Webhook.objects.filter(lab_id=lab_id, active=True) if event in h.events]
    if not hooks:
        return []
    with transaction.atomic():
        return _deliveries_create(event, lab_id, data, hooks)


def _deliveries_create(event: str, lab_id, data: dict, hooks: list[Webhook]) -> list[Delivery]:
    event_id = uuid.uuid4()
    body = json.dumps(
        {
            "id": str(event_id),
            "type": event,
            "created": timezone.now().isoformat(),
            "lab": str(lab_id),
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    deliveries = Delivery.objects.bulk_create(
        [Delivery(webhook=hook, event=event, event_id=event_id, body=body) for hook in hooks]
    )
    for delivery in deliveries:
        transaction.on_commit(partial(_enqueue, delivery.pk))
    for hook in hooks:
        _prune(hook)
    return deliveries


def _prune(hook: Webhook) -> None:
    """Keep the newest ``DELIVERIES_KEPT_PER_WEBHOOK`` deliveries of a hook."""
    old = hook.deliveries.order_by("-created").values_list("pk", flat=True)[
        DELIVERIES_KEPT_PER_WEBHOOK : DELIVERIES_KEPT_PER_WEBHOOK + 1000
    ]
    old = list(old)
    if old:
        Delivery.objects.filter(pk__in=old).delete()


def _enqueue(delivery_id, countdown: float = 0) -> None:
    """Send the attempt task now, or after ``countdown`` seconds (a retry's backoff)."""
    if countdown <= 0:
        jobs.enqueue(DELIVERY_TASK, str(delivery_id))  # the seam tests hold jobs back at
    else:
        import_string(DELIVERY_TASK).apply_async(args=[str(delivery_id)], countdown=countdown)


# --- attempts ----------------------------------------------------------------------------
def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1, 2, …): doubling, capped at 1 h."""
    return min(settings.CHIPLAB_WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1), 3600.0)


def _lease() -> timedelta:
    # longer than one attempt can take: connect + send + each read, with room to spare
    return timedelta(seconds=3 * settings.CHIPLAB_WEBHOOK_TIMEOUT_SECONDS + 30)


def _claim(*, delivery_id, now) -> tuple[Delivery | None, tuple | None]:
    """Lock the delivery and lease its next attempt: (delivery, (number, url, secret)).

    The second item is None when there is nothing to send now (finished, not yet due, in
    flight, or failed at once because its webhook is disabled).
    """
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .select_related("webhook")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return delivery, None
        if delivery.locked_until and delivery.locked_until > now:
            wait = (delivery.locked_until - now).total_seconds() + 1
            transaction.on_commit(partial(_enqueue, delivery.pk, wait))
            return delivery, None
        if delivery.next_attempt_at and delivery.next_attempt_at > now + timedelta(seconds=1):
            return delivery, None  # early duplicate: the message for that time is queued
        hook = delivery.webhook
        delivery.attempts += 1
        if not hook.active and delivery.event != PING:
            DeliveryAttempt.objects.create(
                delivery=delivery,
                number=delivery.attempts,
                started=now,
                duration_ms=0,
                error="not sent: the webhook is disabled",
            )
            delivery.status, delivery.finished = DeliveryStatus.FAILED, now
            delivery.next_attempt_at = None
            delivery.save()
            return delivery, None
        delivery.locked_until = now + _lease()
        delivery.save(update_fields=["attempts", "locked_until"])
        return delivery, (delivery.attempts, hook.url, hook.secret)


def _send(delivery: Delivery, *, url: str, secret: str) -> transport.Outcome:
    """POST the signed body; a non-2xx answer without an error reads "HTTP <code>"."""
    body = delivery.body.encode()
    headers = signing.headers(
        secret=secret,
        body=body,
        event=delivery.event,
        event_id=str(delivery.event_id),
        delivery_id=str(delivery.pk),
    )
    outcome = transport.post(url, body, headers, timeout=settings.CHIPLAB_WEBHOOK_TIMEOUT_SECONDS)
    if not outcome.ok and outcome.status_code is not None and not outcome.error:
        outcome.error = f"HTTP {outcome.status_code}"
    return outcome


def _record(*, delivery_id, number: int, now, outcome) -> Delivery | None:
    """Log the attempt and finish the delivery, or schedule its retry."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            return None  # the hook was deleted meanwhile
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started=now,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            error=outcome.error[:500],
            response_excerpt=outcome.excerpt[: transport.EXCERPT_BYTES],
        )
        finished = timezone.now()
        delivery.locked_until = None
        if outcome.ok:
            delivery.status, delivery.finished, delivery.next_attempt_at = (
                DeliveryStatus.SUCCEEDED,
                finished,
                None,
            )
        elif outcome.permanent or number >= settings.CHIPLAB_WEBHOOK_MAX_ATTEMPTS:
            delivery.status, delivery.finished, delivery.next_attempt_at = (
                DeliveryStatus.FAILED,
                finished,
                None,
            )
        else:
            delay = retry_delay(number)
            delivery.next_attempt_at = finished + timedelta(seconds=delay)
            transaction.on_commit(partial(_enqueue, delivery.pk, delay))
        delivery.save()
    if not outcome.ok:
        log.info("webhook delivery %s attempt %s: %s", delivery.pk, number, outcome.error)
    return delivery


def delivery_attempt(*, delivery_id) -> Delivery | None:
    """Make the next attempt of a pending delivery, log it, and schedule a retry if it failed.

    Idempotent under redelivery: the row is the truth. A message for a delivery that is
    finished, not yet due, or whose attempt is in flight does nothing (in the last case it
    looks again when that attempt's lease ends, in case its worker died).
    """
    now = timezone.now()
    delivery, ticket = _claim(delivery_id=delivery_id, now=now)
    if ticket is None:
        return delivery
    number, url, secret = ticket
    outcome = _send(delivery, url=url, secret=secret)
    return _record(delivery_id=delivery_id, number=number, now=now, outcome=outcome)
