"""A correction's re-run made ahead of its click: the offer, after a user's clicks (the
making and the taking are ``analysis.runner.ahead``'s)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from common.jobs import enqueue_on_commit

from ..models import SegmentationJob

#: the task that makes a map ahead (``workers.tasks.segment``)
AHEAD_TASK = "workers.tasks.segment.segment_ahead"


def segmentation_ahead_offer(*, user, grid, schema) -> None:
    """After ``user``'s clicks on ``grid`` are committed: send a ``segment_ahead`` message for
    their newest job on the grid (one that froze their working set of ``schema``) if it is
    recent enough (``CHIPLAB_SEGMENT_AHEAD_MINUTES``; 0: never)."""
    minutes = settings.CHIPLAB_SEGMENT_AHEAD_MINUTES
    if not minutes or schema is None:
        return
    job_id = (
        SegmentationJob.objects.filter(
            created_by=user,
            job_images__grid=grid,
            support_set__schema=schema,
            support_set__created_by=user,
            created__gte=timezone.now() - timedelta(minutes=minutes),
        )
        .order_by("-created")
        .values_list("pk", flat=True)
        .first()
    )
    if job_id is not None:
        enqueue_on_commit(AHEAD_TASK, job_id)
