"""The chip-size check of a finished job (after it is shown, on the default queue): how far
each result's fractions (frame 0) move at half and double the chip size."""

from __future__ import annotations

import logging
import time

import numpy as np
from django.db.models import Count, Q

from catalog.models import Image
from common.priority import in_background, yield_to_interactive
from workers.fewshot.pipeline import neighbour_fractions
from workers.fewshot.uncertainty import chip_size_sensitivity

from .. import artefacts
from ..models import JobStatus, SegmentationJob, SegmentationResult
from .clock import Clock
from .images import _Images, encoder_for, support_chips
from .results import result_json_update

log = logging.getLogger(__name__)


def chip_size_check_run(*, job_id) -> bool:
    """Record in each result of a finished job (frame 0) how far its fractions move at half
    and double the chip size; False when there is nothing to do (job not succeeded, or done).
    A failure is recorded in the results, never changes the job."""
    job = (
        SegmentationJob.objects.select_related("support_set", "model_version", "lab")
        .filter(pk=job_id, status=JobStatus.SUCCEEDED)
        .first()
    )
    if (
        job is None
        or not job.results.filter(frame=0).exclude(stats__has_key="chip_size_sensitivity").exists()
    ):
        return False
    clock = Clock()
    try:
        _not_superseded(job)
        images = _Images(job, encoder_for(job, clock), clock)
        _chip_size_sensitivity(job, images, support_chips(job.support_set))
    except Superseded as newer:
        _record(job, {"skipped": str(newer), "superseded_by": str(newer.job_id)})
    except Exception as err:  # a diagnostic: never turns a finished job into a failure
        log.exception("chip-size sensitivity of job %s failed", job.pk)
        _record(job, {"error": f"{type(err).__name__}: {err}"})
    return True


def _record(job: SegmentationJob, outcome: dict) -> None:
    """A check that did not measure (an error, or skipped): said in each result (frame 0)."""
    for result in job.results.filter(frame=0):
        result.stats = {**result.stats, "chip_size_sensitivity": outcome}
        result.save(update_fields=["stats"])
        result_json_update(
            result, lambda document, o=outcome: document["stats"].update(chip_size_sensitivity=o)
        )


class Superseded(Exception):
    """A newer job replaced this one before its chip-size check ran (its ``job_id``)."""

    def __init__(self, job_id):
        super().__init__(
            "not run: a newer segmentation of the same images and grids with the same model "
            "replaced this one first"
        )
        self.job_id = job_id


def _not_superseded(job: SegmentationJob) -> None:
    """Raise :class:`Superseded` when the same user has since started a job (not failed or
    cancelled) on the same images and grids with the same model: in a correction session
    (a re-run every second or two) each map is replaced before its check would run, and the
    checks of maps nobody looks at any more (0.6-1 s each at 4096², 32 px) took the
    cores from the downloads and the re-runs. The newest job is checked."""
    pairs = list(job.job_images.values_list("image_id", "grid_id"))
    if not pairs:
        return
    same = Q()
    for image_id, grid_id in pairs:
        same |= Q(job_images__image_id=image_id, job_images__grid_id=grid_id)
    newer = (
        SegmentationJob.objects.filter(
            created_by_id=job.created_by_id,
            model_version_id=job.model_version_id,
            created__gt=job.created,
        )
        .exclude(status__in=(JobStatus.FAILED, JobStatus.CANCELLED))
        .filter(same)
        .annotate(covered=Count("job_images"))
        .filter(covered=len(pairs))
        .order_by("created")
        .values_list("pk", flat=True)
        .first()
    )
    if newer is not None:
        raise Superseded(newer)


def _labels(result: SegmentationResult) -> np.ndarray:
    """A result's label grid (rows, cols) of class indices."""
    return artefacts.npz_load(result.arrays_key)["labels"]


def _chip_size_sensitivity(job: SegmentationJob, images: _Images, support_of: dict) -> None:
    """How much each image's class fractions (frame 0) move at half and double the chip size,
    against the reported interval (``uncertainty.chip_size_sensitivity``); written into the
    results' stats and result.json as ``chip_size_sensitivity``."""
    results = {str(r.image_id): r for r in job.results.filter(frame=0)}
    if not results:
        return
    ids = list(dict.fromkeys([*support_of, *results]))
    by_id = {str(i.pk): i for i in Image.objects.filter(pk__in=ids)}
    targets = [ids.index(i) for i in results]
    labels = [_labels(results[i]) if i in results else None for i in ids]

    def embedded(i: int, size: int):
        # each chip size waits first while a job a user waits for runs on this host: a
        # re-run that replaces this one may have started meanwhile
        yield_to_interactive()
        _not_superseded(job)
        return images.embedded(by_id[ids[i]], size)

    def measure() -> dict:
        return neighbour_fractions(
            [images.frames(by_id[i])[0] for i in ids],
            [support_of.get(i, {}) for i in ids],
            encoder=images.encoder,
            chip_size=images.params["chip_size"],
            offset=tuple(images.params["offset"]),
            options=images.options,
            targets=targets,
            embedder=embedded,
            labels=labels,
        )

    t = time.perf_counter()
    # at background priority: a re-run after a support-set edit may be classifying beside it
    moved = in_background(measure)
    seconds = round(time.perf_counter() - t, 4)
    for n, image_id in enumerate(results):
        result = results[image_id]
        stats = result.stats
        summary = chip_size_sensitivity(
            {images.params["chip_size"]: stats["fractions"], **{s: f[n] for s, f in moved.items()}},
            images.params["chip_size"],
            stats.get("fractions_ci_low", stats["fractions"]),
            stats.get("fractions_ci_high", stats["fractions"]),
        )
        summary["fractions"] = {str(s): f[n] for s, f in moved.items()}
        summary["seconds"] = seconds
        result.stats = {**stats, "chip_size_sensitivity": summary}
        result.save(update_fields=["stats"])
        result_json_update(
            result, lambda document, s=summary: document["stats"].update(chip_size_sensitivity=s)
        )
