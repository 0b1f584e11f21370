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
from workers.fewshot.memo import ChipMemo
from workers.fewshot.pipeline import (
    Embedded,
    Segmentation,
    Segmenter,
    embed_frames,
    normalised_frames,
)
from workers.fewshot.pixels import PixelFeatures

from .. import artefacts, maps
from ..models import SegmentationJob
from ..services import support_classes
from .clock import Clock
from .frames import classify_frame, frame_intensity, options_from_params


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
    """Where the worker's memory cache holds a series' :class:`Leading` frames embedded so far
    (by a job, frame by frame, or a grid's prefetch that gave way to a job) until every frame
    is and the series goes to the embeddings cache (``cache_key``)."""
    return f"first-frames:{cache_key}"


class Leading:
    """A series' leading frames embedded so far, in the buffer (T, rows, cols, D) that will
    hold them all: frames are added in place (no copy of those before), so a series embedded
    frame by frame costs what it costs at once. Weighed in the memory cache by its buffer."""

    def __init__(self, frames: int, first: np.ndarray) -> None:
        self.buffer = np.empty((frames, *first.shape[1:]), first.dtype)
        self.count = 0
        self.add(first)

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    @property
    def embeddings(self) -> np.ndarray:
        """The frames embedded so far (a view of the buffer)."""
        return self.buffer[: self.count]

    @property
    def complete(self) -> bool:
        return self.count == len(self.buffer)

    def add(self, embeddings: np.ndarray) -> None:
        """The next frames' embeddings (n, rows, cols, D)."""
        self.buffer[self.count : self.count + len(embeddings)] = embeddings
        self.count += len(embeddings)

    @classmethod
    def grown(cls, leading: Leading | None, frames: int, embeddings: np.ndarray) -> Leading:
        """``leading`` with the next frames' ``embeddings`` added; a new one for a series of
        ``frames`` frames when there is none yet."""
        if leading is None:
            return cls(frames, embeddings)
        leading.add(embeddings)
        return leading


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
        self._leading: dict[str, Leading] = _Recent()  # series embedded frame by frame so far
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

    def embedded(self, image: Image, chip_size: int | None = None, *, upto: int = 0) -> Embedded:
        """The image embedded on the job's grid, or on a grid of another ``chip_size`` (frame 0
        only: the chip-size check), through the embeddings cache; its frames are kept only for
        the steps that read pixels (boundary refinement, the pixel vote, the shifted examples).

        ``upto``: the first frames that are enough (1: the support set's chips are on frame 0,
        and a series' first map; 0: all). A series not in the cache has only those embedded
        now (more when at hand), and is cached once its last frame is: its first map waits for
        one frame, and a job between frames can give way to a newer one (``give_way``)."""
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
        emb, partial = self._embeddings(image, size, offset, cache_key, upto)
        opts = self.options
        pixels = opts.boundary is not None or opts.pixel_vote or opts.support_shifts
        frames = self.frames(image) if pixels else None
        grid = ChipGrid.for_shape((image.height, image.width), size, offset)
        # what fits computed per support chip (its shifted copies' embeddings, its window's
        # spectrum, its Gabor features), kept in the worker's memory cache beside the grid's
        # embeddings: a re-run after a support-set edit computes only the new examples'
        memo = _memoised(f"chip-memo:{cache_key}", ChipMemo)
        embedded = Embedded(frames, grid, emb, memo)
        if not partial:
            self._embedded[key] = embedded
        return embedded

    def _embeddings(
        self, image: Image, size: int, offset: tuple, cache_key: str, upto: int
    ) -> tuple[np.ndarray, bool]:
        """The embeddings at ``size``: from the cache (``cache_key``), or embedded now up to
        frame ``upto`` (all: 0) after the :class:`Leading` ones embedded earlier, and cached
        once every frame is; frame 0 alone at another size. Also whether they are a series'
        leading frames that the job's grid needs the rest of."""
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
        total = len(frames) if cached else 1
        want = min(upto or total, total)
        # this job's, or a prefetch's or an earlier job's that gave way (this worker's memory)
        leading = self._leading.get(cache_key) or artefacts.MEMORY_CACHE.get(
            first_frames_key(cache_key)
        )
        have = leading.count if leading is not None else 0
        if have >= want:  # a series' leading frames, enough for now
            return leading.embeddings, True
        t = time.perf_counter()
        emb = embed_frames(
            frames[have:want],
            encoder=self.encoder,
            chip_size=size,
            offset=offset,
            seed=self.options.seed,
        ).embeddings
        t = self.clock.add("embed", t)
        if leading is None and want == total:  # whole at once
            if cached:
                artefacts.embeddings_put(cache_key, emb)
                self.clock.add("save", t)
            return emb, False
        leading = self._leading[cache_key] = Leading.grown(leading, total, emb)
        if leading.complete:
            artefacts.embeddings_put(cache_key, leading.buffer)
            artefacts.MEMORY_CACHE.discard(first_frames_key(cache_key))
            self.clock.add("save", t)
            return leading.buffer, False
        # for a job that gives way, or the next one (not kept if too large: this job holds it)
        artefacts.MEMORY_CACHE.put(first_frames_key(cache_key), leading)
        return leading.embeddings, True

    def fitted(self, by_image: dict, *, between=lambda: None, fitting=lambda: None) -> Segmenter:
        """The class prototypes of the support chips ``by_image`` ({image id: {class index:
        [(row, col)]}}; ``support_chips``), their images embedded first (``between`` is called
        after each, ``fitting`` before the fit); the examples the support check lists are named
        by image id."""
        support_ids, support_images, support = [], [], []
        for image in Image.objects.filter(pk__in=list(by_image)):
            support_ids.append(str(image.pk))
            support_images.append(self.embedded(image, upto=1))  # chips on frame 0
            support.append(by_image[str(image.pk)])
            between()
        fitting()
        t = time.perf_counter()
        segmenter = Segmenter.fit(
            support_images, support, encoder=self.encoder, options=self.options
        )
        for item in segmenter.support_check["disagree"]:
            item["image"] = support_ids[item["image"]]
        self.clock.add("classify", t)
        return segmenter

    def classified(
        self, segmenter, image: Image, embedded: Embedded, frame: int, by_image, classes, timed
    ) -> tuple[Segmentation, maps.PixelOutputs]:
        """``classify_frame`` on one frame of ``image`` with this worker's kept inputs (its
        frames, spectrum and pixel features); ``timed``: a ``Clock.lapper()``."""
        return classify_frame(
            segmenter,
            embedded,
            frame,
            timed=timed,  # first: the frame and spectrum fetches count as classify
            frame_pixels=self.frames(image)[frame],
            classes=classes,
            support=by_image.get(str(image.pk)) if frame == 0 else None,
            spectrum=self.spectrum(image, frame, embedded.grid),
            pixel_features=self.pixel_features(image, frame, embedded.grid),
            # the original's values, for the particles' mean intensity: read only when a class
            # is counted as objects (re-runs otherwise work from cached frames)
            intensity=self.intensity(image, frame)
            if any(c.get("kind") == "objects" for c in classes)
            else None,
            pixel_size=image.pixel_size,
            pixel_unit=image.pixel_unit or None,
        )

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
