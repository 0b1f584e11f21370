"""Asynchronous jobs (segmentation, training): status, timing, error; the row is the truth."""

import uuid

from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """Fields every job shares; concrete jobs add what they run on and what they produce."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    error = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created"]

    @property
    def is_finished(self) -> bool:
        """Succeeded, failed or cancelled: nothing will change it any more."""
        return self.status in FINISHED


def require_queue_room(jobs, *, limit: int, what: str) -> None:
    """Refuse a new job (429 ``queue_full``) while ``jobs`` (a lab's) hold ``limit`` that
    have not finished: one lab cannot fill the shared workers' queue."""
    from .errors import TooMany

    if jobs.exclude(status__in=FINISHED).count() >= limit:
        raise TooMany(
            f"Your lab already has {limit} {what} queued or running; wait for some to finish "
            "or cancel them.",
            code="queue_full",
        )
