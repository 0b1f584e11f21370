"""Dataset-archive imports as worker jobs: the request stores the package and answers with
an import (202); the worker checks and restores it (``archive_import_run``), recording its
stage and the bytes checked, then the new dataset or the error. Nothing is half-stored: a
refused or failed import leaves no rows and no objects, and its package is deleted. A
delivery that dies mid-restore leaves objects under the dataset's keys (its id is the
import's) and under its results' jobs (ids fixed by the import's, listed in ``staged.json``
next to the package before any is written): the next delivery, a failure, and a failure
after too many lost deliveries (``archive_import_sweep``) delete them."""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from accounts.models import Lab, Role
from accounts.selectors import require_role
from catalog.models import Dataset, Visibility
from common import storage
from common.errors import ChiplabError, Invalid, NotFound, TooLarge
from common.jobs import FINISHED, JobStatus, enqueue_on_commit
from common.runner import job_end, job_run

from ..models import ArchiveImportStage, DatasetArchiveImport
from .annotations import check_annotations
from .package import check_documents, invalid, resolve_models, unpack
from .restore import restore
from .results import imported_job_id

log = logging.getLogger(__name__)

TASK = "workers.tasks.publishing.import_dataset_archive"
_CHUNK = 1024 * 1024


def _dataset_prefix(lab_id, dataset_id) -> str:
    return f"labs/{lab_id}/datasets/{dataset_id}"


def _staged_key(job: DatasetArchiveImport) -> str:
    return f"labs/{job.lab_id}/archive-imports/{job.pk}/staged.json"


def _segmentations_prefix(lab_id, job_id) -> str:
    # the folder of a job's results (analysis.artefacts.result_prefix)
    return f"labs/{lab_id}/segmentations/{job_id}"


# --- the request ------------------------------------------------------------------------------
def dataset_archive_import_start(
    *, user, lab: Lab, upload, visibility: str = Visibility.LAB, with_results: bool = True
) -> DatasetArchiveImport:
    """Store the package ``upload`` (an uploaded file) and queue its import as a new dataset
    of ``lab`` (curators). ``with_results=False`` leaves the results out (for a server
    without the model versions that made them). What the package holds is checked by the
    worker; an empty or oversized file is refused here."""
    require_role(user=user, lab_id=lab.pk, role=Role.CURATOR)
    if visibility not in Visibility.values:
        raise Invalid(
            "Visibility must be private, lab or public.", fields={"visibility": ["invalid"]}
        )
    if not upload.size:
        raise invalid("The archive is empty.", "empty")
    if upload.size > settings.CHIPLAB_ARCHIVE_MAX_BYTES:
        raise TooLarge(
            f"The archive is {upload.size} bytes; this server imports at most "
            f"{settings.CHIPLAB_ARCHIVE_MAX_BYTES} (CHIPLAB_ARCHIVE_MAX_BYTES).",
            code="archive_too_large",
        )
    import_id = uuid.uuid4()
    key = f"labs/{lab.pk}/archive-imports/{import_id}/package.zip"
    storage.put(key, File(upload, name="package.zip"))
    try:
        with transaction.atomic():
            job = DatasetArchiveImport.objects.create(
                id=import_id,
                lab=lab,
                created_by=user,
                filename=Path(str(upload.name or "")).name[:255],
                package_key=key,
                package_bytes=upload.size,
                visibility=visibility,
                with_results=with_results,
            )
            enqueue_on_commit(TASK, job.pk)
    except BaseException:
        storage.delete(key)
        raise
    return job


def dataset_archive_import_get(*, user, import_id) -> DatasetArchiveImport:
    """One import (curators of its lab; anyone else: 404)."""
    job = DatasetArchiveImport.objects.filter(pk=import_id).first()
    if job is None:
        raise NotFound("Import not found.")
    try:
        require_role(user=user, lab_id=job.lab_id, role=Role.CURATOR)
    except ChiplabError as err:
        raise NotFound("Import not found.") from err
    return job


# --- the worker -------------------------------------------------------------------------------
def archive_import_run(*, import_id) -> None:
    """Check and restore the import's package (what the worker runs, with
    ``common.runner.job_run``; idempotent: a finished import is left alone, and one whose
    dataset exists was done by a lost delivery). A refusal records its message and code."""
    job_run(
        DatasetArchiveImport,
        import_id,
        _run,
        subject=f"import of dataset package {import_id}",
        fields=lambda row: {"started": timezone.now(), "error": "", "error_code": ""},
        prepare=lambda row: DatasetArchiveImport.objects.select_related("lab", "created_by").get(
            pk=row.pk
        ),
        refused=(ChiplabError,),
        fail=lambda job, reason, code: archive_import_fail(
            import_id=job.pk, reason=reason, code=code
        ),
    )


