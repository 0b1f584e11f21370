"""The embedded broker: kombu's filesystem transport with atomic message writes.

kombu's own ``_put`` creates the message file and then writes it; a consumer polling the same
folder can move and read the file in between, gets an empty message and its consumer loop
dies on the JSON error (celery/kombu#1551), leaving jobs queued forever. Here a message is
written under a hidden temporary name, which consumers skip, and renamed into the queue
when complete (``os.replace`` is atomic within a folder). Names start with the message's
priority, so that a lab's first job is taken before another lab's fiftieth (fair sharing).

Registered as the ``filesystem`` transport by ``workers.celery_app``, so ``filesystem://``
broker URLs use it in the web process and in workers alike.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

__all__ = ["Channel", "Transport"]


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: write a temporary file, then rename it into place."""
        # Consumers take the first file name in sorted order: the message's rank in its lab
        # (its priority, see workers.celery_app.route) first, then the time it was sent.
        rank = min(max(int(payload.get("properties", {}).get("priority") or 0), 0), 999)
        name = f"{rank:03d}-{round(monotonic() * 1000):015d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # a leading dot: the consumer's "<stamp>_<uuid>.<queue>.msg" pattern never matches it
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
