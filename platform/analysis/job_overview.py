"""Every segmentation job of a user across images and datasets (the "My jobs" page).

Reads only, on top of ``selectors.jobs_visible_to`` (a member of the job's lab who can see
all its images). A page of jobs costs a fixed number of queries: the jobs (with their image
count as a subquery) and the first :data:`IMAGES_SHOWN` images of each, with their datasets,
in one prefetch.
"""

from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from catalog.selectors import dataset_get

from .models import JobImage, SegmentationJob
from .selectors import jobs_visible_to

#: images named per job (the rest are counted)
IMAGES_SHOWN = 5
WHO = ("me", "lab")


def jobs_overview(
    *, user, who: str = "me", statuses: list[str] | None = None, dataset_id=None
) -> QuerySet[SegmentationJob]:
    """Jobs newest first: the user's own (``who="me"``) or every job they can see in their
    labs (``"lab"``), optionally of some statuses or touching one dataset."""
    jobs = jobs_visible_to(user=user)
    if who == "me":
        jobs = jobs.filter(created_by=user)
    if statuses:
        jobs = jobs.filter(status__in=statuses)
    if dataset_id is not None:
        dataset = dataset_get(user=user, dataset_id=dataset_id)
        jobs = jobs.filter(pk__in=JobImage.objects.filter(image__dataset=dataset).values("job_id"))
    n_images = (
        JobImage.objects.filter(job=OuterRef("pk"))
        .order_by()
        .values("job")
        .annotate(n=Count("pk"))
        .values("n")
    )
    shown = Prefetch(
        "job_images",
        queryset=JobImage.objects.select_related("image__dataset").order_by("order")[:IMAGES_SHOWN],
        to_attr="images_shown",
    )
    return (
        jobs.annotate(n_images=Coalesce(Subquery(n_images), 0))
        .order_by("-created")
        .prefetch_related(shown)
    )
