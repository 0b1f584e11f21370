"""Running a segmentation job (called by ``workers.tasks.segment``; idempotent).

The job row is the truth: it is locked to move queued -> running, its status is re-read
between frames (a cancel stops the work), results are written to deterministic keys and a
(job, image, frame) already done is skipped when a task is delivered again.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.fair import persistent_url
from catalog.models import Image
from common import storage
from common.jobs import enqueue_on_commit
from webhooks.services import event_emit
from workers.fewshot.boundary import BoundaryConfig, FrameSpectrum, frame_spectrum
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.pipeline import (
    Embedded,
    Segmentation,
    Segmenter,
    SegmentOptions,
    embed,
    embed_frames,
    neighbour_fractions,
    normalised_frames,
)
from workers.fewshot.pixels import PixelFeatures
from workers.fewshot.uncertainty import chip_size_sensitivity

from . import artefacts, exports, maps
from .models import JobStatus, SegmentationJob, SegmentationResult
from .services import support_classes

log = logging.getLogger(__name__)


def options_from_params(params: dict) -> SegmentOptions:
    """The core's options for a job's params; a job from before boundary refinement, group
    weighting or the pixel vote (no "boundary" / "weighting" / "pixel_vote" param) re-runs
    without them, as it first ran (new jobs record all three)."""
    return SegmentOptions(
        temperature=params.get("temperature", "encoder"),
        refine=bool(params.get("refine", False)),
        smooth=float(params.get("smooth", 0.0)),
        bootstrap=int(params.get("bootstrap", 200)),
        seed=int(params.get("seed", 0)),
        boundary=BoundaryConfig() if params.get("boundary", False) else None,
        weighting="loo" if params.get("weighting", False) else None,
        pixel_vote=bool(params.get("pixel_vote", False)),
    )


class JobCancelled(Exception):
    """The job was cancelled while running."""


@dataclass
class _Clock:
    timings: dict[str, float] = field(default_factory=dict)
    cache: dict[str, int] = field(default_factory=lambda: {"memory": 0, "storage": 0, "miss": 0})

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - since
        return now

    def lapper(self):
        """``lap(stage)``: adds the time since the previous lap (or since now) to ``stage``."""
        last = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal last
            last = self.add(stage, last)

        return lap


def _start(job_id) -> SegmentationJob | None:
    with transaction.atomic():
        job = SegmentationJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return None  # gone, cancelled or already finished: nothing to do
        job.status = JobStatus.RUNNING
        job.started = job.started or timezone.now()
        job.save(update_fields=["status", "started"])
    return SegmentationJob.objects.select_related(
        "support_set", "support_set__schema", "model_version", "lab"
    ).get(pk=job.pk)


def _check_cancelled(job: SegmentationJob) -> None:
    if SegmentationJob.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists():
        raise JobCancelled


def segmentation_job_run(*, job_id) -> SegmentationJob | None:
    """Embed (or fetch cached embeddings), classify every frame, store results and exports."""
    job = _start(job_id)
    if job is None:
        return None
    clock = _Clock()
    total_start = time.perf_counter()
    try:
        _run(job, clock)
    except JobCancelled:
        log.info("segmentation job %s cancelled", job.pk)
        _finish(job, clock, total_start, status=None)
        return job
    except Exception as err:
        from workers.tasks.base import TRANSIENT_ERRORS, failure_reason

        if isinstance(err, TRANSIENT_ERRORS):
            raise  # the task retries; the job stays running and resumes where it stopped
        log.exception("segmentation job %s failed", job.pk)
        _finish(job, clock, total_start, status=JobStatus.FAILED, error=failure_reason(err))
        return job
    _finish(job, clock, total_start, status=JobStatus.SUCCEEDED)
    # after the result is shown, on the default queue: the GPU queue moves on to the next job
    enqueue_on_commit("workers.tasks.segment.chip_size_check", job.pk)
    return job


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
    clock = _Clock()
    try:
        images = _Images(job, _encoder(job, clock), clock)
        _chip_size_sensitivity(job, images, _support_chips(job.support_set))
    except Exception as err:  # a diagnostic: never turns a finished job into a failure
        log.exception("chip-size sensitivity of job %s failed", job.pk)
        for result in job.results.filter(frame=0):
            error = {"error": f"{type(err).__name__}: {err}"}
            result.stats = {**result.stats, "chip_size_sensitivity": error}
            result.save(update_fields=["stats"])
    return True


def _labels(result: SegmentationResult) -> np.ndarray:
    """A result's label grid (rows, cols) of class indices."""
    return artefacts.npz_load(result.arrays_key)["labels"]


