"""Ingest: metadata, calibration, preview and thumbnail of an uploaded image."""

from workers.tasks.base import INGEST, chiplab_task, run_or_record_failure


@chiplab_task(queue="default", time_limit=900, tracks=INGEST)
def ingest_image(self, image_id: str) -> None:
    from catalog.services import image_ingest, image_mark_failed

    run_or_record_failure(
        self,
        run=lambda: image_ingest(image_id=image_id),
        fail=lambda reason: image_mark_failed(image_id=image_id, reason=reason),
        subject=f"ingest of image {image_id}",
        unavailable="storage or database unavailable",
    )
