"""A job's images as the worker needs them: the decoded original, its normalised frames,
embeddings through the cache, per-frame features and the preview, each read once per job
(bounded) or kept in the worker's memory cache; the model and the support chips."""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from django.conf import settings
from PIL import Image as PILImage

from catalog import formats
from catalog.models import Image
from catalog.services import original_pixels
from common import storage
from registry.services import encoder_load
from workers.fewshot.boundary import FrameSpectrum, frame_spectrum
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.encoders import resolve_device
from workers.fewshot.pipeline import Embedded, embed_frames, normalised_frames
from workers.fewshot.pipeline.offgrid import OffGrid
from workers.fewshot.pixels import PixelFeatures

from .. import artefacts, maps
from ..models import SegmentationJob
from ..services import support_classes
from .clock import Clock
from .frames import frame_intensity, options_from_params


def encoder_for(job: SegmentationJob, clock: Clock):
    """The job's model version loaded (counted as "load")."""
    t = time.perf_counter()
    encoder = encoder_load(model_version=job.model_version, device=resolve_device("auto"))
    clock.add("load", t)
    return encoder


def support_chips(version, classes: list[dict] | None = None) -> dict:
    """A support set's chips per image they were picked on (frame 0): {image id: {class
    index: [(row, col)]}}; ``version`` has ``chips`` (and the fields ``support_classes``
    reads when ``classes`` is not given)."""
    index_of = {c["id"]: c["index"] for c in (classes or support_classes(version))}
    by_image: dict[str, dict[int, list[tuple[int, int]]]] = {}
    for chip in version.chips:
        positions = by_image.setdefault(str(chip["image"]), {})
        positions.setdefault(index_of[str(chip["class"])], []).append(
            (int(chip["row"]), int(chip["col"]))
        )
    return by_image


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


def _memoised(key: str, make):
    """``make()``, kept in the worker's memory cache under ``key``."""
    cached = artefacts.MEMORY_CACHE.get(key)
    if cached is None:
        cached = make()
        artefacts.MEMORY_CACHE.put(key, cached)
    return cached


def first_frames_key(cache_key: str) -> str:
    """Where the worker's memory cache holds a series' leading frames embedded so far (frame 0
    first: by a job's ``embedded(first_only=True)`` or a grid's prefetch that gave way to a
    job) until every frame is and the series goes to the embeddings cache (``cache_key``)."""
    return f"first-frames:{cache_key}"


def cached_spectrum(sha256: str, frame: int, grid: ChipGrid, pixels) -> FrameSpectrum:
    """A frame's ``boundary.frame_spectrum`` on ``grid`` through the worker's memory cache
    (``pixels()``: the normalised frame, read only when it is not cached)."""
    key = f"spectrum:{sha256}:{grid.chip_size}:{grid.offset[0]}:{grid.offset[1]}:{frame}"
    return _memoised(key, lambda: frame_spectrum(pixels(), grid))


def cached_pixel_features(sha256: str, frame: int, grid: ChipGrid) -> PixelFeatures:
    """A frame's ``PixelFeatures`` on ``grid`` in the worker's memory cache (filled as they
    are used: weighed by the cache's next put)."""
    key = f"pixels:{sha256}:{grid.chip_size}:{grid.offset[0]}:{grid.offset[1]}:{frame}"
    return _memoised(key, lambda: PixelFeatures(grid))


