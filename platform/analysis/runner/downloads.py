"""A job's downloads, written by tasks of their own once its maps are shown.

The job's task (``job``) classifies every frame and saves each map (``results.result_save``:
the page shows it from there); it then hands the rest over, so that the process that
classifies (the GPU worker, or ``make run``'s interactive one) is free for the next job, a
re-run after a support-set edit. Each frame's pixel outputs go through storage
(:func:`hand_over`: one ``artefacts.npy_stream`` beside the result's exports, named in its
artefacts as :data:`PENDING`, deleted once its downloads are stored) and a
``workers.tasks.segment.segment_downloads`` message per frame, on the default queue, runs
:func:`segmentation_downloads_run`: the frame's other exports (overlay, OME-Zarr, COCO,
OME-TIFF...), :data:`LAST_EXPORT` last. Whichever finds the job's last map saved
(``maps_saved``) and no frame left pending writes a series' table and ends the job
(succeeded, its webhook event and chip-size check); the job's task sends one more message
without a frame after its last map, for a job whose frames' downloads all ended before it.

Whoever writes a frame's downloads first claims it (:func:`claim`: one atomic update, so two
processes never write the same frame). Where the downloads fall behind the maps (a long series
or batch on a host whose cores the classification already uses), the job's task writes the
oldest waiting frame's downloads itself once its frames' pending outputs exceed
``CHIPLAB_PENDING_DOWNLOADS_BYTES`` (:func:`backlog_bound`), so that they never fill the disk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from types import SimpleNamespace

import numpy as np
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from catalog.services import original_pixels
from common import storage
from common.jobs import FINISHED, enqueue_on_commit
from common.priority import in_background, yield_to_interactive
from common.runner import cancel_check, job_end, job_run
from webhooks.services import event_emit

from .. import artefacts, exports, maps
from ..models import JobStatus, SegmentationJob, SegmentationResult
from .images import native_preview
from .results import LAST_EXPORT, exports_put, grid_document, grid_geometry, series_write

#: a frame's pixel outputs, from its map's save to its downloads: in the result's artefacts
#: (deleted with its image) but not an export (``artefacts.EXPORT_KINDS``: never a link)
PENDING = "downloads.pending.npy"


#: a claim this old is a dead worker's: another may write the frame's downloads (seconds; a
#: 4096² frame's take ~1.5 s)
CLAIM_STALE_SECONDS = 600
#: how often the job's task looks again while every waiting frame is being written
BACKLOG_POLL = 0.05

#: written by the job's task right after the result is listed, with the hand-over: the page
#: reads it only when its Confidence view is chosen (and tries again until it is stored), and
#: at 4096² it took ~0.1 s of the time to the map
VIEW_EXPORTS = ("confidence.png",)


def hand_over(saved: SegmentationResult, pixels: maps.PixelOutputs) -> int:
    """After a frame's map is listed: its :data:`VIEW_EXPORTS`, and in storage
    (:data:`PENDING`) the pixel outputs its downloads need and the result row does not hold.
    Returns the size of the latter in bytes. They are made at background priority
    (``common.priority``): the page fetches and draws the map meanwhile, and its requests go
    first."""
    blobs = in_background(_handed_over, pixels)
    size = len(blobs[PENDING])
    keys = exports_put(saved.job, saved.image, saved.frame, blobs)
    saved.artefacts = {**saved.artefacts, **keys}
    saved.save(update_fields=["artefacts"])
    return size


def _handed_over(pixels: maps.PixelOutputs) -> dict[str, bytes]:
    """What :func:`hand_over` stores: {name: bytes}."""
    return {
        "confidence.png": exports.confidence_png(pixels.confidence),
        PENDING: pending_bytes(pixels),
    }


def pending_bytes(pixels: maps.PixelOutputs) -> bytes:
    """A frame's pixel outputs as :data:`PENDING` holds them (at 4096² px ~80 MB, uncompressed:
    ~0.1 s to local disk); the chip arrays are the result's ``arrays.npz``."""
    arrays = {
        "mask": pixels.mask,
        "confidence": pixels.confidence,
        "particles": np.frombuffer(json.dumps(pixels.particles).encode(), np.uint8),
    }
    if pixels.instances is not None:
        arrays["instances"] = pixels.instances
    if pixels.boxes is not None:
        arrays["boxes"] = pixels.boxes
    return artefacts.npy_stream(**arrays)


def _pending_get(saved: SegmentationResult):
    """(chip result, pixel outputs) of a frame from its ``arrays.npz`` and :func:`hand_over`."""
    chips = artefacts.npz_load(saved.arrays_key)
    with storage.open_(saved.artefacts[PENDING]) as fh:
        a = artefacts.npy_stream_load(fh.read())
    result = SimpleNamespace(
        labels=chips["labels"], probs=chips["probs"], confidence=chips["confidence"]
    )
    pixels = maps.PixelOutputs(
        mask=a["mask"],
        confidence=a["confidence"],
        stats={},
        particles=json.loads(a["particles"].tobytes().decode()),
        instances=a.get("instances"),
        boxes=a.get("boxes"),
    )
    return result, pixels


