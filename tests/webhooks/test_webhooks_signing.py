"""Signatures: HMAC-SHA256 over "<timestamp>.<body>", checked with a replay window."""

import hashlib
import hmac

import pytest
from chiplab_client import SignatureError as ClientSignatureError
from chiplab_client import verify_signature

from webhooks import signing

SECRET = "whsec_test-secret"
BODY = b'{"id":"e1","type":"ping"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.sign(SECRET, 1700000000, BODY) == f"v1={expected}"


def test_headers_carry_timestamp_signature_and_event_id():
    headers = signing.headers(
        secret=SECRET, body=BODY, event="ping", event_id="e1", delivery_id="d1", now=1700000000
    )
    assert headers["Chiplab-Timestamp"] == "1700000000"
    assert headers["Chiplab-Event-Id"] == "e1"
    assert headers["Chiplab-Event"] == "ping"
    assert headers["Chiplab-Signature"] == signing.sign(SECRET, 1700000000, BODY)


@pytest.mark.parametrize("check", ["server", "client"])
def test_verify_accepts_genuine_and_refuses_tampering_and_replays(check):
    ts = 1700000000
    sig = signing.sign(SECRET, ts, BODY)

    def verify(*, secret=SECRET, body=BODY, timestamp=str(ts), signature=sig, now=ts + 10):
        if check == "server":
            signing.verify(
                secret=secret, body=body, timestamp=timestamp, signature=signature, now=now
            )
        else:
            headers = {"chiplab-timestamp": timestamp, "Chiplab-Signature": signature}
            verify_signature(secret, body, headers, now=now)

    error = signing.SignatureError if check == "server" else ClientSignatureError
    verify()  # genuine, 10 s old
    verify(signature=f"v1=deadbeef, {sig}")  # one of several values (rotation) matches
    with pytest.raises(error):
        verify(body=BODY + b" ")
    with pytest.raises(error):
        verify(secret="whsec_other")
    with pytest.raises(error):
        verify(now=ts + 301)  # replayed after the 5-minute window
    with pytest.raises(error):
        verify(now=ts - 301)
    with pytest.raises(error):
        verify(timestamp=str(ts + 1))  # the timestamp is part of what is signed
    with pytest.raises(error):
        verify(timestamp="soon")
    with pytest.raises(error):
        verify(signature="")


def test_secrets_are_long_random_and_prefixed():
    a, b = signing.secret_new(), signing.secret_new()
    assert a != b and a.startswith("whsec_") and len(a) >= 40
