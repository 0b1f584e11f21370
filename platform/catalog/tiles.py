"""Real pixels of large micrographs: tiles of frame 0 at full resolution (and at halvings, until
the preview's size), so the viewer shows one image pixel per screen pixel when zoomed in.

The preview is at most ``PREVIEW_MAX_SIDE`` px on its longest side; an image larger than that
gets levels ``z = 0, 1, ...`` (level z: the image downscaled by 2^z, antialiased) while a
level's longest side is still larger than the preview. Each level is cut into ``TILE`` x
``TILE`` 8-bit PNGs with the preview's contrast (the same percentile stretch of the whole
frame), so tiles and preview match. Tiles are written when an image is ingested; images
ingested before get theirs on the first request (bounded by ``CHIPLAB_TILES_MAX_PIXELS``).
"""

from __future__ import annotations

import json
import math

import numpy as np
from django.conf import settings
from django.core.cache import cache
from PIL import Image as PILImage

from common import storage
from common.errors import NotFound, TooLarge

from . import formats
from .formats.preview import stretch
from .models import Image, ImageStatus

TILE = 512
PREVIEW_MAX_SIDE = 2048  # formats.preview's default: the viewer's background below the tiles
_INDEX = "index.json"
_READY_SECONDS = 24 * 3600  # an image's tiles never change; deleting it deletes its id


def levels(width: int, height: int) -> list[dict]:
    """The tile levels of a ``width`` x ``height`` image: [{z, width, height, rows, cols}]
    (empty when the preview already has every pixel)."""
    out = []
    z = 0
    while True:
        w, h = math.ceil(width / 2**z), math.ceil(height / 2**z)
        if max(w, h) <= PREVIEW_MAX_SIDE:
            return out
        out.append(
            {
                "z": z,
                "width": w,
                "height": h,
                "rows": math.ceil(h / TILE),
                "cols": math.ceil(w / TILE),
            }
        )
        z += 1


def tiles_prefix(image: Image) -> str:
    """The storage folder of an image's tiles: under the image's own folder, so deleting the
    image deletes them (``services._stored_delete``)."""
    from .services import image_prefix  # services writes tiles at ingest: imported when used

    return f"{image_prefix(image.dataset, image.pk)}/tiles"


def tile_key(image: Image, z: int, row: int, col: int) -> str:
    return f"{tiles_prefix(image)}/z{z}/{row}_{col}.png"


def tiles_write(image: Image, data: np.ndarray) -> int:
    """Write every tile of frame 0 of ``data`` (the decoded original, or its frame 0 alone);
    how many. The index file goes last: it marks the set complete."""
    frame = data if data.ndim == 2 else data[0]
    found = levels(frame.shape[1], frame.shape[0])
    if not found:
        return 0
    stretched = stretch(frame)
    n = 0
    for level in found:
        z = level["z"]
        if z == 0:
            pixels = stretched
        else:
            size = (level["width"], level["height"])
            pixels = np.asarray(
                PILImage.fromarray(stretched).resize(size, PILImage.Resampling.LANCZOS)
            )
        grey = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)
        for row in range(level["rows"]):
            for col in range(level["cols"]):
                tile = grey[row * TILE : (row + 1) * TILE, col * TILE : (col + 1) * TILE]
                storage.put_bytes(tile_key(image, z, row, col), formats.encode_png(tile))
                n += 1
    storage.put_bytes(f"{tiles_prefix(image)}/{_INDEX}", json.dumps({"levels": found}).encode())
    return n


def _ensure(image: Image) -> None:
    """Tiles of an image ingested before tiles existed: written now, once. That an image's
    tiles exist is remembered in the cache, so a tile request costs no storage round trip."""
    ready = f"chiplab:tiles-ready:{image.pk}"
    if cache.get(ready):
        return
    if storage.exists(f"{tiles_prefix(image)}/{_INDEX}"):
        cache.set(ready, True, timeout=_READY_SECONDS)
        return
    pixels = image.width * image.height
    if pixels > settings.CHIPLAB_TILES_MAX_PIXELS:
        raise TooLarge(
            f"This image ({image.width} x {image.height}) has no full-resolution tiles yet and "
            "is too large to cut them during a request; they are made when an image is ingested.",
            code="tiles_too_large",
        )
    # services writes tiles at ingest: imported here
    from .services.originals import original_frames

    with original_frames(image) as frames:  # frame 0 only: the rest is never decoded
        tiles_write(image, next(iter(frames)))
    cache.set(ready, True, timeout=_READY_SECONDS)


def tiles_index(image: Image) -> dict:
    """What the viewer needs: the tile size and the levels (none for a small image). The
    viewer asks for this before any tile: an image ingested before tiles existed gets them
    here, once, rather than in several tile requests at the same time."""
    if image.status != ImageStatus.READY:
        raise NotFound(f"No tiles yet: the image is {image.status}.", code="not_ready")
    found = levels(image.width, image.height)
    if found:
        _ensure(image)
    return {"tile_size": TILE, "preview_max_side": PREVIEW_MAX_SIDE, "levels": found}


def tile_get_key(image: Image, z: int, row: int, col: int) -> str:
    """The storage key of one tile (written first if needed); 404 outside the levels."""
    if image.status != ImageStatus.READY:
        raise NotFound(f"No tiles yet: the image is {image.status}.", code="not_ready")
    level = next((lv for lv in levels(image.width, image.height) if lv["z"] == z), None)
    if level is None or not (0 <= row < level["rows"] and 0 <= col < level["cols"]):
        raise NotFound(f"No tile ({z}, {row}, {col}) for this image.", code="no_tile")
    _ensure(image)
    return tile_key(image, z, row, col)
