"""Boundary-limited reference: the chip mIoU of an oracle that places boundaries only to +-q px.

Chip truth is the majority class of a chip's pixels, so a chip that straddles a boundary is
called right only if the boundary is located well enough to tell which side holds more of
it. The reference labels each chip with the true majority of its window displaced by a random
(dy, dx), |dy|, |dx| <= q px: it is exact inside every region and perceives each boundary up to
q px off. Its mIoU bounds what any chip classifier that localises boundaries to that precision
can reach on a case; lattices need about one lattice period (~10 px here) to be recognised.
"""

from __future__ import annotations

import numpy as np

from workers.fewshot.chipping import ChipGrid

__all__ = ["SHIFTS_PX", "displaced_majority", "is_reference", "reference_name"]

#: boundary precisions reported by the benchmark (px)
SHIFTS_PX = (3, 6)
_PREFIX = "oracle±"


def reference_name(shift: int) -> str:
    """Method name under which the reference with precision ``shift`` px is reported."""
    return f"{_PREFIX}{shift}px"


def is_reference(method: str) -> bool:
    """Whether a reported method is such a reference, not a segmenter."""
    return method.startswith(_PREFIX)


def displaced_majority(
    truth: np.ndarray, grid: ChipGrid, shift: int, rng: np.random.Generator
) -> np.ndarray:
    """(rows, cols) int: majority class of each chip's window displaced by up to ``shift`` px.

    Displacements are drawn uniformly per chip; the truth is edge-extended beyond the image.
    """
    t = np.asarray(truth, np.int64)
    n_classes = int(t.max()) + 1
    padded = np.pad(t, shift, mode="edge")
    s = grid.chip_size
    out = np.empty((grid.rows, grid.cols), np.int64)
    moves = rng.integers(-shift, shift + 1, size=(grid.rows, grid.cols, 2))
    for r in range(grid.rows):
        for c in range(grid.cols):
            y0, x0, _, _ = grid.chip_box(r, c)
            y, x = y0 + shift + moves[r, c, 0], x0 + shift + moves[r, c, 1]
            counts = np.bincount(padded[y : y + s, x : x + s].ravel(), minlength=n_classes)
            out[r, c] = counts.argmax()
    return out
