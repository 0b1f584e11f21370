"""The same support set at half and double the chip size: ``rescale_support`` moves the
clicks, ``neighbour_fractions`` segments there (the chip-size sensitivity of a result)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from workers.fewshot.chipping import ChipGrid
from workers.fewshot.encoders import Encoder
from workers.fewshot.pipeline.embedding import embed_frames
from workers.fewshot.pipeline.options import Embedded, SegmentOptions, Support
from workers.fewshot.pipeline.segmenter import Segmenter


def rescale_support(
    support: Support, factor: float, grid: ChipGrid, labels: np.ndarray | None = None
) -> Support:
    """Support chips {class: [(row, col)]} of an s px grid moved to ``grid`` (s * factor px,
    same offset): factor 0.5 gives the four chips inside each example, 2 the chip containing it
    (with ``labels``, the s px map's labels (rows, cols), only where the map gives all four of
    its s px chips the example's class: a 2s chip around a small particle is mostly support).
    Chips outside ``grid`` and chips claimed by two classes are left out."""
    if factor == 0.5:
        moved = {
            k: [(2 * r + i, 2 * c + j) for r, c in v for i in (0, 1) for j in (0, 1)]
            for k, v in support.items()
        }
    elif factor == 2:
        moved = {k: sorted({(r // 2, c // 2) for r, c in v}) for k, v in support.items()}
        if labels is not None:
            moved = {
                k: [
                    (r, c)
                    for r, c in v
                    if (labels[2 * r : 2 * r + 2, 2 * c : 2 * c + 2] == k).all()
                ]
                for k, v in moved.items()
            }
    else:
        raise ValueError(f"chip size factor must be 0.5 or 2, got {factor}")
    owners: dict[tuple[int, int], set[int]] = {}
    for k, v in moved.items():
        for rc in v:
            owners.setdefault(rc, set()).add(k)
    return {
        k: [(r, c) for r, c in v if r < grid.rows and c < grid.cols and len(owners[(r, c)]) == 1]
        for k, v in moved.items()
    }


def neighbour_fractions(
    frames: Sequence[np.ndarray],
    support: Sequence[Support],
    *,
    encoder: Encoder,
    chip_size: int,
    offset: tuple[int, int] = (0, 0),
    options: SegmentOptions | None = None,
    targets: Sequence[int] = (0,),
    max_chips: int = 16_384,
    embedder: Callable[[int, int], Embedded] | None = None,
    labels: Sequence[np.ndarray | None] | None = None,
) -> dict[int, list[list[float]]]:
    """Class fractions of the ``targets`` images at half and double the chip size.

    frames: one normalised frame (H, W) per image (``normalised_frames(...)[0]``); support: the
    chips picked on each at ``chip_size`` (moved by ``rescale_support``). Returns {chip size:
    [fractions per target]} for each neighbouring size that is >= 8 px, fits the images, keeps
    >= 1 chip of every class and cuts at most ``max_chips`` chips in all (no bootstrap: only the
    labels are compared). Feeds ``uncertainty.chip_size_sensitivity``. ``embedder(i, size)``
    gives image i embedded at ``size`` (a job's goes through its embeddings cache); by default
    frame i is embedded here. ``labels``: each image's map at ``chip_size`` (or None), which
    decides where an example still holds at double the chip size (``rescale_support``).
    """
    opts = replace(options or SegmentOptions(), bootstrap=0)
    shortest = min(min(f.shape) for f in frames)
    out: dict[int, list[list[float]]] = {}
    for factor in (0.5, 2):
        size = int(chip_size * factor)
        if size < 8 or size > shortest - max(offset):
            continue
        grids = [ChipGrid.for_shape(f.shape, size, offset) for f in frames]
        if sum(g.n_chips for g in grids) > max_chips:
            continue
        moved = [
            rescale_support(sup, factor, g, None if labels is None else labels[i])
            for i, (sup, g) in enumerate(zip(support, grids, strict=True))
        ]
        classes = {k for sup in support for k, v in sup.items() if v}
        if {k for sup in moved for k, v in sup.items() if v} != classes:
            continue
        embedded = [
            embedder(i, size)
            if embedder is not None
            else embed_frames(
                f[None], encoder=encoder, chip_size=size, offset=offset, seed=opts.seed
            )
            for i, f in enumerate(frames)
        ]
        segmenter = Segmenter.fit(embedded, moved, encoder=encoder, options=opts)
        out[size] = [
            segmenter.classify(
                embedded[i].embeddings[0], grid=embedded[i].grid, pixels=frames[i]
            ).stats["fractions"]
            for i in targets
        ]
    return out
