"""Segmentation jobs on the gpu queue: a thin entry point over ``analysis.runner``."""

import logging
import threading

from celery.signals import worker_init, worker_process_init

from common.jobs import SEGMENTATION
from workers.tasks.base import chiplab_task, run_or_record_failure

log = logging.getLogger(__name__)


@chiplab_task(queue="gpu", time_limit=3600, tracks=SEGMENTATION)
def segment_job(self, job_id: str) -> None:
    from analysis.runner import segmentation_job_fail, segmentation_job_run

    run_or_record_failure(
        self,
        run=lambda: segmentation_job_run(job_id=job_id, retries=self.request.retries),
        fail=lambda reason: segmentation_job_fail(job_id=job_id, reason=reason),
        subject=f"segmentation job {job_id}",
        unavailable="storage or database unavailable",
    )


@chiplab_task(queue="default", time_limit=900)
def segment_downloads(self, job_id: str, result_id: str | None = None) -> None:
    """A frame's downloads once its map is shown, and the job's end after the last (off the
    gpu queue: the process that classifies moves on to the next job)."""
    from analysis.runner import segmentation_downloads_run, segmentation_job_fail

    run_or_record_failure(
        self,
        run=lambda: segmentation_downloads_run(job_id=job_id, result_id=result_id),
        fail=lambda reason: segmentation_job_fail(job_id=job_id, reason=reason),
        subject=f"downloads of segmentation job {job_id}",
        unavailable="storage or database unavailable",
    )


@chiplab_task(queue="default", time_limit=900)
def chip_size_check(self, job_id: str) -> None:
    """A finished job's fractions at half and double the chip size (off the gpu queue)."""
    from analysis.runner import chip_size_check_run

    chip_size_check_run(job_id=job_id)


@chiplab_task(queue="gpu", time_limit=900)
def prefetch_embeddings(self, grid_id: str) -> None:
    """Embed a new grid's image with its lab's champion into the embeddings cache; a cache,
    so a failure is only logged (the job embeds then)."""
    from analysis.runner import embeddings_prefetch

    try:
        embeddings_prefetch(grid_id=grid_id)
    except Exception:
        log.exception("prefetching the embeddings of grid %s failed", grid_id)


@chiplab_task(queue="gpu", time_limit=900)
def segment_ahead(self, job_id: str) -> None:
    """The map of job ``job_id``'s re-run made ahead of its click, into this worker's memory
    cache (``analysis.runner.ahead``); a cache, so a failure is only logged."""
    from analysis.runner import segmentation_ahead_run

    try:
        segmentation_ahead_run(job_id=job_id)
    except Exception:
        log.exception("making the re-run of segmentation job %s ahead failed", job_id)


@worker_init.connect
def _preload(**_kwargs) -> None:
    """Import torch and the engine once in the main process; pool processes are forked from it
    and start warm (only imports here: no torch threads before the fork)."""
    try:
        import numcodecs  # noqa: F401  (the OME-Zarr export's codecs: native libraries)
        import tifffile  # noqa: F401
        import zarr  # noqa: F401

        import analysis.runner  # noqa: F401  (imports the engine, torch, numpy)
    except Exception:  # preloading is an optimisation; never keep a worker from starting
        log.exception("segmentation preload failed")


@worker_process_init.connect
def _warm_up(**_kwargs) -> None:
    """Run a tiny classification and render once per pool process, in the background (the
    pool waits only seconds for a new process to report ready)."""

    def run() -> None:
        try:
            from analysis.runner import warm_up

            warm_up()
        except Exception:
            log.exception("segmentation warm-up failed")

    threading.Thread(target=run, name="segment-warm-up", daemon=True).start()
