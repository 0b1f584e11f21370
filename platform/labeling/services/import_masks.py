"""Label masks of an annotation import: PNG or TIFF decoded within a pixel budget (integer
values, or RGB(A) colours), and each chip's majority class."""

from __future__ import annotations

import io

import numpy as np

from common.errors import Invalid, TooLarge, Unsupported

from ..models import Grid
from .import_classes import mask_table

PNG = b"\x89PNG\r\n\x1a\n"
TIFF = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def read_mask(data: bytes, *, colours: bool, max_pixels: int) -> np.ndarray:
    """The mask's pixels (H, W) as int64: the integer value, or with ``colours`` the colour
    ``r << 16 | g << 8 | b`` (-1 where an RGBA pixel is fully transparent).

    The declared size is checked against ``max_pixels`` before anything is decoded.
    """
    if data.startswith(PNG):
        return _read_png(data, colours=colours, max_pixels=max_pixels)
    return _read_tiff(data, colours=colours, max_pixels=max_pixels)


def _too_big(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise TooLarge(
            f"The mask is {width}x{height} px; an import decodes at most {max_pixels} px.",
            fields={"file": ["too many pixels"]},
        )


def _read_png(data: bytes, *, colours: bool, max_pixels: int) -> np.ndarray:
    # Pillow: only mask imports decode images
    from PIL import Image as PILImage

    try:
        img = PILImage.open(io.BytesIO(data))
        _too_big(*img.size, max_pixels)
        mode = img.mode
        if colours:
            if mode not in ("RGB", "RGBA", "P", "PA"):
                raise Invalid(
                    f"A colour table needs an RGB or indexed-colour mask; this PNG is '{mode}' "
                    "(give value=class pairs).",
                    fields={"classes": ["colours for a grey mask"]},
                )
            return _rgb_values(np.asarray(img.convert("RGBA")))
        if mode in ("RGB", "RGBA"):
            raise Invalid(
                'This mask is RGB: give a colour table ({"#rrggbb": class}).',
                fields={"classes": ["values for an RGB mask"]},
            )
        if mode not in ("1", "L", "P", "I", "I;16", "I;16B", "I;16L"):
            raise Unsupported(
                f"PNG masks of mode '{mode}' are not supported; use grey, 16-bit, indexed or RGB.",
                fields={"file": ["mode"]},
            )
        return np.asarray(img).astype(np.int64)
    except PILImage.DecompressionBombError as err:
        raise TooLarge(str(err), fields={"file": ["too many pixels"]}) from err
    except (OSError, SyntaxError, ValueError) as err:
        raise Invalid(f"The PNG could not be read: {err}", fields={"file": ["unreadable"]}) from err


def _read_tiff(data: bytes, *, colours: bool, max_pixels: int) -> np.ndarray:
    # tifffile: only TIFF masks
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = tif.pages
            page = pages.first
            shape = tuple(page.shape)
            if len(pages) > 1 or len(shape) not in (2, 3):
                raise Invalid(
                    "A TIFF mask holds one 2-D plane (no stacks, series or channels beyond RGB).",
                    fields={"file": ["not one plane"]},
                )
            height, width = shape[:2]
            _too_big(width, height, max_pixels)
            array = page.asarray()
    except (tifffile.TiffFileError, OSError, ValueError, IndexError) as err:
        raise Invalid(
            f"The TIFF could not be read: {err}", fields={"file": ["unreadable"]}
        ) from err
    if array.ndim == 3:
        if not colours or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
            raise Invalid(
                "A TIFF with channels is read as 8-bit RGB(A) with a colour table "
                '({"#rrggbb": class}).',
                fields={"classes": ["values for an RGB mask"]},
            )
        return _rgb_values(array)
    if colours:
        raise Invalid(
            "A colour table needs an RGB mask; this TIFF has one channel (give value=class pairs).",
            fields={"classes": ["colours for a grey mask"]},
        )
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    if array.dtype.kind not in "iu":
        raise Invalid(
            f"A label mask holds integers; this TIFF holds {array.dtype}.",
            fields={"file": ["not integers"]},
        )
    return array.astype(np.int64)


def _rgb_values(rgba: np.ndarray) -> np.ndarray:
    a = rgba.astype(np.int64)
    values = (a[..., 0] << 16) | (a[..., 1] << 8) | a[..., 2]
    if rgba.shape[2] == 4:
        values[rgba[..., 3] == 0] = -1
    return values


def chip_majority(
    index: np.ndarray, *, grid: Grid, n_classes: int, threshold: float
) -> tuple[np.ndarray, dict[str, int]]:
    """Per chip, the class (0..n-1) covering at least ``threshold`` of it, or -1.

    ``index`` (H, W): class index per pixel, -1 for background. Returns the (rows, cols) labels
    and how many chips were skipped for which reason (``mixed``: no class reaches the
    threshold or two tie; ``unlabelled``: only background).
    """
    s, top, left = grid.chip_size, grid.offset_y, grid.offset_x
    region = index[top : top + grid.rows * s, left : left + grid.cols * s]
    blocks = region.reshape(grid.rows, s, grid.cols, s)
    counts = np.stack(
        [(blocks == k).sum(axis=(1, 3)) for k in range(n_classes)], axis=-1
    )  # (rows, cols, n)
    best = counts.argmax(-1)
    top_count = counts.max(-1)
    ties = (counts == top_count[..., None]).sum(-1) > 1
    share = top_count / float(s * s)
    labelled = (share >= threshold) & ~ties & (top_count > 0)
    labels = np.where(labelled, best, -1)
    unlabelled = int((top_count == 0).sum())
    return labels, {
        "mixed": int((~labelled).sum()) - unlabelled,
        "unlabelled": unlabelled,
    }


def mask_labels(data, *, grid, classes, by_id, by_name, threshold, max_pixels):
    """(chips [(row, col, class)], skipped chips per reason, classes used) of a mask."""
    colours, table = mask_table(classes, by_id, by_name)
    values = read_mask(data, colours=colours, max_pixels=max_pixels)
    image = grid.image
    if values.shape != (image.height, image.width):
        height, width = values.shape
        raise Invalid(
            f"The mask is {width}x{height} px; the image is {image.width}x{image.height}.",
            code="size_mismatch",
            fields={"file": ["size differs from the image"]},
        )
    # one sorted lookup, not a pass per table entry: 256 entries on 64 Mpx stay fast
    keys = np.array(sorted(table), np.int64)
    slot = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
    known = keys[slot] == values
    if colours:
        known |= values == -1  # transparent pixels: background
    if not known.all():
        unknown = np.unique(values[~known]).tolist()
        shown = [f"#{v:06x}" if colours else str(v) for v in unknown[:5]]
        raise Invalid(
            f"The mask holds {'colours' if colours else 'values'} the table does not name: "
            f"{', '.join(shown)}{' …' if len(unknown) > 5 else ''} (map them, or to null for "
            "background).",
            code="unknown_value",
            fields={"classes": ["values missing"]},
        )
    targets = list(dict.fromkeys(k for k in table.values() if k is not None))
    position = {k.pk: i for i, k in enumerate(targets)}
    lut = np.array(
        [-1 if table[int(v)] is None else position[table[int(v)].pk] for v in keys], np.int16
    )
    index = np.where(known & (values != -1) if colours else known, lut[slot], -1)
    del values, slot, known
    labels, skipped = chip_majority(index, grid=grid, n_classes=len(targets), threshold=threshold)
    rows, cols = np.nonzero(labels >= 0)
    chips = [(int(r), int(c), targets[int(labels[r, c])]) for r, c in zip(rows, cols, strict=True)]
    return chips, skipped, targets
