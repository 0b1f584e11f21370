"""Publishing: imports of dataset packages, a thin entry point over ``publishing.archive``."""

from common.jobs import Tracked
from workers.tasks.base import chiplab_task, run_or_record_failure

# a package (and what a restore wrote) of an import failed after lost deliveries is deleted
ARCHIVE_IMPORT = Tracked(
    "publishing.DatasetArchiveImport", sweep="publishing.archive.jobs.archive_import_sweep"
)


@chiplab_task(queue="default", time_limit=3600, tracks=ARCHIVE_IMPORT)
def import_dataset_archive(self, import_id: str) -> None:
    """Check a stored dataset package and restore it as a new dataset."""
    from publishing.archive import archive_import_fail, archive_import_run

    run_or_record_failure(
        self,
        run=lambda: archive_import_run(import_id=import_id),
        fail=lambda reason: archive_import_fail(import_id=import_id, reason=reason),
        subject=f"import of dataset package {import_id}",
        unavailable="storage or database unavailable",
    )
