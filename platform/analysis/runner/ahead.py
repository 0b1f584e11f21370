"""A correction's re-run made ahead of its click.

In a correction session a user adds or changes an example, looks, and clicks Segment again:
the job then fits and classifies the image while the user waits (about 0.3 s of a 0.5 s
click -> map at 4096², on two cores). But the worker knows what that job will ask for as soon
as the click on the chip lands. So once a user's clicks on a grid are committed
(``labeling.services.after_clicks``, registered in ``analysis.apps``) and that user ran a
segmentation job on the grid in the last ``CHIPLAB_SEGMENT_AHEAD_MINUTES``
(``analysis.services.segmentation_ahead_offer``), a ``segment_ahead`` message goes to the gpu
queue, at the broker's last level (``workers.celery_app.AHEAD_RANK``: after every lab's
jobs). Its task
(:func:`segmentation_ahead_run`) takes the user's newest such job as the pattern: its model,
params, first image and grid, and the support set it froze (rule, owner or minimum votes),
derived again from the votes as they stand now (``labeling.services.support_set_content``,
nothing frozen). It fits and classifies that image's first frame as the job's task would
(``_Images.fitted`` and ``.classified``, the same code) and keeps the map and its pixel
outputs in the worker's memory cache under a digest of everything they depend on
(:func:`ahead_key`).

The next job of the user whose support set, model, params and image give the same digest
takes that map for its first frame (:func:`take`, once) instead of classifying it; anything
else (another edit meanwhile, other options, another worker process) classifies as before, so
a job's result never depends on whether a map was made ahead. Its timings say
``made_ahead: 1``. A series' job makes it itself between its frames
(:func:`made_between_frames`), since the message waits behind it. Nothing is made once the
user has segmented on the grid again (that job does the work, or is the pattern of a later
message), while the votes still give the job's own support set (its map is shown already), or
when the cache already holds that map (a burst of clicks: the first message makes the map of
the votes as they stand when it runs, the later ones find it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from types import SimpleNamespace

from django.conf import settings

from common.errors import ChiplabError
from common.priority import interactive
from labeling.models import Vote
from labeling.services import support_set_content
from workers.fewshot.pipeline import Segmentation

from .. import artefacts, maps
from ..models import SegmentationJob
from ..services import support_classes
from .clock import Clock
from .images import _Images, encoder_for, support_chips

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Made:
    """A first frame's map made ahead: the chip result and the pixel outputs."""

    result: Segmentation
    pixels: maps.PixelOutputs

    @property
    def nbytes(self) -> int:  # the memory cache's weight
        arrays = (self.pixels.mask, self.pixels.confidence, self.pixels.instances)
        chips = (self.result.labels, self.result.probs, self.result.confidence)
        return sum(a.nbytes for a in (*arrays, *chips) if a is not None)


def ahead_key(job, job_image, classes: list[dict], by_image: dict) -> str:
    """The memory cache's key of a first frame's map: a digest of what it depends on (the
    model, the params, the class table, the support chips in their order, the image, its
    calibration and the grid)."""
    image = job_image.image
    what = {
        "model": str(job.model_version_id),
        "params": job.params,
        "classes": classes,
        "support": by_image,
        "image": [str(image.pk), image.sha256, image.pixel_size, image.pixel_unit],
        "grid": str(job_image.grid_id),
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode())
    return f"made-ahead:{digest.hexdigest()}"


def take(job, job_image, classes: list[dict], by_image: dict) -> tuple | None:
    """The (result, pixel outputs) of the job's first frame made ahead, or None; taken once
    (the cache lets go of it)."""
    key = ahead_key(job, job_image, classes, by_image)
    made = artefacts.MEMORY_CACHE.get(key)
    if made is None:
        return None
    artefacts.MEMORY_CACHE.discard(key)
    return made.result, made.pixels


def segmentation_ahead_run(*, job_id) -> bool:
    """Make the map the next re-run of job ``job_id`` would make with the votes as they stand
    now, into this worker's memory cache -> whether it made one (see the module)."""
    job = (
        SegmentationJob.objects.select_related("support_set__schema", "model_version")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        return False
    job_image = job.job_images.select_related("image", "grid").order_by("order").first()
    newer = SegmentationJob.objects.filter(
        created_by_id=job.created_by_id,
        job_images__grid_id=job_image.grid_id,
        created__gt=job.created,
    )
    if newer.exists():  # segmented again since: that job does the work, or is the new pattern
        return False
    version = job.support_set
    try:
        content, _ = support_set_content(
            user=job.created_by,
            schema=version.schema,
            rule=version.rule,
            owner=version.params.get("owner"),
            min_votes=int(version.params.get("min_votes", 2)),
            grids=[job_image.grid],
        )
        support = SimpleNamespace(chips=content["chips"], classes=content["classes"])
        classes = support_classes(support)
    except ChiplabError:  # no longer a usable support set (one class left, say): no map
        return False
    if (content["chips"], content["classes"]) == (version.chips, version.classes):
        return False  # nothing changed since the job: its map is the one to make
    by_image = support_chips(support, classes)
    key = ahead_key(job, job_image, classes, by_image)
    if artefacts.MEMORY_CACHE.get(key) is not None:
        return False
    pattern = SimpleNamespace(
        lab_id=job.lab_id,
        model_version=job.model_version,
        model_version_id=job.model_version_id,
        params=job.params,
        support_set=support,
    )
    clock = Clock()
    images = _Images(pattern, encoder_for(pattern, clock), clock)
    image = job_image.image
    with interactive():  # as the job's own map: the downloads on this host wait
        segmenter = images.fitted(by_image)
        embedded = images.embedded(image, upto=1)
        result, pixels = images.classified(
            segmenter, image, embedded, 0, by_image, classes, clock.lapper()
        )
    artefacts.MEMORY_CACHE.put(key, Made(result, pixels))
    log.info(
        "made the map of job %s's re-run ahead in %s (classify: %s)",
        job_id,
        clock.timings,
        result.timings,
    )
    return True


def made_between_frames(job) -> bool:
    """A job between its frames (its first map shown) makes its own re-run's map ahead when
    its user has clicked on its first image's grid since it froze its support set: on a series
    the message for it would wait behind this job on the worker queue -> whether it made one."""
    if not settings.CHIPLAB_SEGMENT_AHEAD_MINUTES:
        return False
    grid_id = job.job_images.order_by("order").values_list("grid_id", flat=True).first()
    clicked = Vote.objects.filter(
        user_id=job.created_by_id, grid_id=grid_id, created__gt=job.created
    )
    try:
        return clicked.exists() and segmentation_ahead_run(job_id=job.pk)
    except Exception:  # a guess at the next job: never this job's failure
        log.exception("making the re-run of segmentation job %s ahead failed", job.pk)
        return False