class _Images:
    """Embeddings (T, rows, cols, D) of each image, once per job, through the cache."""

    def __init__(self, job: SegmentationJob, encoder, clock: Clock) -> None:
        self.job, self.encoder, self.clock = job, encoder, clock
        self.params = job.params
        self.options = options_from_params(job.params, support_classes(job.support_set))
        # bounded (CHIPLAB_JOB_IMAGE_CACHE images): a job of 1,000 images holds a few at once
        self._embedded: dict[str, Embedded] = _Recent()
        self._data: dict[str, np.ndarray] = _Recent()

    def data(self, image: Image) -> np.ndarray:
        """Decoded pixels (H, W) or (T, H, W) of the original (read once)."""
        key = str(image.pk)
        if key not in self._data:
            t = time.perf_counter()
            self._data[key] = original_pixels(image)
            self.clock.add("load", t)
        return self._data[key]

    def intensity(self, image: Image, frame: int) -> np.ndarray:
        """One frame of the original as float32 (H, W), in the file's units."""
        return frame_intensity(self.data(image), frame)

    def frames(self, image: Image) -> np.ndarray:
        """Normalised pixels (T, H, W), as the encoder saw them (for boundary refinement);
        kept in the worker's memory cache like embeddings, so an edited support set's re-run
        neither reads nor normalises the original again."""
        return _memoised(f"frames:{image.sha256}", lambda: normalised_frames(self.data(image)))

    def embedded(
        self, image: Image, chip_size: int | None = None, *, first_only: bool = False
    ) -> Embedded:
        """The image embedded on the job's grid, or on a grid of another ``chip_size`` (frame 0
        only: the chip-size check), through the embeddings cache; its frames are kept only for
        the steps that read pixels (boundary refinement, the pixel vote, the shifted examples).

        ``first_only``: frame 0 is enough (the support set's chips are on it; a series' first
        map): a series not in the cache has frame 0 embedded alone (more frames when they are
        at hand), and the other frames when the whole series is asked for (its first map then
        waits for one frame, not all)."""
        size = chip_size or self.params["chip_size"]
        key = f"{image.pk}:{size}"
        if key in self._embedded:
            return self._embedded[key]
        offset = tuple(self.params["offset"])
        cache_key = artefacts.embeddings_key(
            lab_id=self.job.lab_id,
            model_version_id=self.job.model_version_id,
            sha256=image.sha256,
            chip_size=size,
            offset=offset,
        )
        emb, partial = self._embeddings(image, size, offset, cache_key, first_only)
        opts = self.options
        pixels = opts.boundary is not None or opts.pixel_vote or opts.support_shifts
        frames = self.frames(image) if pixels else None
        grid = ChipGrid.for_shape((image.height, image.width), size, offset)
        # the shifted examples' embeddings, kept in the worker's memory cache beside the grid's:
        # a re-run after a support-set edit embeds only the new examples' copies
        off_grid = _memoised(f"off-grid:{cache_key}", OffGrid)
        embedded = Embedded(frames, grid, emb, off_grid)
        if not partial:
            self._embedded[key] = embedded
        return embedded

    def _embeddings(
        self, image: Image, size: int, offset: tuple, cache_key: str, first_only: bool
    ) -> tuple[np.ndarray, bool]:
        """The embeddings at ``size``: from the cache (``cache_key``), or embedded now (and
        cached once every frame is); frame 0 alone with ``first_only`` or at another size.
        Also whether they are a series' frame 0 that the job's grid needs the rest of."""
        # a series at another chip size embeds frame 0 only: not cached under the key that
        # a job at that chip size reads (it needs every frame)
        cached = size == self.params["chip_size"] or image.frames == 1
        t = time.perf_counter()
        emb, source = artefacts.embeddings_get(cache_key) if cached else (None, "miss")
        self.clock.cache[source] += 1
        if emb is not None:
            self.clock.add("load", t)
            return emb, False
        frames = self.frames(image)
        # a series' leading frames embedded earlier (by this job or a prefetch that gave way)
        first = artefacts.MEMORY_CACHE.get(first_frames_key(cache_key))
        if first_only and first is not None:
            return first, True
        done = 0 if first is None else len(first)
        todo = frames[:1] if first_only or not cached else frames[done:]
        t = time.perf_counter()
        emb = embed_frames(
            todo, encoder=self.encoder, chip_size=size, offset=offset, seed=self.options.seed
        ).embeddings
        if first is not None:  # the rest of the series
            emb = np.concatenate([first, emb])
        t = self.clock.add("embed", t)
        if cached and len(emb) < len(frames):
            artefacts.MEMORY_CACHE.put(first_frames_key(cache_key), emb)
        elif cached:
            artefacts.embeddings_put(cache_key, emb)
            artefacts.MEMORY_CACHE.discard(first_frames_key(cache_key))
        self.clock.add("save", t)
        return emb, cached and len(emb) < len(frames)

    def spectrum(self, image: Image, frame: int, grid: ChipGrid) -> FrameSpectrum:
        """The support-independent part of the boundary features of one frame on the job's
        grid, kept in the worker's memory cache: a re-run after a support-set edit skips the
        whole-frame FFT."""
        return cached_spectrum(image.sha256, frame, grid, lambda: self.frames(image)[frame])

    def pixel_features(self, image: Image, frame: int, grid: ChipGrid) -> PixelFeatures | None:
        """The support-independent boundary and pixel features of one frame on the job's grid
        (None without boundary refinement and pixel vote), kept in the worker's memory cache
        like the spectrum: a re-run after a support-set edit only classifies (at 4096^2 px
        the features were most of the pixel map's time)."""
        if self.options.boundary is None and not self.options.pixel_vote:
            return None
        return cached_pixel_features(image.sha256, frame, grid)


def native_preview(image: Image, frame: int, data) -> np.ndarray:
    """The grey the overlay export is drawn on, at the original's size
    (``maps.native_preview``; ``data()``: the decoded original), kept in the worker's memory
    cache: beyond the stored preview's size it is made from the original, which every re-run's
    downloads would otherwise read and decode again."""

    def make() -> np.ndarray:
        pixels = data()
        if frame == 0 and image.preview_key:
            preview = _memoised(f"preview:{image.preview_key}", lambda: _stored_preview(image))
        else:
            preview = formats.preview(pixels, index=frame)
        return maps.native_preview(preview, pixels, frame)

    return _memoised(f"native-preview:{image.sha256}:{frame}", make)


def _stored_preview(image: Image) -> np.ndarray:
    with storage.open_(image.preview_key) as fh, PILImage.open(fh) as img:
        return np.asarray(img.convert("L"))