def _run(job: DatasetArchiveImport) -> None:
    done = Dataset.objects.filter(pk=job.pk).first()
    if done is not None:  # a delivery lost after its transaction committed
        _succeed(job, dataset=done, version=done.versions.order_by("number").first(), summary={})
        return
    # a delivery lost while restoring may have left objects under the dataset's keys
    _sweep(job)
    outcome = _import(job)
    _succeed(job, dataset=outcome.dataset, version=outcome.version, summary=outcome.summary())


def _import(job: DatasetArchiveImport):
    with (
        _downloaded(job.package_key) as path,
        tempfile.TemporaryDirectory(prefix="chiplab-archive-") as tmp,
    ):
        _update(job, stage=ArchiveImportStage.CHECKING, done_bytes=0, total_bytes=0)
        package = unpack(path, Path(tmp), progress=_progress(job))
        check_documents(package, with_results=job.with_results)
        annotations = check_annotations(package.doc, set(package.probes))
        if job.with_results:
            resolve_models(package, user=job.created_by)
        else:
            package.doc["results"] = []
        _update(job, stage=ArchiveImportStage.RESTORING)
        _stage(job, package)
        return restore(
            package,
            user=job.created_by,
            lab=job.lab,
            visibility=job.visibility,
            annotations=annotations,
            dataset_id=job.pk,
        )


def _progress(job: DatasetArchiveImport):
    """Record the bytes checked, at most every 1% (or 8 MiB), so polls see them move."""
    last = [0]

    def report(done: int, total: int) -> None:
        if done == total or done - last[0] >= max(total // 100, 8 * _CHUNK):
            last[0] = done
            _update(job, done_bytes=done, total_bytes=total)

    return report


def archive_import_fail(*, import_id, reason: str, code: str = "import_failed") -> None:
    """Record the import failed with ``reason``; its package and anything it wrote go."""
    job = DatasetArchiveImport.objects.filter(pk=import_id).first()
    if job is None or job.status in FINISHED:
        return
    _sweep(job)
    job_end(
        DatasetArchiveImport,
        job.pk,
        status=JobStatus.FAILED,
        error=reason,
        max_error=4000,
        error_code=(code or "import_failed")[:64],
    )
    _delete_package(job)


def archive_import_sweep(import_id) -> None:
    """After the import failed for lost deliveries (``common.jobs.delivery_begin``): its
    package and what its restores wrote are deleted, unless a restore committed."""
    job = DatasetArchiveImport.objects.filter(pk=import_id).first()
    if job is None or job.status != JobStatus.FAILED:
        return
    _sweep(job)
    _delete_package(job)


def _stage(job: DatasetArchiveImport, package) -> None:
    """List, before the restore writes any, the folders of the results it will write."""
    sources = sorted({str(result.get("job")) for result in package.doc["results"]})
    folders = [
        _segmentations_prefix(job.lab_id, imported_job_id(job.pk, source)) for source in sources
    ]
    storage.put_bytes(_staged_key(job), json.dumps({"folders": folders}).encode())


def _sweep(job: DatasetArchiveImport) -> None:
    """Delete the objects a restore of this import wrote whose rows never committed: under
    the dataset's keys and the folders ``_stage`` listed (none once a restore committed:
    they are the dataset's)."""
    if not Dataset.objects.filter(pk=job.pk).exists():
        storage.delete_under(_dataset_prefix(job.lab_id, job.pk))
        for folder in _staged_folders(job):
            storage.delete_under(folder)
    storage.delete(_staged_key(job))


def _staged_folders(job: DatasetArchiveImport) -> list[str]:
    key = _staged_key(job)
    if not storage.exists(key):
        return []
    with storage.open_(key) as fh:
        folders = json.load(fh).get("folders", [])
    mine = f"{_segmentations_prefix(job.lab_id, '')}"
    return [f for f in folders if isinstance(f, str) and f.startswith(mine) and f != mine]


def _succeed(job: DatasetArchiveImport, *, dataset, version, summary: dict) -> None:
    fields = {"stage": ArchiveImportStage.DONE, "dataset": dataset, "version": version}
    if summary:
        fields["summary"] = summary
    job_end(DatasetArchiveImport, job.pk, status=JobStatus.SUCCEEDED, **fields)
    _delete_package(job)


def _update(job: DatasetArchiveImport, **fields) -> None:
    DatasetArchiveImport.objects.filter(pk=job.pk).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def _delete_package(job: DatasetArchiveImport) -> None:
    try:
        storage.delete(job.package_key)
        storage.delete(_staged_key(job))
    except Exception as err:  # the import stands; an orphan package is only space
        log.warning("could not delete the package of import %s: %r", job.pk, err)


@contextlib.contextmanager
def _downloaded(key: str) -> Iterator[Path]:
    """The stored package in a local temporary file (zip needs to seek)."""
    with tempfile.NamedTemporaryFile(suffix=".zip", dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        try:
            src = storage.open_(key)
        except FileNotFoundError as err:
            raise invalid("The package is no longer stored; import it again.", "gone") from err
        with src:
            while chunk := src.read(_CHUNK):
                tmp.write(chunk)
        tmp.flush()
        yield Path(tmp.name)
