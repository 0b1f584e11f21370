"""The job run itself, in ``common.runner``'s pattern: lock queued -> running, classify
every frame and save its map (the status re-read between frames: a cancel stops the work),
then hand the downloads over to their own task (``downloads``), which ends the job; or fail,
with the stage timings either way."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import cache, partial

from django.db.models import F
from django.utils import timezone

from common.jobs import enqueue_on_commit
from common.priority import interactive
from common.runner import cancel_check, job_end, job_run
from webhooks.services import event_emit
from workers.fewshot.pipeline import Segmenter

from ..models import JobStatus, SegmentationJob
from ..services import support_classes
from . import ahead
from .clock import Clock
from .downloads import backlog_bound, hand_over, handed_over, pending
from .give_way import GaveWay, give_way_check, segmentation_job_requeue
from .images import _Images, encoder_for, support_chips
from .results import result_save

log = logging.getLogger(__name__)

#: writes a frame's downloads (and ends the job after its last map: ``downloads``)
DOWNLOADS_TASK = "workers.tasks.segment.segment_downloads"
#: what the run reads of a job besides its row
SEGMENTATION_QUERY = ("support_set", "support_set__schema", "model_version", "lab")


def segmentation_job_run(*, job_id, retries: int = 0) -> SegmentationJob | None:
    """Embed (or fetch cached embeddings), classify every frame, store results and exports
    (``common.runner.job_run``: a redelivered running job resumes where it stopped). A job
    that gives way between frames to its user's newer one goes back to the queue
    (``give_way``; ``retries``: the delivery's, from Celery)."""
    run = _Run()
    try:
        return job_run(
            SegmentationJob,
            job_id,
            run.work,
            subject=f"segmentation job {job_id}",
            prepare=run.prepare,
            fail=run.failed,
            cancelled=run.cancelled,
            passes=(GaveWay,),
        )
    except GaveWay as newer:
        log.info("segmentation job %s gave way to %s", job_id, newer.job_id)
        segmentation_job_requeue(job_id=job_id, retries=retries)
        return SegmentationJob.objects.get(pk=job_id)


def segmentation_job_fail(*, job_id, reason: str) -> None:
    """Record a failure the task could not recover from (retries exhausted, time limit)."""
    job_end(
        SegmentationJob,
        job_id,
        status=JobStatus.FAILED,
        error=reason,
        effects=[partial(event_emit, "job.failed", job_id)],
    )


class _Run:
    """One run's stage timer and its end: timings on the row whatever the outcome."""

    def prepare(self, row: SegmentationJob) -> SegmentationJob:
        """The running job with what the work reads; the clock starts here."""
        job = SegmentationJob.objects.select_related(*SEGMENTATION_QUERY).get(pk=row.pk)
        self.clock = Clock()
        self.total_start = time.perf_counter()
        return job

    def work(self, job: SegmentationJob) -> None:
        _run(job, self.clock)
        # every map is listed and each frame's downloads were sent to a task of their own
        # (``downloads``): the last of them ends the job, and this process is free for the next
        SegmentationJob.objects.filter(pk=job.pk).update(
            stage="Writing the downloads", timings=self._timings(job), maps_saved=timezone.now()
        )
        enqueue_on_commit(DOWNLOADS_TASK, job.pk)  # ends the job if no frame's are left

    def failed(self, job: SegmentationJob, reason: str, code: str) -> None:
        self._end(job, JobStatus.FAILED, "job.failed", error=reason)

    def cancelled(self, job: SegmentationJob) -> None:
        # the cancel finished the row; the run adds how long its stages took
        SegmentationJob.objects.filter(pk=job.pk).update(timings=self._timings(job))
        job.refresh_from_db()

    def _end(self, job: SegmentationJob, status: str, event: str, error: str = "") -> None:
        job_end(
            SegmentationJob,
            job.pk,
            status=status,
            error=error,
            timings=self._timings(job),
            stage="",
            effects=[partial(event_emit, event, job.pk)],
        )
        job.refresh_from_db()

    def _timings(self, job: SegmentationJob) -> dict:
        timings = {k: round(v, 4) for k, v in self.clock.timings.items()}
        timings["queue_wait"] = round((job.started - job.created).total_seconds(), 4)
        timings["total"] = round(time.perf_counter() - self.total_start, 4)
        timings["embeddings_cache"] = self.clock.cache
        if self.clock.ahead:  # the first map was made ahead of the click
            timings["made_ahead"] = self.clock.ahead
        return timings


def _stage(job: SegmentationJob, text: str) -> None:
    """Say what the worker is doing now (shown with the progress while the job runs)."""
    SegmentationJob.objects.filter(pk=job.pk).update(stage=text[:80])


def _run(job: SegmentationJob, clock: Clock) -> None:
    """Classify every frame of the job's images, saving each result."""
    # a frame whose map was saved and handed over (or whose downloads are written already) is
    # not classified again when the task is delivered again
    done = {(str(i), f) for i, f in handed_over(job).values_list("image_id", "frame")}
    if done:  # resumed (after giving way, say): its first map was shown
        give_way_check(job)
    classes = support_classes(job.support_set)
    _stage(job, "Loading the model")
    images = _Images(job, encoder_for(job, clock), clock)
    by_image = support_chips(job.support_set, classes)
    # fitted when a frame is first classified here: a job whose one map was made ahead of its
    # click (``ahead``, which fitted the same support set) skips it
    fitted = cache(partial(_fit, job, images, by_image))
    for result_id in pending(job).values_list("pk", flat=True):  # their message may be lost
        enqueue_on_commit(DOWNLOADS_TASK, job.pk, result_id)
    job_images = list(job.job_images.select_related("image", "grid").order_by("order"))
    for n, job_image in enumerate(job_images, start=1):
        where = f" (image {n} of {len(job_images)})" if len(job_images) > 1 else ""
        _run_image(job, job_image, fitted, images, by_image, classes, done, where, n == 1)


def _fit(job: SegmentationJob, images: _Images, by_image: dict) -> Segmenter:
    """The class prototypes of the support set (its images embedded first)."""
    _stage(job, "Embedding the support set's images")
    with interactive():  # background work on this host waits meanwhile (common.priority)
        return images.fitted(
            by_image,
            between=lambda: cancel_check(SegmentationJob, job.pk),
            fitting=lambda: _stage(job, "Fitting the class prototypes"),
        )


def _waited_for(shown: bool):
    """Mark the map the page shows first (the first image's first frame) as work a user waits
    for (``common.priority``). The rest of a series or batch is not: the downloads of its
    earlier frames then run beside it (at a lower priority) rather than wait until its last
    map, with their ~80 MB hand-over files (4096²) piling up meanwhile."""
    return interactive() if shown else nullcontext()


def _run_image(
    job,
    job_image,
    fitted: Callable[[], Segmenter],
    images: _Images,
    by_image,
    classes,
    done,
    where,
    first: bool,
) -> None:
    """Classify and save every frame of one image of the job not ``done`` yet (``first``: the
    job's first image, whose frame 0 the page shows)."""
    image, grid, clock = job_image.image, job_image.grid, images.clock
    _stage(job, f"Embedding the chips{where}")
    with _waited_for(first):
        embedded = images.embedded(image, upto=1)  # a series: the others frame by frame
    n_frames = len(images.frames(image))
    for frame in range(n_frames):
        cancel_check(SegmentationJob, job.pk)
        if (str(image.pk), frame) in done:
            continue
        if not (first and frame == 0):  # after the job's first map: its user's newer job first
            give_way_check(job)
            ahead.made_between_frames(job)  # and the re-run of their clicks since
        at = f" (frame {frame + 1} of {n_frames})" if n_frames > 1 else where
        if frame >= len(embedded.embeddings):
            _stage(job, f"Embedding the chips{at}")
            embedded = images.embedded(image, upto=frame + 1)
            give_way_check(job)  # again: the frame's embeddings wait in the memory cache
        # until the map is listed; not the downloads, which yield to the next job's map
        with _waited_for(first and frame == 0):
            _stage(job, f"Classifying the chips and the pixels{at}")
            # the page's map: made ahead of the click when nothing changed since (``ahead``)
            made = ahead.take(job, job_image, classes, by_image) if first and not frame else None
            result, pixels = made or images.classified(
                fitted(), image, embedded, frame, by_image, classes, clock.lapper()
            )
            clock.ahead += made is not None
            _stage(job, f"Saving the map{at}")
            saved = result_save(job, image, grid, frame, result, pixels, classes, clock)
        _stage(job, f"Writing the downloads{at}")  # the map is listed
        t = time.perf_counter()
        size = hand_over(saved, pixels)  # the confidence map, and what the downloads need
        clock.add("hand_over", t)
        enqueue_on_commit(DOWNLOADS_TASK, job.pk, saved.pk)
        backlog_bound(job, size)  # the oldest frame's downloads if too many wait for them
        SegmentationJob.objects.filter(pk=job.pk).update(
            progress_done=F("progress_done") + grid.rows * grid.cols
        )
