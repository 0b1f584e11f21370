"""The segmentation core's options and results: SegmentOptions, Embedded, Segmentation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workers.fewshot.boundary import BoundaryConfig
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.memo import ChipMemo
from workers.fewshot.metric import METRIC_SHRINKAGE
from workers.fewshot.pixels import PixelConfig, PixelMap
from workers.fewshot.spatial import MEAN_FIELD_STRENGTH

Support = dict[int, list[tuple[int, int]]]


@dataclass(frozen=True)
class SegmentOptions:
    """Classifier options (defaults are the measured best; see CONTRACT.md).

    temperature: float, "encoder" (the encoder's trained temperature, else auto) or "auto"
        (leave-one-out calibration on the support chips).
    refine: transductive prototype refinement with confident queries (threshold, weight).
    smooth: strength of the 4-neighbour smoothing of log probabilities (0 = off).
    bootstrap: number of support resamples for the abundance uncertainty (0 = off).
    seed: seeds the embedding (where an encoder is stochastic) and the bootstrap.
    boundary: re-decide chips on class boundaries by unmixing area-linear features against
        local prototypes (``workers.fewshot.boundary``; None = off). Their probabilities become
        the estimated class fractions of the chip.
    weighting: per-task weights of the encoder's feature groups chosen on the support chips
        ("loo": leave-one-out, ``workers.fewshot.weighting``; None = the embedding as is),
        where no class is an object (``task_weighting``).
    calibration: "per-chip" (``uncertainty.calibrated_probs``: a temperature per chip from the
        image's own distances, so confidence means what it says on data the encoder never saw
        and a chip like no example is not shown as certain) or None (softmax at ``temperature``;
        labels are the same either way without smoothing).
    pixel_vote: make the pixel map (``workers.fewshot.pixels``, returned as
        ``Segmentation.pixel_map``) and give each chip the class most of its pixels have;
        a chip whose label changes gets the mean of its pixel shares and its classifier
        probabilities (so a disagreement shows as low confidence). Needs the frame's pixels.
        Chosen on the seen cases (k = 3: lattices 0.966 -> 0.979, particles 0.724 -> 0.739,
        textures 0.816 -> 0.839 chip mIoU).
    peaks: append the support-peak group (``workers.fewshot.spectral_peaks``: log Gabor
        amplitudes at the support chips' spectral peaks), which ``weighting`` switches on only
        where it helps on the support chips; needs boundary refinement (its frequencies and
        chip features) and the weighting (without it the group is not added).
    mean_field: strength of the spatial prior (``workers.fewshot.spatial``: contrast-sensitive
        mean-field smoothing of the chip probabilities over 8-neighbours; 0 = off; not applied
        when a class has a single example).
    metric: shrinkage of the per-task metric (``workers.fewshot.metric``: distances after
        whitening by the support chips' within-class covariance shrunk towards isotropy,
        applied after the group weights; None = Euclidean). Needs a class with >= 2 chips.
    object_kinds: classes that are kinds of object (e.g. round and rod-shaped particles);
        with two or more of them and the pixel vote, each particle of the pixel map gets one
        kind from its pixels and its shape and intensity profile (``objects.kinds``), before
        the chips are voted. () = off (the default: seen particles k = 3 chip mIoU 0.743 ->
        0.759, unseen 0.712 -> 0.709; docs/benchmarks.md).
    texture_view: append the texture view to the task space (``pipeline.taskspace``: the
        chips' local binary pattern histograms with a within-class metric of their own) where
        no class is an object and a class has >= 2 examples; False = off.
    support_shifts: fit the task space and the prototypes to copies of each example chip
        shifted by a quarter chip in four directions as well (``pipeline.shifted``), where no
        class is an object and the metric is on; False = off.
    object_classes: the classes marked as objects (particles, precipitates): their class is
        told by intensity, so the texture view and the group weighting stay off. Jobs take
        them from the class table.
    object_edges: with the pixel vote, the object classes' outlines in the pixel map follow
        the frame's intensity (``pixels.edges``) before the chips are voted; False = off.
    pixel_config: the pixel map's settings (``pixels.PixelConfig``; None = its defaults, what
        jobs run): ``bench.pixels`` varies them through the same path.
    """

    temperature: float | str = "encoder"
    refine: bool = False
    refine_threshold: float = 0.9
    refine_weight: float = 1.0
    smooth: float = 0.0
    bootstrap: int = 200
    ci: float = 0.95
    seed: int = 0
    boundary: BoundaryConfig | None = field(default_factory=BoundaryConfig)
    weighting: str | None = "loo"
    calibration: str | None = "per-chip"
    pixel_vote: bool = True
    mean_field: float = MEAN_FIELD_STRENGTH
    peaks: bool = True
    metric: float | None = METRIC_SHRINKAGE
    object_kinds: tuple[int, ...] = ()
    texture_view: bool = True
    support_shifts: bool = True
    object_classes: tuple[int, ...] = ()
    object_edges: bool = True
    pixel_config: PixelConfig | None = None

    @property
    def task_weighting(self) -> str | None:
        """The group weighting this task runs: ``weighting`` where no class is an object.

        An example of a particle is a chip that is partly support, so its features vary with
        how much of it the particle covers: leave-one-out over three such chips chose groups
        on noise, and most often dropped the intensity that tells a particle from its support.
        Chosen on both selection sets (chip mIoU at k = 3 / 5, 10 draws, on -> off): selection
        particles 0.604 / 0.635 -> 0.625 / 0.643, seen particles 0.743 / 0.782 -> 0.750 /
        0.783; region tasks keep it (seen tilted grains 0.948 on, 0.503 off).
        """
        return None if self.object_classes else self.weighting


@dataclass
class Embedded:
    """One image embedded once: frames (T, H, W) normalised pixels (None where not kept),
    grid, embeddings (T, rows, cols, D) float32; ``memo`` what earlier fits computed per
    support chip of frame 0 (``memo.ChipMemo``): the embeddings of its shifted copies, off the
    grid, by the same encoder; its window's spectrum; its Gabor features."""

    frames: np.ndarray | None
    grid: ChipGrid
    embeddings: np.ndarray
    memo: ChipMemo = field(default_factory=ChipMemo)


@dataclass
class Segmentation:
    """Result for one frame.

    labels (rows, cols) int64 class ids; probs (rows, cols, K) float32, columns in the order of
    ``classes``; confidence (rows, cols) float32; stats (stats.abundance); timings (s per stage);
    cpu_timings (the process's CPU s per stage, all threads).
    """

    labels: np.ndarray
    probs: np.ndarray
    confidence: np.ndarray
    stats: dict
    timings: dict[str, float]
    grid: ChipGrid
    classes: tuple[int, ...] = ()
    temperature: float = 1.0
    pixel_map: PixelMap | None = None
    cpu_timings: dict[str, float] = field(default_factory=dict)