def _chip_size_sensitivity(job: SegmentationJob, images: _Images, support_of: dict) -> None:
    """How much each image's class fractions (frame 0) move at half and double the chip size,
    against the reported interval (``uncertainty.chip_size_sensitivity``); written into the
    results' stats and result.json as ``chip_size_sensitivity``."""
    import json

    results = {str(r.image_id): r for r in job.results.filter(frame=0)}
    if not results:
        return
    ids = list(dict.fromkeys([*support_of, *results]))
    by_id = {str(i.pk): i for i in Image.objects.filter(pk__in=ids)}
    frames = [images.frames(by_id[i])[0] for i in ids]
    targets = [ids.index(i) for i in results]
    t = time.perf_counter()
    moved = neighbour_fractions(
        frames,
        [support_of.get(i, {}) for i in ids],
        encoder=images.encoder,
        chip_size=images.params["chip_size"],
        offset=tuple(images.params["offset"]),
        options=images.options,
        targets=targets,
        embedder=lambda i, size: images.embedded(by_id[ids[i]], size),
        labels=[_labels(results[i]) if i in results else None for i in ids],
    )
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
        key = result.artefacts.get("result.json")
        if key:
            with storage.open_(key) as fh:
                document = json.loads(fh.read())
            document["stats"]["chip_size_sensitivity"] = summary
            storage.put_bytes(key, exports.result_json(document))


def embeddings_prefetch(*, grid_id) -> bool:
    """Embed a grid's image (every frame) with the model a job of its lab would use by default,
    into the embeddings cache and this worker's frame cache; False when there is nothing to do
    (grid gone, no model, already cached)."""
    from labeling.models import Grid
    from registry.selectors import lab_champion, public_champion
    from registry.services import encoder_load
    from workers.fewshot.encoders import resolve_device

    grid = Grid.objects.select_related("image__dataset").filter(pk=grid_id).first()
    if grid is None:
        return False
    image = grid.image
    model = lab_champion(lab_id=image.dataset.lab_id) or public_champion()
    if model is None:
        return False
    key = artefacts.embeddings_key(
        lab_id=image.dataset.lab_id,
        model_version_id=model.pk,
        sha256=image.sha256,
        chip_size=grid.chip_size,
        offset=(grid.offset_y, grid.offset_x),
    )
    if storage.exists(key):
        return False
    from catalog import formats
    from catalog.services import original_path

    with original_path(image) as path:
        data = formats.read(path, fmt=image.format).data
    frames = normalised_frames(data)
    artefacts.MEMORY_CACHE.put(f"frames:{image.sha256}", frames)
    out = embed_frames(
        frames,
        encoder=encoder_load(model_version=model, device=resolve_device("auto")),
        chip_size=grid.chip_size,
        offset=(grid.offset_y, grid.offset_x),
        seed=0,  # the cache key has no seed: the encoders embed deterministically
    )
    artefacts.embeddings_put(key, out.embeddings)
    return True


def warm_up() -> None:
    """Pay one-time costs (torch kernels, FFT plans, fonts, codecs) when a worker starts, not
    inside the first job: "change the support set and re-run" must feel instant."""
    from workers.fewshot.encoders import build_encoder

    rng = np.random.default_rng(0)
    torch.nn.functional.conv2d(torch.zeros(1, 1, 8, 8), torch.zeros(2, 1, 3, 3))
    encoder = build_encoder("fourier")
    image = embed(rng.random((64, 64)).astype(np.float32), encoder=encoder, chip_size=32)
    frame = Segmenter.fit(
        [image], [{0: [(0, 0)], 1: [(1, 1)]}], encoder=encoder, options=SegmentOptions(bootstrap=2)
    ).classify(image.embeddings[0], grid=image.grid, pixels=image.frames[0])
    classes = [
        {"index": 0, "name": "a", "colour": "#ff0000"},
        {"index": 1, "name": "b", "colour": "#0000ff", "kind": "objects"},
    ]
    pixels = maps.pixel_outputs(
        image.frames[0],
        frame,
        classes,
        frequencies=None,
        support=None,
        spectrum=None,
        intensity=image.frames[0],
        pixel_size=None,
        pixel_unit=None,
    )
    geometry = {"chip_size": 32, "offset": (0, 0)}
    exports.chart_png(frame.stats, classes)
    exports.mask_ome_tiff(pixels.mask, classes, **geometry)
    exports.mask_png(pixels.mask, classes, **geometry)
    exports.overlay_png(np.zeros((64, 64), np.uint8), pixels.mask, classes)
    artefacts.npz_bytes(x=frame.probs)


