"""The one segmentation core, split where re-use pays: embed once -> fit to a support set ->
classify, many times.

    embedded = embed(image, encoder=enc, chip_size=32)              # the expensive step, cacheable
    seg = Segmenter.fit([embedded], [support], options=...,
                        encoder=enc)                          # prototypes, temperature
    result = seg.classify(embedded.embeddings[0], grid=embedded.grid,
                          pixels=embedded.frames[0])                 # labels, probs, statistics

Jobs (``platform/analysis/runner/``), the benchmarks, the fine-tuning evaluation and streams
all go through these three steps; ``segment``/``segment_images`` chain them for one call.

Modules: ``options`` (SegmentOptions, Embedded, Segmentation), ``runtime`` (deterministic torch,
thread counts, the stage timer), ``embedding`` (embed), ``segmenter`` (Segmenter.fit /
classify), ``taskspace`` (the support set's group weights and metric), ``shifted`` (the
example chips' quarter-chip copies the task space is fitted to as well), ``voting`` (boundary
unmixing and pixel-vote re-decisions), ``support`` (the support
check summary), ``multiscale`` (rescale_support, neighbour_fractions), ``chain`` (segment,
segment_images).
"""

from workers.fewshot.classifier import resolve_temperature
from workers.fewshot.pipeline.chain import segment, segment_images
from workers.fewshot.pipeline.embedding import embed, embed_frames, normalised_frames
from workers.fewshot.pipeline.multiscale import neighbour_fractions, rescale_support
from workers.fewshot.pipeline.options import Embedded, Segmentation, SegmentOptions, Support
from workers.fewshot.pipeline.runtime import deterministic, single_thread, torch_threads
from workers.fewshot.pipeline.segmenter import Segmenter
from workers.fewshot.pipeline.voting import VOTE_SHARE_WEIGHT

__all__ = [
    "VOTE_SHARE_WEIGHT",
    "Embedded",
    "SegmentOptions",
    "Segmentation",
    "Segmenter",
    "Support",
    "deterministic",
    "embed",
    "embed_frames",
    "neighbour_fractions",
    "normalised_frames",
    "rescale_support",
    "resolve_temperature",
    "segment",
    "segment_images",
    "single_thread",
    "torch_threads",
]
