"""Training has its own queue; every message carries its rank in its lab as a priority, and
each broker serves lower ranks first (Redis and the embedded filesystem broker here)."""

import uuid

import pytest
from kombu import Connection, Exchange, Queue

from workers import broker
from workers.celery_app import app, broker_priority, route

pytestmark = pytest.mark.django_db


def test_tasks_are_routed_to_their_queues():
    app.loader.import_default_modules()  # the included task modules
    queue = {name: app.amqp.router.route({}, name)["queue"].name for name in list(app.tasks)}
    assert queue["workers.tasks.train.train_job"] == "training"
    assert queue["workers.tasks.segment.segment_job"] == "gpu"
    assert queue["workers.tasks.ingest.ingest_image"] == "default"


def test_a_jobs_priority_is_its_rank_in_its_lab(world, two_labs, hold_jobs, settings):
    from analysis.services import segmentation_job_create

    a, b = two_labs
    hold_jobs()
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"

    def job(side):
        return segmentation_job_create(
            user=side["user"], images=[side["image"].pk], support_set=side["version"].pk
        )

    flood = [job(a) for _ in range(4)]
    other = job(b)
    name = "workers.tasks.segment.segment_job"
    assert [route(name, [str(j.pk)], {}, {})["priority"] for j in flood] == [0, 1, 2, 3]
    assert route(name, [str(other.pk)], {}, {}) == {"queue": "gpu", "priority": 0}
    flood[0].status = "succeeded"
    flood[0].save()
    assert route(name, [str(flood[3].pk)], {}, {})["priority"] == 2  # finished ones leave
    # an unknown row is sent first rather than not at all
    assert route(name, [str(uuid.uuid4())], {}, {})["priority"] == 0


@pytest.mark.parametrize(
    "url,ranks,priorities",
    [
        ("redis://127.0.0.1:6379/0", [0, 1, 9, 40], [0, 1, 9, 9]),
        ("amqp://guest@127.0.0.1//", [0, 1, 9, 40], [9, 8, 0, 0]),
        ("filesystem://", [0, 1, 40, 5000], [0, 1, 40, 999]),
    ],
)
def test_ranks_map_to_each_brokers_priorities(url, ranks, priorities):
    assert [broker_priority(r, url) for r in ranks] == priorities


def _drain(conn, queue, n):
    got = []
    with conn.SimpleQueue(queue) as q:
        for _ in range(n):
            message = q.get(timeout=5)
            got.append(message.payload)
            message.ack()
    return got


def _flood_then_one(conn, queue, url):
    producer = conn.Producer()
    for i in range(5):  # lab A: ranks 1..5, sent first
        producer.publish(
            {"lab": "A", "i": i},
            routing_key=queue.name,
            declare=[queue],
            priority=broker_priority(i + 1, url),
        )
    producer.publish(
        {"lab": "B", "i": 0},
        routing_key=queue.name,
        declare=[queue],
        priority=broker_priority(0, url),
    )


def test_redis_serves_another_labs_first_job_before_a_flood(settings):
    url = "redis://127.0.0.1:6379/15"
    options = {"priority_steps": list(range(10))}  # as settings.py sets for redis brokers
    name = f"sharing-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name), routing_key=name)
    with Connection(url, transport_options=options) as conn:
        _flood_then_one(conn, queue, url)
        got = _drain(conn, queue, 6)
    assert [m["lab"] for m in got] == ["B"] + ["A"] * 5
    assert [m["i"] for m in got[1:]] == [0, 1, 2, 3, 4]


def test_the_filesystem_broker_serves_lower_ranks_first(tmp_path):
    conn = Connection(
        transport=broker.Transport,
        transport_options={"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)},
    )
    channel = conn.channel()
    for i in range(5):
        channel._put("gpu", {"body": f"A{i}", "properties": {"priority": i + 1}})
    channel._put("gpu", {"body": "B0", "properties": {"priority": 0}})
    assert [channel._get("gpu")["body"] for _ in range(6)] == ["B0", "A0", "A1", "A2", "A3", "A4"]
    conn.release()
