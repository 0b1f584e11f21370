"""Chip grids over an image, robust intensity normalisation and per-chip ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch stays off the web process's import path (labeling.models uses this)
    import torch

__all__ = ["FEATURES_RECIPE", "NORMALISE_RECIPE", "ChipGrid", "chip_truth", "normalise", "to_grey"]

#: bumped whenever ``normalise`` changes what an encoder sees (cached embeddings name it):
#: 2 = percentiles of a ~250k-pixel subsample with an odd step (1: ~1M pixels, any step)
NORMALISE_RECIPE = 2
#: bumped whenever an encoder's embedding changes for the same weights (cached embeddings name
#: it too, so no job mixes embeddings of two versions of the code): 2 = the default encoder's
#: texture group (encoders.texture)
FEATURES_RECIPE = 2


@dataclass(frozen=True)
class ChipGrid:
    """A grid of square chips laid over an image; edges that do not fill a chip are cropped.

    Chips are addressed as (row, col); chip (r, c) covers
    ``[top + r*chip_size, top + (r+1)*chip_size) x [left + c*chip_size, ...)``.
    """

    height: int
    width: int
    chip_size: int
    offset: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError(f"image shape must be positive, got {(self.height, self.width)}")
        if not 1 <= self.chip_size <= min(self.height, self.width):
            raise ValueError(
                f"chip_size must be in [1, {min(self.height, self.width)}] for an image of shape "
                f"{(self.height, self.width)}, got {self.chip_size}"
            )
        oy, ox = self.offset
        if not (0 <= oy < self.height and 0 <= ox < self.width):
            raise ValueError(f"offset {self.offset} must lie inside the image")
        if self.rows < 1 or self.cols < 1:
            raise ValueError(
                f"no complete {self.chip_size}px chip fits after offset {self.offset} "
                f"in an image of shape {(self.height, self.width)}"
            )

    @classmethod
    def for_shape(
        cls, shape: tuple[int, ...], chip_size: int = 32, offset: tuple[int, int] = (0, 0)
    ) -> ChipGrid:
        """Build the grid for an image of shape (H, W), (T, H, W) or (H, W, C)."""
        if len(shape) == 3 and shape[-1] in (3, 4):
            h, w = shape[0], shape[1]
        else:
            h, w = shape[-2], shape[-1]
        return cls(int(h), int(w), int(chip_size), (int(offset[0]), int(offset[1])))

    @property
    def rows(self) -> int:
        """Number of complete chip rows."""
        return (self.height - self.offset[0]) // self.chip_size

    @property
    def cols(self) -> int:
        """Number of complete chip columns."""
        return (self.width - self.offset[1]) // self.chip_size

    @property
    def n_chips(self) -> int:
        """rows * cols."""
        return self.rows * self.cols

    @property
    def margins(self) -> tuple[int, int, int, int]:
        """Cropped pixels (top, left, bottom, right) that belong to no chip."""
        top, left = self.offset
        bottom = self.height - top - self.rows * self.chip_size
        right = self.width - left - self.cols * self.chip_size
        return top, left, bottom, right

    @property
    def covered(self) -> tuple[slice, slice]:
        """Slices of the image region covered by chips."""
        top, left = self.offset
        return (
            slice(top, top + self.rows * self.chip_size),
            slice(left, left + self.cols * self.chip_size),
        )

    def chip_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        """Pixel box (y0, x0, y1, x1) of chip (row, col), end-exclusive."""
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise IndexError(f"chip {(row, col)} outside grid {self.rows}x{self.cols}")
        y0 = self.offset[0] + row * self.chip_size
        x0 = self.offset[1] + col * self.chip_size
        return y0, x0, y0 + self.chip_size, x0 + self.chip_size

    def index(self, row: int, col: int) -> int:
        """Flat (row-major) index of chip (row, col)."""
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise IndexError(f"chip {(row, col)} outside grid {self.rows}x{self.cols}")
        return row * self.cols + col

    def position(self, index: int) -> tuple[int, int]:
        """(row, col) of a flat chip index."""
        return divmod(int(index), self.cols)

    def chips(self, image: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """All chips as a view-friendly array: (H, W) -> (rows*cols, s, s), row-major."""
        s = self.chip_size
        region = image[self.covered]
        blocks = region.reshape(self.rows, s, self.cols, s)
        if isinstance(region, np.ndarray):
            return blocks.transpose(0, 2, 1, 3).reshape(-1, s, s)
        return blocks.permute(0, 2, 1, 3).reshape(-1, s, s)  # a torch.Tensor

    def to_dict(self) -> dict:
        """JSON-friendly description (for results and provenance)."""
        return {
            "height": self.height,
            "width": self.width,
            "chip_size": self.chip_size,
            "offset": list(self.offset),
            "rows": self.rows,
            "cols": self.cols,
            "margins": list(self.margins),
        }


def to_grey(array: np.ndarray) -> np.ndarray:
    """RGB(A) (H, W, 3|4) -> luminance (H, W) float32; any other array is returned unchanged."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[-1] in (3, 4) and a.shape[0] > 4:
        return (a[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(
            np.float32
        )
    return a


def normalise(array: np.ndarray, *, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Robustly rescale an image to float32 ~[0, 1] using its own percentiles (not the dtype range).

    Accepts uint8/uint16/int/float32/float64 (H, W), RGB(A) (H, W, 3|4) -> grey, or a frame stack
    (T, H, W), normalised with percentiles pooled over all frames so frames stay comparable.
    Values outside the percentiles are clipped; NaN -> 0, +inf -> 1, -inf -> 0.
    """
    a = to_grey(array)
    if a.ndim not in (2, 3):
        raise ValueError(f"expected (H, W), (H, W, 3) or (T, H, W), got shape {a.shape}")
    floating = np.issubdtype(a.dtype, np.floating)
    flat = a.reshape(-1)
    # Percentiles of a ~250k-pixel subsample are exact enough (rank error ~0.01 %) and cost a
    # fifth of a full 1M-pixel partition. The step is odd so that, on even image widths, each
    # row samples other columns: a step dividing the width would read the same few columns of
    # every row and miss the peaks of a lattice whose period shares that step.
    sample = flat[:: max(1, flat.size // 250_000) | 1]
    if floating:
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return np.zeros(a.shape, np.float32)
    lo, hi = (float(v) for v in np.percentile(sample, [low, high]))
    if hi <= lo:
        hi = lo + 1.0
    # a new array (the caller's is never modified) in four passes: fmax / fmin also send NaN
    # to 0 and +-inf to 1 / 0 (nan_to_num and clip took four more over 16 M pixels)
    out = np.empty(a.shape, np.float32)
    np.subtract(a, np.float32(lo), out=out, dtype=np.float32)
    out *= np.float32(1.0 / (hi - lo))
    np.fmax(out, np.float32(0.0), out=out)
    np.fmin(out, np.float32(1.0), out=out)
    return out


def chip_truth(
    truth: np.ndarray, grid: ChipGrid, *, return_purity: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Majority class per chip: (H, W) int -> (rows, cols) int32 (ties -> lowest class).

    With ``return_purity`` also returns the majority fraction per chip, (rows, cols) float32.
    """
    t = np.asarray(truth)
    if t.shape != (grid.height, grid.width):
        raise ValueError(f"truth shape {t.shape} does not match grid {(grid.height, grid.width)}")
    chips = grid.chips(t).reshape(grid.n_chips, -1).astype(np.int64)
    if chips.size and chips.min() < 0:
        raise ValueError("truth labels must be non-negative")
    n_classes = int(chips.max()) + 1 if chips.size else 1
    keys = chips + (np.arange(grid.n_chips)[:, None] * n_classes)
    counts = np.bincount(keys.ravel(), minlength=grid.n_chips * n_classes)
    counts = counts.reshape(grid.n_chips, n_classes)
    labels = counts.argmax(1).reshape(grid.rows, grid.cols).astype(np.int32)
    if return_purity:
        purity = (counts.max(1) / chips.shape[1]).reshape(grid.rows, grid.cols).astype(np.float32)
        return labels, purity
    return labels
