"""A job gives way, between frames, to its user's newer job on the same images.

In a correction session on a series (a vote, Segment again, every few seconds) each re-run's
first map is what the user waits for, while the previous job still classifies its other frames
on the same worker queue: on a 12-frame 2048² series the re-runs waited 6-7 s in the queue
behind it (seventeenth session). So a job, between frames (never before its own first map),
looks for a job of the same user on any of its images created after it and not started yet (one
that gave way itself has had its first map: it waits its turn). If there is one, the job goes
back to the queue (:func:`segmentation_job_requeue`) and its next delivery resumes at the
frames it has not handed over yet (``job._run``). Both finish, newest first: nothing is
cancelled, since a pipeline may want every job's maps. The message sent again takes the rank of
the newest job it waits for (``workers.celery_app``), so it is served right after that job's and
keeps its lab's place among the other labs' jobs (until the twenty-fifth session it went to the
broker's last level, behind every lab's queued jobs); a job only gives way to newer ones, so it
gives way at most once per newer job: one resumed before the newest gives way again at once.
"""

from __future__ import annotations

from django.db import transaction

from common.jobs import SEGMENTATION, JobStatus, delivery_requeue, enqueue_on_commit

from ..models import SegmentationJob
from ..selectors import jobs_given_way_to

#: the segmentation task (``workers.tasks.segment``), sent again for a job that gave way
SEGMENT_TASK = "workers.tasks.segment.segment_job"
#: what the job says while it waits again
WAITING = "Waiting: a newer segmentation of the same images goes first"


class GaveWay(Exception):
    """The job stopped between frames for its user's newer job (its ``job_id``)."""

    def __init__(self, job_id):
        super().__init__(f"gave way to segmentation job {job_id}")
        self.job_id = job_id


def give_way_check(job: SegmentationJob) -> None:
    """Raise :class:`GaveWay` when the job's user has queued a job on one of its images since
    (one not started yet)."""
    newer = jobs_given_way_to(job=job).order_by("created").values_list("pk", flat=True).first()
    if newer is not None:
        raise GaveWay(newer)


def segmentation_job_requeue(*, job_id, retries: int) -> bool:
    """Put a job that gave way back in the queue (``retries``: its delivery's, from Celery);
    False when it is no longer running (cancelled meanwhile)."""
    with transaction.atomic():
        requeued = delivery_requeue(
            SEGMENTATION, job_id, retries=retries, status=JobStatus.QUEUED, stage=WAITING
        )
        if requeued:
            enqueue_on_commit(SEGMENT_TASK, job_id)
    return requeued
