"""The embedded broker (filesystem transport): a consumer never reads a half-written message."""

import json
from queue import Empty

from kombu import Connection
from kombu.transport import filesystem

from workers import broker


def _channel(transport, folder):
    conn = Connection(
        transport=transport,
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder)},
    )
    return conn, conn.channel()


def _race(monkeypatch, module, channel, queue):
    """Make the writer's serialisation step run the consumer first: the moment of the race."""
    real = module.dumps
    seen = []

    def dumps_with_a_consumer_poll(payload):
        try:
            seen.append(channel._get(queue))
        except (Empty, json.JSONDecodeError) as exc:
            seen.append(exc)
        return real(payload)

    monkeypatch.setattr(module, "dumps", dumps_with_a_consumer_poll)
    return seen


def test_kombus_own_filesystem_transport_hands_out_an_empty_message(tmp_path, monkeypatch):
    # documents the upstream race (celery/kombu#1551) that workers.broker closes
    conn, channel = _channel(filesystem.Transport, tmp_path)
    seen = _race(monkeypatch, filesystem, channel, "jobs")
    channel._put("jobs", {"task": "segment"})
    assert len(seen) == 1 and isinstance(seen[0], json.JSONDecodeError)  # the worker's crash
    conn.release()


def test_the_chiplab_transport_writes_messages_atomically(tmp_path, monkeypatch):
    conn, channel = _channel(broker.Transport, tmp_path)
    seen = _race(monkeypatch, broker, channel, "jobs")
    channel._put("jobs", {"task": "segment"})
    assert len(seen) == 1 and isinstance(seen[0], Empty)  # the partial file is invisible
    assert channel._get("jobs") == {"task": "segment"}
    assert list(tmp_path.iterdir()) == []  # consumed, no partial file left behind
    conn.release()


def test_filesystem_urls_use_the_chiplab_transport():
    import workers.celery_app  # noqa: F401  (registers the transport)

    with Connection("filesystem://") as conn:
        assert conn.transport_cls == "filesystem" and isinstance(conn.transport, broker.Transport)
