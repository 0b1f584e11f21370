"""Signatures of deliveries: HMAC-SHA256 over ``"<timestamp>.<body>"`` with the hook's secret.

Headers of every delivery::

    Chiplab-Event: job.succeeded
    Chiplab-Event-Id: 6f1c…            (the same on every retry: receivers de-duplicate on it)
    Chiplab-Delivery: 0b7e…            (this hook's delivery of the event)
    Chiplab-Timestamp: 1767225600      (Unix seconds of this attempt)
    Chiplab-Signature: v1=<hex>        (hex HMAC-SHA256(secret, f"{timestamp}.{body}"))

A receiver recomputes the HMAC over the raw body and refuses a timestamp further than its
replay window (5 minutes is usual) from its clock: :func:`verify` does both.
"""

import hashlib
import hmac
import secrets
import time

SCHEME = "v1"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 300


class SignatureError(Exception):
    """The signature is missing, malformed, wrong or outside the replay window."""


def secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex>``: the value of the ``Chiplab-Signature`` header."""
    message = str(int(timestamp)).encode() + b"." + body
    return f"{SCHEME}=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def headers(*, secret: str, body: bytes, event: str, event_id: str, delivery_id: str, now=None):
    """The headers of one attempt, signed at ``now`` (Unix seconds)."""
    timestamp = int(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        "User-Agent": "Chiplab-Webhooks/1",
        "Chiplab-Event": event,
        "Chiplab-Event-Id": event_id,
        "Chiplab-Delivery": delivery_id,
        "Chiplab-Timestamp": str(timestamp),
        "Chiplab-Signature": sign(secret, timestamp, body),
    }


def verify(
    *,
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Raise ``SignatureError`` unless ``signature`` signs ``body`` at a recent ``timestamp``."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        raise SignatureError("missing or malformed timestamp") from None
    if abs((time.time() if now is None else now) - sent) > tolerance:
        raise SignatureError("timestamp outside the replay window")
    # several "v1=" values (comma-separated) may be sent while a secret is being rotated
    expected = sign(secret, sent, body)
    given = [part.strip() for part in (signature or "").split(",")]
    if not any(hmac.compare_digest(expected, part) for part in given):
        raise SignatureError("signature does not match")
