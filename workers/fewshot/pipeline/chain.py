"""``segment`` / ``segment_images``: embed, fit and classify in one call."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workers.fewshot.encoders import Encoder, build_encoder
from workers.fewshot.pipeline.embedding import embed
from workers.fewshot.pipeline.options import Segmentation, SegmentOptions, Support
from workers.fewshot.pipeline.runtime import Timer
from workers.fewshot.pipeline.segmenter import Segmenter


def segment(
    image: np.ndarray,
    *,
    chip_size: int,
    support: Support,
    encoder: Encoder | str = "default",
    offset: tuple[int, int] = (0, 0),
    pixel_size: float | None = None,
    pixel_unit: str | None = None,
    options: SegmentOptions | None = None,
) -> Segmentation:
    """Segment one image from support chips {class id: [(row, col), ...]} (see segment_images)."""
    return segment_images(
        [image],
        chip_size=chip_size,
        support=[support],
        encoder=encoder,
        offset=offset,
        pixel_size=pixel_size,
        pixel_unit=pixel_unit,
        options=options,
    )[0]


def segment_images(
    images: Sequence[np.ndarray],
    *,
    chip_size: int,
    support: Sequence[Support],
    encoder: Encoder | str = "default",
    offset: tuple[int, int] = (0, 0),
    pixel_size: float | Sequence[float | None] | None = None,
    pixel_unit: str | None = None,
    options: SegmentOptions | None = None,
) -> list[Segmentation]:
    """Segment several images (frame 0 of each) with one pooled support set: ``embed`` each,
    ``Segmenter.fit`` on all, ``classify`` each. Timings add the embedding and fitting stages
    to each result's classification stages."""
    opts = options or SegmentOptions()
    sizes = list(pixel_size) if isinstance(pixel_size, Sequence) else [pixel_size] * len(images)
    enc = build_encoder(encoder) if isinstance(encoder, str) else encoder
    timer = Timer()
    embedded = [
        embed(img, encoder=enc, chip_size=chip_size, offset=offset, seed=opts.seed)
        for img in images
    ]
    timer.lap("embed")
    segmenter = Segmenter.fit(embedded, support, encoder=enc, options=opts)
    timer.lap("prototypes")
    results = []
    for img, size, chips in zip(embedded, sizes, support, strict=True):
        seg = segmenter.classify(
            img.embeddings[0],
            grid=img.grid,
            pixels=img.frames[0],
            pixel_size=size,
            pixel_unit=pixel_unit,
            support=chips,
        )
        stages = {**timer.timings, **{k: v for k, v in seg.timings.items() if k != "total"}}
        seg.timings = {k: round(v, 4) for k, v in stages.items()}
        seg.timings["total"] = round(sum(stages.values()), 4)
        seg.cpu_timings = {k: round(v, 4) for k, v in timer.cpu.items()} | seg.cpu_timings
        results.append(seg)
    return results