def handed_over(job: SegmentationJob):
    """The job's results whose downloads are stored or whose pixel outputs wait for them
    (a job's task delivered again does not classify their frames again)."""
    return job.results.filter(Q(artefacts__has_key=LAST_EXPORT) | Q(artefacts__has_key=PENDING))


def pending(job: SegmentationJob):
    """The job's results whose pixel outputs wait for their downloads."""
    return job.results.filter(artefacts__has_key=PENDING)


def _unclaimed() -> Q:
    stale = timezone.now() - timedelta(seconds=CLAIM_STALE_SECONDS)
    return Q(downloads_claimed__isnull=True) | Q(downloads_claimed__lt=stale)


def claim(saved: SegmentationResult) -> bool:
    """Whether this process is to write the pending downloads of ``saved``: one update that a
    single process wins while they wait (a claim :data:`CLAIM_STALE_SECONDS` old is taken
    over: its worker died)."""
    won = SegmentationResult.objects.filter(
        _unclaimed(), pk=saved.pk, artefacts__has_key=PENDING
    ).update(downloads_claimed=timezone.now())
    return bool(won)


def backlog_bound(job: SegmentationJob, frame_bytes: int) -> int:
    """Hold the job's frames waiting for their downloads to ``CHIPLAB_PENDING_DOWNLOADS_BYTES``
    (at least one frame; all are counted at ``frame_bytes``, the last one's size): past it, the
    oldest unclaimed one's downloads are written here, or, while others write them all, this
    waits. Called by the job's task after each hand-over; returns how many it wrote."""
    limit = max(1, settings.CHIPLAB_PENDING_DOWNLOADS_BYTES // max(frame_bytes, 1))
    written = 0
    while pending(job).count() > limit:
        cancel_check(SegmentationJob, job.pk)
        oldest = pending(job).filter(_unclaimed()).select_related("job", "image", "grid")
        saved = oldest.order_by("created").first()
        if saved is not None and claim(saved):
            _write(saved)
            written += 1
        else:  # being written elsewhere
            time.sleep(BACKLOG_POLL)
    return written


def segmentation_downloads_run(*, job_id, result_id=None) -> SegmentationJob | None:
    """Write the downloads of the job's result ``result_id`` if they are pending, then end
    the job (succeeded) if its task has saved every map and no result waits for downloads
    (``common.runner.job_run`` on the running row; the job's task sends one of these per frame,
    and one without a result after its last map). A job that ended meanwhile (cancelled, or
    failed on a later frame) only loses its pending pixel outputs."""
    job = job_run(
        SegmentationJob,
        job_id,
        partial(_write_then_end, result_id=result_id),
        subject=f"downloads of segmentation job {job_id}",
        running=None,
        fields=lambda row: {},
        fail=lambda job, reason, code: downloads_fail(job_id=job.pk, reason=reason),
        cancelled=_discard,
    )
    if job is None:  # refused: gone, or ended meanwhile (cancelled, or failed on a later frame)
        for row in SegmentationJob.objects.filter(pk=job_id, status__in=FINISHED):
            _discard(row)
    return job


def downloads_fail(*, job_id, reason: str) -> None:
    """A job whose downloads could not be written fails (its maps stay listed)."""
    from .job import segmentation_job_fail  # the job's module hands over to this one

    segmentation_job_fail(job_id=job_id, reason=f"The downloads could not be written: {reason}")


def _write_then_end(job: SegmentationJob, *, result_id) -> None:
    if result_id is not None:
        saved = pending(job).select_related("job", "image", "grid").filter(pk=result_id).first()
        if saved is not None:  # else written already (a message sent twice)
            # after any map a user waits for on this host (``common.priority``)
            yield_to_interactive()
            if claim(saved):  # else written by another process (``backlog_bound``)
                _write(saved)
    job.refresh_from_db(fields=["maps_saved", "timings", "started"])
    if job.maps_saved is None or pending(job).exists():
        return  # the job's task, or another frame's downloads, will end it
    cancel_check(SegmentationJob, job.pk)
    for image in {r.image_id: r.image for r in job.results.select_related("image")}.values():
        if image.frames > 1:
            series_write(job, image)
    now = timezone.now()
    timings = {
        **(job.timings or {}),
        # from the last map saved to the last download stored, waits for a worker included
        "downloads": round((now - job.maps_saved).total_seconds(), 4),
        "total": round((now - job.started).total_seconds(), 4),
    }
    job_end(
        SegmentationJob,
        job.pk,
        status=JobStatus.SUCCEEDED,
        timings=timings,
        stage="",
        effects=[
            partial(event_emit, "job.succeeded", job.pk),
            partial(enqueue_on_commit, "workers.tasks.segment.chip_size_check", job.pk),
        ],
    )


def _discard(job: SegmentationJob) -> None:
    """An ended job's pending pixel outputs are deleted (its maps stay)."""
    for saved in pending(job):
        _pending_drop(saved)


def _pending_drop(saved: SegmentationResult, added: dict | None = None) -> None:
    """Delete a result's pending pixel outputs, its artefacts adding ``added`` (name: key)."""
    pending = saved.artefacts[PENDING]
    saved.artefacts = {k: v for k, v in saved.artefacts.items() if k != PENDING} | (added or {})
    saved.downloads_claimed = None
    saved.save(update_fields=["artefacts", "downloads_claimed"])
    storage.delete(pending)


def _write(saved: SegmentationResult) -> None:
    """One frame's downloads from its pending pixel outputs (made at background priority:
    ``common.priority``), added to its artefacts, :data:`LAST_EXPORT` last; the pending
    outputs are then deleted."""
    blobs = in_background(downloads_make, saved)
    last = {LAST_EXPORT: blobs.pop(LAST_EXPORT)}
    image, frame = saved.image, saved.frame
    keys = exports_put(saved.job, image, frame, blobs)
    keys |= exports_put(saved.job, image, frame, last)  # last: its key marks the result finished
    _pending_drop(saved, keys)


def downloads_make(saved: SegmentationResult) -> dict[str, bytes]:
    """Every other export of a result ``results.result_save`` saved, from its pending pixel
    outputs (an overlay, COCO, OME-Zarr... of a 4096^2 map take ~1.5 s): {name: bytes}."""
    result, pixels = _pending_get(saved)
    image, grid, frame, stats = saved.image, saved.grid, saved.frame, saved.stats
    document = exports.result_document(
        labels=result.labels,
        probs=result.probs,
        confidence=result.confidence,
        stats=stats,
        classes=saved.classes,
        grid=grid_document(grid),
        provenance=saved.provenance,
        frame=frame,
    )
    title = f"{image.original_filename}" + (f" (frame {frame})" if image.frames > 1 else "")
    return download_exports(
        pixels,
        saved.classes,
        stats,
        geometry=grid_geometry(grid),
        calibration={"pixel_size": image.pixel_size, "pixel_unit": image.pixel_unit or None},
        title=title,
        file_name=image.original_filename,
        provenance=saved.provenance,
        preview=native_preview(image, frame, lambda: original_pixels(image)),
        document=document,
    )


def download_exports(
    pixels,
    classes,
    stats,
    *,
    geometry: dict,
    calibration: dict,
    title: str,
    file_name: str,
    provenance: dict,
    preview,
    document: dict,
) -> dict:
    """Every other export of a frame's result, :data:`LAST_EXPORT` included: {name: bytes}.
    ``preview``: the grey at the map's size the overlay is drawn on; ``document``: the
    result.json document (``exports.result_document``)."""
    # the large ones (overlay PNG, OME-Zarr, COCO polygons, OME-TIFF: ~0.35 / 0.15 / 0.15 /
    # 0.04 s at 4096²) on two threads beside the small ones: the downloads stage of
    # ``chiplab_bench_segment --stages`` (4096², 32 px) 0.76-0.96 -> 0.58-0.81 s, the same
    # bytes (the OME-TIFF differs from run to run either way)
    makers = {
        "overlay.png": lambda: exports.overlay_png(preview, pixels.mask, classes, **calibration),
        "mask.ome.zarr.zip": lambda: exports.mask_ome_zarr(
            pixels.mask,
            pixels.confidence,
            classes,
            **geometry,
            instances=pixels.instances,
            reference=preview if preview.shape == pixels.mask.shape else None,
            **calibration,
            provenance=provenance,
        ),
        "coco.json": lambda: exports.mask_coco(
            pixels.mask, classes, **geometry, provenance=provenance, file_name=file_name
        ),
        "mask.ome.tif": lambda: exports.mask_ome_tiff(
            pixels.mask, classes, **geometry, **calibration, provenance=provenance
        ),
    }
    with ThreadPoolExecutor(2) as pool:
        # each waits first while a job a user waits for runs on this host (common.priority)
        futures = {name: pool.submit(_after_yield, make) for name, make in makers.items()}
        yield_to_interactive()
        blobs = {
            "counts.csv": exports.counts_csv(stats, classes, provenance=provenance).encode(),
            "chart.svg": exports.chart_svg(stats, classes, title=title).encode(),
            "chart.png": exports.chart_png(stats, classes, title=title),
            LAST_EXPORT: exports.result_json(document),
        }
        blobs |= {name: future.result() for name, future in futures.items()}
    if "objects" in stats:
        table = maps.particles_csv(pixels.particles, provenance=provenance)
        blobs["particles.csv"] = table.encode()
        blobs["histogram.svg"] = exports.histogram_svg(
            stats["objects"], classes, title=title
        ).encode()
        blobs["histogram.png"] = exports.histogram_png(stats["objects"], classes, title=title)
    if "layers" in stats:
        blobs["profile.csv"] = maps.profile_csv(stats["layers"], classes).encode()
    return blobs


def _after_yield(make: Callable[[], bytes]) -> bytes:
    yield_to_interactive()
    return make()
