"""Shifted copies of the example chips: where a texture, grain or phase has no fixed position
within a chip, the same class a quarter chip up, down, left or right is as good an example as
the chip clicked, and three clicks per class show little of how much a class varies from one
patch to the next. The copies give the task space's metrics and the prototypes four more
chips per example; the group weights and the support check read the clicked chips only.

Objects are another matter: a chip's class is where the particle is, and a shifted copy of a
rim chip is mostly support, so the copies are made only where no class is an object (the
texture view's gate). A half-chip shift is too far (lattices lose: the copy reads the
neighbouring grain). Chosen on the selection set (k = 3 / 5: textures 0.794 / 0.811 ->
0.797 / 0.826, lattices 0.952 / 0.953 -> 0.957 / 0.954; docs/benchmarks.md)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.encoders import Encoder
from workers.fewshot.pipeline.options import Embedded, SegmentOptions, Support
from workers.fewshot.spectral_peaks import SupportPeaks

__all__ = ["SHIFT", "shifted_copies", "shifted_origins"]

#: the shift, as a share of the chip size
SHIFT = 0.25


def shifted_origins(
    grid: ChipGrid, chips: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left pixels (N, 2) of the chips (row, col) shifted by ``SHIFT`` of a chip up, down,
    left and right, those that stay inside the grid's covered region, and the index (N,) into
    ``chips`` of the chip each was shifted from."""
    s = grid.chip_size
    d = max(1, round(s * SHIFT))
    y0, x0 = grid.offset
    y_max, x_max = y0 + (grid.rows - 1) * s, x0 + (grid.cols - 1) * s
    out = [
        (y0 + r * s + dy, x0 + c * s + dx, i)
        for i, (r, c) in enumerate(chips)
        for dy, dx in ((-d, 0), (d, 0), (0, -d), (0, d))
        if y0 <= y0 + r * s + dy <= y_max and x0 <= x0 + c * s + dx <= x_max
    ]
    found = np.asarray(out, np.int64).reshape(-1, 3)
    return found[:, :2], found[:, 2]


def shifted_copies(
    images: Sequence[Embedded],
    support: Sequence[Support],
    *,
    encoder: Encoder,
    peaks: SupportPeaks | None,
    options: SegmentOptions,
) -> dict[int, np.ndarray] | None:
    """The copies' embeddings {class id: (n, D)} from frame 0 of each image; None where they
    are off (``options.support_shifts``), a class is an object, the metric is off, no class has
    two examples (as the metric and the texture view: copies would fit both to four shifts of
    one chip), an image's frames were not kept, or ``encoder`` is a stand-in that cannot embed
    (a name and temperature only, as some tests and benches pass). With the support-peak group
    (``peaks``) a copy takes the profile of the chip it was shifted from: within one grain a
    quarter chip does not move the lattice's peaks, and measuring them again costs more than
    embedding the copies (256 px chips: ~6 ms a chip)."""
    counts: dict[int, int] = {}
    for chips in support:
        for k, v in chips.items():
            counts[int(k)] = counts.get(int(k), 0) + len(v)
    several = max(counts.values(), default=0) >= 2
    if (
        not (options.support_shifts and several and isinstance(encoder, Encoder))
        or options.object_classes
        or options.metric is None
        or any(img.frames is None for img in images)
    ):
        return None
    out: dict[int, list[np.ndarray]] = {}
    seen: dict[int, int] = {}  # the class's examples in earlier images (rows of the support)
    for img, chips in zip(images, support, strict=True):
        found = []  # (class, origins, the support rows they come from), one embedding call
        for k, positions in chips.items():
            first = seen.get(int(k), 0)
            seen[int(k)] = first + len(positions)
            origins, source = shifted_origins(img.grid, positions)
            found.append((int(k), origins, first + source))
        origins = np.concatenate([o for _, o, _ in found] or [np.zeros((0, 2), np.int64)])
        if not len(origins):
            continue
        # embedded once per position: the image keeps them for the next fit (``Embedded.memo``)
        emb = _embedded_at(img, encoder, origins)
        at = 0
        for k, o, rows in found:
            part, at = emb[at : at + len(o)], at + len(o)
            if peaks is not None:
                part = np.concatenate([part, peaks.augmented_support[k][rows, peaks.dim :]], 1)
            if len(part):
                out.setdefault(k, []).append(part)
    return {k: np.concatenate(v) for k, v in out.items()}


def _embedded_at(img: Embedded, encoder: Encoder, origins: np.ndarray) -> np.ndarray:
    """(N, 2) top-left pixels on frame 0 -> (N, D) embeddings of the chips there: those the
    image's memo holds, the rest embedded in one call (each new position once) and kept."""
    keys = [("off-grid", int(y), int(x)) for y, x in origins]

    def make(missing: list) -> np.ndarray:
        at = np.asarray([key[1:] for key in missing], np.int64)
        return np.asarray(encoder.embed_at(img.frames[0], img.grid.chip_size, at), np.float32)

    return np.stack(img.memo.many(keys, make))
