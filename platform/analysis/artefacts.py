"""Where results and embeddings live in object storage, and how they are (de)serialised.

Keys are deterministic (a re-delivered task overwrites the same objects):

- ``labs/<lab>/segmentations/<job>/<image>/f<frame>/arrays.npz`` (+ one object per export kind)
- ``labs/<lab>/embeddings/<model version>/<sha256>/r<recipe>f<features>_c<size>_y<top>_x<left>.npz``
  (recipe: ``workers.fewshot.chipping.NORMALISE_RECIPE``, features:
  ``workers.fewshot.chipping.FEATURES_RECIPE``, so an engine whose normalisation or features
  changed never reuses embeddings an older one made)

Embeddings are a pure function of (image bytes, model version, chip size, offset), so they
are cached: in the worker's memory (a small LRU) and in storage, and a job whose images were
embedded before only re-classifies.
"""

from __future__ import annotations

import io
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from django.conf import settings

from common import storage
from common.lru import Lru
from workers.fewshot.chipping import FEATURES_RECIPE, NORMALISE_RECIPE

log = logging.getLogger(__name__)

#: export kind -> (content type, file suffix)
EXPORT_KINDS: dict[str, str] = {
    "overlay.png": "image/png",
    "mask.png": "image/png",  # the pixel map, indexed colour
    # maps larger than 1024 / 2048 px only: the pixel map at that size (what the page draws
    # at fit zoom: ``runner.results.MAP_PREVIEWS``)
    "mask.preview-1024.png": "image/png",
    "mask.preview.png": "image/png",
    "confidence.png": "image/png",  # per-pixel confidence, 8-bit grey
    "mask.ome.tif": "image/tiff",
    "coco.json": "application/json",  # the pixel map as COCO: one RLE per class
    "counts.csv": "text/csv",
    "result.json": "application/json",
    "chart.svg": "image/svg+xml",
    "chart.png": "image/png",
    "series.csv": "text/csv",  # time series only: every frame's table in one file
    "particles.csv": "text/csv",  # with object classes only: one line per particle
    # with object classes only: the page's table (bounded) with each particle's box
    "particles.json": "application/json",
    "instances.png": "image/png",  # with object classes only: particle id per pixel, RGB-coded
    # with object classes only: the size histogram per object class, as on screen
    "histogram.svg": "image/svg+xml",
    "histogram.png": "image/png",
    "mask.ome.zarr.zip": "application/zip",  # OME-Zarr (NGFF 0.4) in a zarr ZipStore
    "profile.csv": "text/csv",  # class fractions per row band and per column band
}


def export_filename(result, kind: str) -> str:
    """The download name of a result's export: the image's name, the job's time and the
    result's short id (two results of one image never collide), the frame of a series."""
    stem = result.image.original_filename.rsplit(".", 1)[0]
    when = result.job.created.strftime("%Y%m%d-%H%M%S")
    frame = f".f{result.frame}" if result.image.frames > 1 and kind != "series.csv" else ""
    return f"{stem}.{when}-{result.pk.hex[:8]}{frame}.{kind}"


def result_prefix(*, lab_id, job_id, image_id, frame: int) -> str:
    return f"labs/{lab_id}/segmentations/{job_id}/{image_id}/f{frame}"


def embeddings_key(
    *, lab_id, model_version_id, sha256: str, chip_size: int, offset: tuple[int, int]
) -> str:
    return (
        f"labs/{lab_id}/embeddings/{model_version_id}/{sha256}/"
        f"r{NORMALISE_RECIPE}f{FEATURES_RECIPE}_c{chip_size}_y{offset[0]}_x{offset[1]}.npz"
    )


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """Arrays as an (uncompressed) .npz: deflate saves ~6 % of float32 embeddings at ~35 MB/s,
    i.e. 0.4-1.8 s for a 4096^2 image's 32 px chips (12.6 MB) on the first Segment click."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def npy_stream(**arrays: np.ndarray) -> bytes:
    """Named arrays as consecutive ``.npy`` records, a JSON list of the names first
    (:func:`npy_stream_load`): one copy of the data, no zip CRC, for hand-overs of large arrays
    between workers (a 4096² map's 80 MB in ~0.05 s, where ``np.savez`` takes ~0.14 s)."""
    names = np.frombuffer(json.dumps(list(arrays)).encode(), np.uint8)
    parts = []
    for array in (names, *arrays.values()):
        array = np.ascontiguousarray(array)
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, np.lib.format.header_data_from_array_1_0(array)
        )
        parts += [header.getvalue(), memoryview(array).cast("B")]
    return b"".join(parts)


def npy_stream_load(data: bytes) -> dict[str, np.ndarray]:
    """The arrays :func:`npy_stream` wrote: {name: array}."""
    fh = io.BytesIO(data)
    names = json.loads(np.load(fh, allow_pickle=False).tobytes().decode())
    return {name: np.load(fh, allow_pickle=False) for name in names}


_pool = None
_pool_pid = None


def _writer_pool():
    """Threads that live as long as the process, so each keeps its storage connection (an S3
    client per thread is costly to create); re-created after a fork."""
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():
        _pool, _pool_pid = ThreadPoolExecutor(max_workers=4, thread_name_prefix="put"), os.getpid()
    return _pool


def put_many(objects: dict[str, bytes]) -> dict[str, str]:
    """Store several objects concurrently (S3 round trips overlap); returns key -> key."""
    if not storage.is_s3():  # local disk: threads would only add overhead
        return {key: storage.put_bytes(key, data) for key, data in objects.items()}
    futures = {
        key: _writer_pool().submit(storage.put_bytes, key, data) for key, data in objects.items()
    }
    return {key: future.result() for key, future in futures.items()}


def npz_load(key: str) -> dict[str, np.ndarray]:
    with storage.open_(key) as fh:
        data = fh.read()
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


# --- the embeddings cache ------------------------------------------------------------
#: a worker's decoded frames, embeddings and spectra, bounded by their bytes
MEMORY_CACHE = Lru(settings.CHIPLAB_WORKER_CACHE_MB * 1024 * 1024, weigh=lambda v: v.nbytes)


def embeddings_get(key: str) -> tuple[np.ndarray | None, str]:
    """Cached embeddings (T, rows, cols, D) and where they came from: memory | storage | miss."""
    cached = MEMORY_CACHE.get(key)
    if cached is not None:
        return cached, "memory"
    if storage.exists(key):
        try:
            value = npz_load(key)["embeddings"]
        except (OSError, ValueError, KeyError):  # a damaged cache entry is recomputed
            log.warning("unreadable embeddings cache %s; recomputing", key)
            return None, "miss"
        MEMORY_CACHE.put(key, value)
        return value, "storage"
    return None, "miss"


def embeddings_put(key: str, value: np.ndarray) -> None:
    MEMORY_CACHE.put(key, value)
    storage.put_bytes(key, npz_bytes(embeddings=value))
