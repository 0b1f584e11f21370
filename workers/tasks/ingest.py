"""Ingest: metadata, calibration, preview and thumbnail of an uploaded image."""

import logging

from workers.tasks.base import TRANSIENT_ERRORS, chiplab_task

log = logging.getLogger(__name__)


@chiplab_task(queue="default", time_limit=900)
def ingest_image(self, image_id: str) -> None:
    from catalog.services import image_ingest, image_mark_failed

    try:
        image_ingest(image_id=image_id)
    except TRANSIENT_ERRORS:
        if self.request.retries >= self.max_retries:
            image_mark_failed(image_id=image_id, reason="storage or database unavailable")
        raise
    except Exception as err:  # an unreadable file must end as failed, never pending forever
        log.exception("ingest of image %s failed", image_id)
        image_mark_failed(image_id=image_id, reason=f"{type(err).__name__}: {err}")