def segmentation_job_fail(*, job_id, reason: str) -> None:
    """Record a failure the task could not recover from (retries exhausted, time limit)."""
    changed = SegmentationJob.objects.filter(
        pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(status=JobStatus.FAILED, error=reason[:2000], finished=timezone.now())
    if changed:
        event_emit("job.failed", job_id)


def _finish(job, clock: _Clock, total_start: float, *, status, error: str = "") -> None:
    timings = {k: round(v, 4) for k, v in clock.timings.items()}
    timings["queue_wait"] = round((job.started - job.created).total_seconds(), 4)
    timings["total"] = round(time.perf_counter() - total_start, 4)
    timings["embeddings_cache"] = clock.cache
    fields = {"timings": timings, "finished": timezone.now(), "stage": ""}
    if status is not None:
        fields.update(status=status, error=error[:2000])
    # never overwrite a cancel that arrived meanwhile
    changed = (
        SegmentationJob.objects.filter(pk=job.pk)
        .exclude(status__in=[JobStatus.CANCELLED, JobStatus.SUCCEEDED, JobStatus.FAILED])
        .update(**fields)
    )
    if status is None:
        SegmentationJob.objects.filter(pk=job.pk).update(timings=timings)
    job.refresh_from_db()
    if status is not None and changed:
        event_emit("job.succeeded" if status == JobStatus.SUCCEEDED else "job.failed", job.pk)


def _encoder(job: SegmentationJob, clock: _Clock):
    from registry.services import encoder_load
    from workers.fewshot.encoders import resolve_device

    t = time.perf_counter()
    encoder = encoder_load(model_version=job.model_version, device=resolve_device("auto"))
    clock.add("load", t)
    return encoder


class _Recent(OrderedDict):
    """A dict keeping the ``CHIPLAB_JOB_IMAGE_CACHE`` most recently used entries."""

    def __getitem__(self, key):
        self.move_to_end(key)
        return super().__getitem__(key)

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > settings.CHIPLAB_JOB_IMAGE_CACHE:
            self.popitem(last=False)


class _Images:
    """Embeddings (T, rows, cols, D) of each image, once per job, through the cache."""

    def __init__(self, job: SegmentationJob, encoder, clock: _Clock) -> None:
        self.job, self.encoder, self.clock = job, encoder, clock
        self.params = job.params
        self.options = options_from_params(job.params)
        # bounded (CHIPLAB_JOB_IMAGE_CACHE images): a job of 1,000 images holds a few at once
        self._embedded: dict[str, Embedded] = _Recent()
        self._data: dict[str, np.ndarray] = _Recent()

    def data(self, image: Image) -> np.ndarray:
        """Decoded pixels (H, W) or (T, H, W) of the original (read once)."""
        key = str(image.pk)
        if key not in self._data:
            from catalog import formats
            from catalog.services import original_path

            t = time.perf_counter()
            with original_path(image) as path:
                self._data[key] = formats.read(path, fmt=image.format).data
            self.clock.add("load", t)
        return self._data[key]

    def intensity(self, image: Image, frame: int) -> np.ndarray:
        """One frame of the original as float32 (H, W), in the file's units."""
        data = self.data(image)
        return (data if data.ndim == 2 else data[frame]).astype(np.float32)

    def frames(self, image: Image) -> np.ndarray:
        """Normalised pixels (T, H, W), as the encoder saw them (for boundary refinement);
        kept in the worker's memory cache like embeddings, so an edited support set's re-run
        neither reads nor normalises the original again."""
        key = f"frames:{image.sha256}"
        frames = artefacts.MEMORY_CACHE.get(key)
        if frames is None:
            frames = normalised_frames(self.data(image))
            artefacts.MEMORY_CACHE.put(key, frames)
        return frames

    def embedded(self, image: Image, chip_size: int | None = None) -> Embedded:
        """The image embedded on the job's grid, or on a grid of another ``chip_size`` (frame 0
        only: the chip-size check), through the embeddings cache; its frames are kept only for
        boundary refinement."""
        size = chip_size or self.params["chip_size"]
        key = f"{image.pk}:{size}"
        if key in self._embedded:
            return self._embedded[key]
        offset = tuple(self.params["offset"])
        # a series at another chip size embeds frame 0 only: not cached under the key that
        # a job at that chip size reads (it needs every frame)
        cached = size == self.params["chip_size"] or image.frames == 1
        cache_key = artefacts.embeddings_key(
            lab_id=self.job.lab_id,
            model_version_id=self.job.model_version_id,
            sha256=image.sha256,
            chip_size=size,
            offset=offset,
        )
        t = time.perf_counter()
        emb, source = artefacts.embeddings_get(cache_key) if cached else (None, "miss")
        self.clock.cache[source] += 1
        if emb is None:
            frames = self.frames(image)
            t = time.perf_counter()
            frames = frames if size == self.params["chip_size"] else frames[:1]
            emb = embed_frames(
                frames, encoder=self.encoder, chip_size=size, offset=offset, seed=self.options.seed
            ).embeddings
            t = self.clock.add("embed", t)
            if cached:
                artefacts.embeddings_put(cache_key, emb)
            self.clock.add("save", t)
        else:
            self.clock.add("load", t)
        opts = self.options
        frames = self.frames(image) if opts.boundary is not None or opts.pixel_vote else None
        grid = ChipGrid.for_shape((image.height, image.width), size, offset)
        self._embedded[key] = Embedded(frames, grid, emb)
        return self._embedded[key]

    def spectrum(self, image: Image, frame: int, grid: ChipGrid) -> FrameSpectrum:
        """The support-independent part of the boundary features of one frame on the job's
        grid, kept in the worker's memory cache: a re-run after a support-set edit skips the
        whole-frame FFT."""
        key = f"spectrum:{image.sha256}:{grid.chip_size}:{grid.offset[0]}:{grid.offset[1]}:{frame}"
        cached = artefacts.MEMORY_CACHE.get(key)
        if cached is None:
            cached = frame_spectrum(self.frames(image)[frame], grid)
            artefacts.MEMORY_CACHE.put(key, cached)
        return cached

    def pixel_features(self, image: Image, frame: int, grid: ChipGrid) -> PixelFeatures | None:
        """The support-independent boundary and pixel features of one frame on the job's grid
        (None without boundary refinement and pixel vote), kept in the worker's memory cache
        like the spectrum: a re-run after a support-set edit only classifies (at 4096^2 px
        the features were most of the pixel map's time)."""
        if self.options.boundary is None and not self.options.pixel_vote:
            return None
        key = f"pixels:{image.sha256}:{grid.chip_size}:{grid.offset[0]}:{grid.offset[1]}:{frame}"
        cached = artefacts.MEMORY_CACHE.get(key)
        if cached is None:  # filled by the classification: weighed by the cache's next put
            cached = PixelFeatures(grid)
            artefacts.MEMORY_CACHE.put(key, cached)
        return cached

    def preview(self, image: Image, frame: int) -> np.ndarray:
        """The grey preview the overlay is drawn on (frame 0: the stored one)."""
        if frame == 0 and image.preview_key:
            from PIL import Image as PILImage

            key = f"preview:{image.preview_key}"
            cached = artefacts.MEMORY_CACHE.get(key)
            if cached is None:
                with storage.open_(image.preview_key) as fh, PILImage.open(fh) as img:
                    cached = np.asarray(img.convert("L"))
                artefacts.MEMORY_CACHE.put(key, cached)
            return cached
        from catalog import formats

        return formats.preview(self.data(image), index=frame)


def _support_chips(version) -> dict[str, dict[int, list[tuple[int, int]]]]:
    """A support set's chips per image they were picked on (frame 0): {image id: {class
    index: [(row, col)]}}."""
    index_of = {c["id"]: c["index"] for c in support_classes(version)}
    by_image: dict[str, dict[int, list[tuple[int, int]]]] = {}
    for chip in version.chips:
        positions = by_image.setdefault(str(chip["image"]), {})
        positions.setdefault(index_of[str(chip["class"])], []).append(
            (int(chip["row"]), int(chip["col"]))
        )
    return by_image


def _stage(job: SegmentationJob, text: str) -> None:
    """Say what the worker is doing now (shown with the progress while the job runs)."""
    SegmentationJob.objects.filter(pk=job.pk).update(stage=text[:80])


def _run(job: SegmentationJob, clock: _Clock) -> None:
    """Classify every frame of the job's images, saving each result."""
    version = job.support_set
    classes = support_classes(version)
    _stage(job, "Loading the model")
    encoder = _encoder(job, clock)
    images = _Images(job, encoder, clock)
    by_image = _support_chips(version)
    support_ids, support_images, support = [], [], []
    _stage(job, "Embedding the support set's images")
    for image in Image.objects.filter(pk__in=list(by_image)):
        support_ids.append(str(image.pk))
        support_images.append(images.embedded(image))
        support.append(by_image[str(image.pk)])
        _check_cancelled(job)
    _stage(job, "Fitting the class prototypes")
    t = time.perf_counter()
    segmenter = Segmenter.fit(
        support_images,
        support,
        encoder=encoder,
        options=images.options,
    )
    for item in segmenter.support_check["disagree"]:  # examples are named by image id
        item["image"] = support_ids[item["image"]]
    clock.add("classify", t)

    has_objects = any(c.get("kind") == "objects" for c in classes)
    done = {(str(i), f) for i, f in job.results.values_list("image_id", "frame")}
    job_images = list(job.job_images.select_related("image", "grid").order_by("order"))
    for n, job_image in enumerate(job_images, start=1):
        image, grid = job_image.image, job_image.grid
        where = f" (image {n} of {len(job_images)})" if len(job_images) > 1 else ""
        _stage(job, f"Embedding the chips{where}")
        embedded = images.embedded(image)
        n_frames = embedded.embeddings.shape[0]
        for frame in range(n_frames):
            _check_cancelled(job)
            if (str(image.pk), frame) in done:
                continue
            at = f" (frame {frame + 1} of {n_frames})" if n_frames > 1 else where
            _stage(job, f"Classifying the chips and the pixels{at}")
            result, pixels = classify_frame(
                segmenter,
                embedded,
                frame,
                timed=clock.lapper(),  # first: the frame and spectrum fetches count as classify
                frame_pixels=images.frames(image)[frame],
                classes=classes,
                support=by_image.get(str(image.pk)) if frame == 0 else None,
                spectrum=images.spectrum(image, frame, embedded.grid),
                pixel_features=images.pixel_features(image, frame, embedded.grid),
                # the original's values, for the particles' mean intensity: read only when
                # a class is counted as objects (re-runs otherwise work from cached frames)
                intensity=images.intensity(image, frame) if has_objects else None,
                pixel_size=image.pixel_size,
                pixel_unit=image.pixel_unit or None,
            )
            _stage(job, f"Saving the maps and exports{at}")
            _save(job, image, grid, frame, result, pixels, classes, images, clock)
            SegmentationJob.objects.filter(pk=job.pk).update(
                progress_done=F("progress_done") + grid.rows * grid.cols
            )
        if embedded.embeddings.shape[0] > 1:
            _write_series(job, image)


def classify_frame(
    segmenter: Segmenter,
    embedded: Embedded,
    frame: int,
    *,
    frame_pixels: np.ndarray,
    classes: list[dict],
    support: dict | None,
    spectrum: FrameSpectrum | None,
    intensity: np.ndarray | None,
    pixel_size: float | None,
    pixel_unit: str | None,
    timed=lambda stage: None,
    pixel_features: PixelFeatures | None = None,
) -> tuple[Segmentation, maps.PixelOutputs]:
    """One frame's chip segmentation and its pixel outputs (map, statistics, particles): what
    a job stores for each frame, and what a re-derivation (``analysis.rederive``) recomputes.
    ``frame_pixels``: the normalised frame; ``support``: the chips clicked on this frame
    ({class index: [(row, col)]}, frame 0 only); ``timed(stage)`` is called after the
    "classify" and the "pixels" stage; ``spectrum`` and ``pixel_features`` (support-independent,
    cached by a worker) only save time: the result is the same without them."""
    result = segmenter.classify(
        embedded.embeddings[frame],
        grid=embedded.grid,
        pixels=None if embedded.frames is None else embedded.frames[frame],
        spectrum=spectrum,
        pixel_features=pixel_features,
        pixel_size=pixel_size,
        pixel_unit=pixel_unit,
        support=support,
    )
    timed("classify")
    pixels = maps.pixel_outputs(
        frame_pixels,
        result,
        classes,
        frequencies=segmenter.frequencies,
        support=support,
        spectrum=spectrum,
        intensity=intensity,
        pixel_size=pixel_size,
        pixel_unit=pixel_unit,
        seed=segmenter.options.seed,
    )
    timed("pixels")
    return result, pixels


def provenance(job: SegmentationJob, image: Image, frame: int, *, temperature: float) -> dict:
    version, model = job.support_set, job.model_version
    return {
        "job": str(job.pk),
        "rerun_of": str(job.rerun_of_id) if job.rerun_of_id else None,
        "image": {
            "id": str(image.pk),
            "sha256": image.sha256,
            "filename": image.original_filename,
            "width": image.width,
            "height": image.height,
            "frames": image.frames,
            "pixel_size": image.pixel_size,
            "pixel_unit": image.pixel_unit,
        },
        "frame": frame,
        "dataset": {
            "id": str(image.dataset_id),
            "persistent_url": persistent_url(image.dataset),
            "licence": image.dataset.licence,
        },
        "support_set": {
            "id": str(version.pk),
            "number": version.number,
            "schema": str(version.schema_id),
            "rule": version.rule,
            "params": version.params,
            "n_chips": len(version.chips),
            "chip_size": version.chip_size,
            "offset": [version.offset_y, version.offset_x],
        },
        "model_version": {
            "id": str(model.pk),
            "name": model.name,
            "version": model.version,
            "run_id": model.mlflow_run_id,
            "encoder_kind": model.encoder_kind,
            "weights_sha256": model.weights_sha256,
        },
        "params": job.params,
        "temperature": temperature,
        "code_version": job.code_version,
        "created_by": str(job.created_by_id),
        "started": job.started.isoformat() if job.started else None,
    }


def _save(
    job,
    image: Image,
    grid,
    frame: int,
    result: Segmentation,
    pixels: maps.PixelOutputs,
    classes: list[dict],
    images: _Images,
    clock: _Clock,
) -> SegmentationResult:
    t = time.perf_counter()
    prefix = artefacts.result_prefix(
        lab_id=job.lab_id, job_id=job.pk, image_id=image.pk, frame=frame
    )
    stats = {**result.stats, **pixels.stats}
    geometry = {"chip_size": grid.chip_size, "offset": (grid.offset_y, grid.offset_x)}
    prov = provenance(job, image, frame, temperature=stats.get("temperature"))
    grid_doc = {
        "id": str(grid.pk),
        "chip_size": grid.chip_size,
        "offset": [grid.offset_y, grid.offset_x],
        "rows": grid.rows,
        "cols": grid.cols,
        "margins": grid.margins,
    }
    document = exports.result_document(
        labels=result.labels,
        probs=result.probs,
        confidence=result.confidence,
        stats=stats,
        classes=classes,
        grid=grid_doc,
        provenance=prov,
        frame=frame,
    )
    title = f"{image.original_filename}" + (f" (frame {frame})" if image.frames > 1 else "")
    preview = images.preview(image, frame)
    blobs = {
        "overlay.png": exports.overlay_png(
            preview,
            pixels.mask,
            classes,
            pixel_size=image.pixel_size,
            pixel_unit=image.pixel_unit or None,
        ),
        "mask.png": exports.mask_png(pixels.mask, classes, **geometry, provenance=prov),
        "confidence.png": exports.confidence_png(pixels.confidence),
        "mask.ome.tif": exports.mask_ome_tiff(
            pixels.mask,
            classes,
            **geometry,
            pixel_size=image.pixel_size,
            pixel_unit=image.pixel_unit or None,
            provenance=prov,
        ),
        "counts.csv": exports.counts_csv(stats, classes, provenance=prov).encode(),
        "coco.json": exports.mask_coco(
            pixels.mask, classes, **geometry, provenance=prov, file_name=image.original_filename
        ),
        "result.json": exports.result_json(document),
        "chart.svg": exports.chart_svg(stats, classes, title=title).encode(),
        "chart.png": exports.chart_png(stats, classes, title=title),
    }
    blobs["mask.ome.zarr.zip"] = exports.mask_ome_zarr(
        pixels.mask,
        pixels.confidence,
        classes,
        **geometry,
        instances=pixels.instances,
        reference=preview if preview.shape == pixels.mask.shape else None,
        pixel_size=image.pixel_size,
        pixel_unit=image.pixel_unit or None,
        provenance=prov,
    )
    if "objects" in stats:
        blobs["particles.csv"] = maps.particles_csv(pixels.particles, provenance=prov).encode()
        blobs["particles.json"] = maps.particles_json(pixels.particles, pixels.boxes)
        blobs["instances.png"] = exports.instances_png(pixels.instances)
    if "layers" in stats:
        blobs["profile.csv"] = maps.profile_csv(stats["layers"], classes).encode()
    t = clock.add("exports", t)
    arrays = artefacts.npz_bytes(
        labels=result.labels.astype(np.int16), probs=result.probs, confidence=result.confidence
    )
    keys = artefacts.put_many(
        {
            f"{prefix}/arrays.npz": arrays,
            **{f"{prefix}/{kind}": data for kind, data in blobs.items()},
        }
    )
    arrays_key = keys.pop(f"{prefix}/arrays.npz")
    keys = {kind: keys[f"{prefix}/{kind}"] for kind in blobs}
    obj, _created = SegmentationResult.objects.update_or_create(
        job=job,
        image=image,
        frame=frame,
        defaults={
            "grid": grid,
            "rows": grid.rows,
            "cols": grid.cols,
            "arrays_key": arrays_key,
            "classes": classes,
            "counts": stats["counts"],
            "fractions": stats["fractions"],
            "fraction_std": stats.get("fractions_std", []),
            "areas": stats.get("areas"),
            "area_unit": stats.get("area_unit", ""),
            "mean_confidence": stats.get("mean_confidence", 0.0),
            "stats": stats,
            "artefacts": keys,
            "provenance": prov,
        },
    )
    clock.add("save", t)
    return obj


def _write_series(job: SegmentationJob, image: Image) -> None:
    """Add the per-frame fractions of a series to each frame's stats and result.json, and
    write the whole series' table (series.csv, shared by the frames' results)."""
    import json

    results = list(job.results.filter(image=image).order_by("frame"))
    series = [
        {
            "frame": r.frame,
            "fractions": r.fractions,
            "fraction_std": r.fraction_std,
            **(
                {"objects": {n: o["n_total"] for n, o in r.stats["objects"].items()}}
                if r.stats.get("objects")
                else {}
            ),
        }
        for r in results
    ]
    table = exports.series_csv(
        [(r.frame, r.stats) for r in results],
        results[0].classes,
        provenance=results[0].provenance,
    )
    prefix = artefacts.result_prefix(lab_id=job.lab_id, job_id=job.pk, image_id=image.pk, frame=0)
    table_key = storage.put_bytes(f"{prefix.rsplit('/', 1)[0]}/series.csv", table.encode())
    for r in results:
        r.stats = {**r.stats, "series": series}
        r.artefacts = {**r.artefacts, "series.csv": table_key}
        r.save(update_fields=["stats", "artefacts"])
        key = r.artefacts.get("result.json")
        if key:
            with storage.open_(key) as fh:
                document = json.loads(fh.read())
            document["series"] = series
            storage.put_bytes(key, exports.result_json(document))
