"""Work done ahead of a job: a grid's image embedded into the cache when the grid is made,
and a worker's one-time costs paid when it starts."""

from __future__ import annotations

import numpy as np
import torch

from catalog.services import original_pixels
from common import storage
from labeling.models import Grid
from registry.selectors import lab_champion, public_champion
from registry.services import encoder_load
from workers.fewshot.encoders import build_encoder, resolve_device
from workers.fewshot.pipeline import (
    Segmenter,
    SegmentOptions,
    embed,
    embed_frames,
    normalised_frames,
)

from .. import artefacts, exports, maps
from ..models import JobStatus, SegmentationJob
from .images import Leading, cached_pixel_features, cached_spectrum, first_frames_key


def embeddings_prefetch(*, grid_id) -> bool:
    """Embed a grid's image (every frame) with the model a job of its lab would use by default,
    into the embeddings cache and this worker's frame cache, and frame 0's spectrum and pixel
    features into its memory cache; False when there is nothing to do (grid gone, no model,
    already cached). A series gives way, between frames, to a segmentation job queued
    meanwhile (a user who clicks Segment soon after making the grid): the frames embedded so
    far stay in this worker's memory cache (``images.first_frames_key``) for the job."""
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
    frames = normalised_frames(original_pixels(image))
    artefacts.MEMORY_CACHE.put(f"frames:{image.sha256}", frames)
    encoder = encoder_load(model_version=model, device=resolve_device("auto"))
    done = None
    for n in range(len(frames)):
        if done is not None and _job_waiting():
            # a series: a job queued on this worker's queue waits for this task; it finds
            # the frames embedded so far and embeds the rest after its first map
            artefacts.MEMORY_CACHE.put(first_frames_key(key), done)
            return True
        out = embed_frames(
            frames[n : n + 1],
            encoder=encoder,
            chip_size=grid.chip_size,
            offset=(grid.offset_y, grid.offset_x),
            seed=0,  # the cache key has no seed: the encoders embed deterministically
        )
        done = Leading.grown(done, len(frames), out.embeddings)
        if n == 0:
            # frame 0's support-independent features too (what the page shows first): the
            # first Segment click then only classifies, as a re-run does
            spectrum = cached_spectrum(image.sha256, 0, out.grid, lambda: frames[0])
            cached_pixel_features(image.sha256, 0, out.grid).prepare(frames[0], spectrum)
    artefacts.embeddings_put(key, done.buffer)
    artefacts.MEMORY_CACHE.discard(first_frames_key(key))
    return True


def _job_waiting() -> bool:
    """Whether a segmentation job is queued (on the queue this task holds a worker of)."""
    return SegmentationJob.objects.filter(status=JobStatus.QUEUED).exists()


def warm_up() -> None:
    """Pay one-time costs (torch kernels, FFT plans, fonts, codecs) when a worker starts, not
    inside the first job: "change the support set and re-run" must feel instant."""
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
