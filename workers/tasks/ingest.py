"""Ingest: metadata, calibration, preview and thumbnail of an uploaded image."""

from common.jobs import INGEST, Tracked
from workers.tasks.base import chiplab_task, run_or_record_failure


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


# the row of a direct upload's commit; a commit lost with its worker too often ends failed
DIRECT_COMMIT = Tracked(
    "catalog.DirectUpload",
    done=("uploading", "committed", "failed", "aborted"),
    failed="failed",
    finished_field=None,
    sweep="catalog.direct.commit.direct_upload_sweep",  # its staged object and parts
)


@chiplab_task(queue="default", time_limit=3600, tracks=DIRECT_COMMIT)
def commit_direct_upload(self, upload_id: str) -> None:
    """Check a direct upload's bytes (size, sha256, an upload's checks) and make its image."""
    from catalog.direct import direct_upload_commit_run, direct_upload_mark_failed

    run_or_record_failure(
        self,
        run=lambda: direct_upload_commit_run(upload_id=upload_id),
        fail=lambda reason: direct_upload_mark_failed(upload_id=upload_id, reason=reason),
        subject=f"commit of direct upload {upload_id}",
        unavailable="storage or database unavailable",
    )
