"""Upload → real ingest worker → image.ready → a real delivery worker → a receiver on
127.0.0.1 that answers 500 first: the retry arrives, both signed, both logged."""

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.support.micrographs import gradient, png_bytes
from webhooks import signing

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _deliveries(client, hook_id):
    return client.get(f"/api/webhooks/{hook_id}/deliveries/").json()["results"]


def test_an_event_is_delivered_signed_and_retried_after_a_500(
    celery_worker, client_for, world, wait, receiver
):
    receiver.answer((500, b"try later", 0), (200, b"thanks", 0))
    curator = client_for(world.curator)
    created = curator.post(
        f"/api/labs/{world.lab.pk}/webhooks/",
        {"url": receiver.url, "events": ["image.ready"], "description": "pipeline"},
    )
    assert created.status_code == 201, created.content
    hook = created.json()

    dataset = world.dataset()
    upload = curator.post(
        f"/api/datasets/{dataset.pk}/images/",
        {"file": SimpleUploadedFile("frame.png", png_bytes(gradient((64, 64), np.uint8)))},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    image_id = upload.json()["id"]

    def finished():
        results = _deliveries(curator, hook["id"])
        return results if results and results[0]["status"] != "pending" else None

    (delivery,) = wait(finished, timeout=120, what="the webhook delivery and its retry")
    assert delivery["status"] == "succeeded" and delivery["event"] == "image.ready"
    assert [a["status_code"] for a in delivery["log"]] == [500, 200]
    assert [a["number"] for a in delivery["log"]] == [1, 2]
    assert delivery["log"][0]["error"] == "HTTP 500"
    assert delivery["log"][0]["response_excerpt"] == "try later"

    first, second = receiver.requests
    for request in (first, second):
        signing.verify(
            secret=hook["secret"],
            body=request.body,
            timestamp=request.headers["Chiplab-Timestamp"],
            signature=request.headers["Chiplab-Signature"],
        )
        assert request.headers["Chiplab-Event-Id"] == delivery["event_id"]
    assert first.body == second.body
    assert second.at - first.at >= 0.4  # backoff (0.5 s in the test settings)
    event = json.loads(first.body)
    assert event["type"] == "image.ready" and event["lab"] == str(world.lab.pk)
    assert event["data"]["image"] == image_id and event["data"]["status"] == "ready"

    # "send test" goes through the same worker, without blocking the request
    receiver.answer((200, b"pong", 0))
    test = curator.post(f"/api/webhooks/{hook['id']}/test")
    assert test.status_code == 202 and test.json()["status"] == "pending"
    ping = wait(
        lambda: next(
            (
                d
                for d in _deliveries(curator, hook["id"])
                if d["event"] == "ping" and d["status"] != "pending"
            ),
            None,
        ),
        timeout=60,
        what="the test delivery",
    )
    assert ping["status"] == "succeeded" and ping["log"][0]["response_excerpt"] == "pong"
