"""Webhooks: a lab's hooks, their secrets, delivery log and test deliveries; and, for
receivers, :func:`verify_signature`."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Literal, TypedDict

from ..operations import operation
from ._base import UNSET, Area, given, present

WebhookEvent = Literal[
    "image.ready",
    "image.failed",
    "job.succeeded",
    "job.failed",
    "training.finished",
    "model.promoted",
    "support_set.frozen",
]


class Webhook(TypedDict, total=False):
    id: str
    lab: str
    url: str
    events: list[WebhookEvent]
    description: str
    active: bool
    secret_prefix: str
    created: str
    updated: str
    secret: str  # only in the answers that create it or rotate it


class DeliveryAttempt(TypedDict, total=False):
    number: int
    started: str
    duration_ms: int
    status_code: int | None
    error: str
    response_excerpt: str


class Delivery(TypedDict, total=False):
    id: str
    webhook: str
    event: str
    event_id: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: str | None
    created: str
    finished: str | None
    log: list[DeliveryAttempt]


class Webhooks(Area):
    @operation("labs_webhooks_list", "GET", "/api/labs/{lab_id}/webhooks/")
    def list(self, lab_id: str) -> list[Webhook]:
        """The lab's hooks (curators and owners)."""
        return self._call("labs_webhooks_list", lab_id=lab_id)

    @operation("labs_webhooks_create", "POST", "/api/labs/{lab_id}/webhooks/")
    def create(
        self,
        lab_id: str,
        url: str,
        events: Iterable[WebhookEvent],
        *,
        description: str | None = None,
        active: bool | None = None,
    ) -> Webhook:
        """Register ``url`` for ``events``; the answer's ``secret`` is shown this once."""
        body = present(url=url, events=list(events), description=description, active=active)
        return self._call("labs_webhooks_create", lab_id=lab_id, body=body)

    @operation("webhooks_retrieve", "GET", "/api/webhooks/{webhook_id}/")
    def get(self, webhook_id: str) -> Webhook:
        return self._call("webhooks_retrieve", webhook_id=webhook_id)

    @operation("webhooks_partial_update", "PATCH", "/api/webhooks/{webhook_id}/")
    def update(
        self,
        webhook_id: str,
        *,
        url: str = UNSET,
        events: Iterable[WebhookEvent] = UNSET,
        description: str = UNSET,
        active: bool = UNSET,
    ) -> Webhook:
        events = list(events) if events is not UNSET else UNSET
        body = given(url=url, events=events, description=description, active=active)
        return self._call("webhooks_partial_update", webhook_id=webhook_id, body=body)

    @operation("webhooks_destroy", "DELETE", "/api/webhooks/{webhook_id}/")
    def delete(self, webhook_id: str) -> None:
        self._call("webhooks_destroy", webhook_id=webhook_id)

    @operation("webhooks_rotate_secret_create", "POST", "/api/webhooks/{webhook_id}/rotate-secret")
    def rotate_secret(self, webhook_id: str) -> Webhook:
        """A new secret (in this answer only); later deliveries are signed with it."""
        return self._call("webhooks_rotate_secret_create", webhook_id=webhook_id)

    @operation("webhooks_test_create", "POST", "/api/webhooks/{webhook_id}/test")
    def send_test(self, webhook_id: str) -> Delivery:
        """Queue a ``ping`` delivery; follow it with :meth:`deliveries`."""
        return self._call("webhooks_test_create", webhook_id=webhook_id)

    @operation("webhooks_deliveries_list", "GET", "/api/webhooks/{webhook_id}/deliveries/")
    def deliveries(self, webhook_id: str, *, page_size: int | None = None) -> Iterator[Delivery]:
        """The delivery log, newest first, each delivery with its attempts."""
        return self._pages("webhooks_deliveries_list", webhook_id=webhook_id, page_size=page_size)


class SignatureError(ValueError):
    """A delivery's signature is missing, wrong, or its timestamp outside the replay window."""


def verify_signature(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> None:
    """Check a delivery as a receiver: raise :class:`SignatureError` unless it is genuine.

    ``body`` is the raw request body (before any JSON parsing); ``headers`` its headers
    (any case). The signature is ``v1=`` + hex HMAC-SHA256(secret, "<timestamp>.<body>");
    a timestamp more than ``tolerance`` seconds from now is refused (replays).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lower.get("chiplab-timestamp", ""))
    except ValueError:
        raise SignatureError("missing or malformed Chiplab-Timestamp") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError("timestamp outside the replay window")
    message = str(timestamp).encode() + b"." + body
    expected = "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    given_ = [part.strip() for part in lower.get("chiplab-signature", "").split(",")]
    if not any(hmac.compare_digest(expected, part) for part in given_):
        raise SignatureError("signature does not match")
