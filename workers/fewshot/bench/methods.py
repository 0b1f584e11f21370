"""Methods compared by the benchmark: the engine's encoders and the pixel-classifier peer.

A method is prepared once per image (embedding, feature stack: the work an interactive tool
caches) and then predicts chip labels for many support sets. Both kinds see the same
information: the support chips and their class, nothing else.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from workers.fewshot.bench.sampling import Support
from workers.fewshot.chipping import ChipGrid, chip_truth, normalise

__all__ = [
    "EncoderMethod",
    "Method",
    "PeerConfig",
    "PixelForestPeer",
    "available_encoders",
    "engine_encoder",
    "weights_fingerprint",
]


class Method(Protocol):
    """Interface of a benchmarked method."""

    name: str

    def prepare(
        self, image: np.ndarray, grid: ChipGrid, *, object_classes: tuple[int, ...] = ()
    ) -> float:
        """Per-image work (raw (H, W) image); returns its duration in seconds.
        ``object_classes``: the classes a user marks as objects (``Sample.object_classes``)."""

    def predict(self, support: Support) -> tuple[np.ndarray, float]:
        """Chip labels (rows, cols) int for a support set {class: [(r, c)]}, and seconds taken."""


def available_encoders(
    names: list[str], *, weights: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Build the named engine encoders on CPU -> ({name: encoder}, {name: reason it is skipped}).

    ``weights`` is a directory written by ``save_encoder`` for the default encoder (e.g. a
    training run's output); None uses the committed weights.
    """
    built, skipped = {}, {}
    for name in names:
        try:
            built[name] = engine_encoder(name, weights=weights)
        except Exception as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}"
    return built, skipped


def engine_encoder(name: str, *, weights: str | None = None, device: str = "cpu") -> Any:
    """Build an engine encoder (on the CPU unless ``device`` says otherwise); ``weights`` (a
    ``save_encoder`` directory) replaces the committed weights of the default encoder and is
    ignored for the others."""
    # torch (encoders, pipeline): not loaded where only the peer runs (bench.speed)
    from workers.fewshot.encoders import build_encoder

    options = {"weights": weights} if weights and name == "default" else {}
    return build_encoder(name, device=device, **options)


def weights_fingerprint(encoder: Any) -> str | None:
    """Short sha256 of an encoder's learned tensors (None for training-free encoders).

    Identifies exactly which weights produced a set of figures, whatever file they came from.
    """
    state = encoder.state_dict()
    if not state:
        return None
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class EncoderMethod:
    """An engine encoder run through the segmentation core as a job runs it: ``embed`` once per
    image, then ``Segmenter.fit`` + ``classify`` per support set (default options, no
    bootstrap; ``boundary=False`` turns the boundary refinement off, to measure what it adds;
    ``object_kinds=True`` turns one kind per particle on, as a job's opt-in param does)."""

    def __init__(
        self,
        name: str,
        encoder: Any,
        *,
        seed: int = 0,
        boundary: bool = True,
        pixel_vote: bool = True,
        object_kinds: bool = False,
    ) -> None:
        # torch (encoders, pipeline): not loaded where only the peer runs (bench.speed)
        from workers.fewshot.boundary import BoundaryConfig
        from workers.fewshot.pipeline import SegmentOptions

        self.name = name
        self._encoder = encoder
        self._object_kinds = object_kinds
        self.options = SegmentOptions(
            bootstrap=0,
            seed=seed,
            boundary=BoundaryConfig() if boundary else None,
            pixel_vote=pixel_vote,
        )
        self._embedded = None

    def prepare(
        self, image: np.ndarray, grid: ChipGrid, *, object_classes: tuple[int, ...] = ()
    ) -> float:
        """Embed the image once (normalise + embed, timed); the object classes are marked as
        a job marks them (``SegmentOptions.object_classes``); with ``object_kinds`` they are
        also the kinds of particle (``SegmentOptions.object_kinds``, a job's opt-in
        ``object_kinds`` param with the classes marked as objects)."""
        kinds = tuple(object_classes) if self._object_kinds else ()
        self.options = replace(
            self.options, object_kinds=kinds, object_classes=tuple(object_classes)
        )
        # torch (encoders, pipeline): not loaded where only the peer runs (bench.speed)
        from workers.fewshot.pipeline import embed

        t0 = time.perf_counter()
        self._embedded = embed(
            image,
            encoder=self._encoder,
            chip_size=grid.chip_size,
            offset=grid.offset,
            seed=self.options.seed,
        )
        return time.perf_counter() - t0

    def predict(self, support: Support) -> tuple[np.ndarray, float]:
        """Fit to the support set and classify every chip of the prepared image."""
        # torch (encoders, pipeline): not loaded where only the peer runs (bench.speed)
        from workers.fewshot.pipeline import Segmenter

        t0 = time.perf_counter()
        img = self._embedded
        segmenter = Segmenter.fit(
            [img],
            [support],
            encoder=self._encoder,
            options=self.options,
        )
        # as a job does: the clicked chips are known (interval) and train the pixel map
        seg = segmenter.classify(
            img.embeddings[0], grid=img.grid, pixels=img.frames[0], support=support
        )
        return np.asarray(seg.labels), time.perf_counter() - t0


@dataclass(frozen=True)
class PeerConfig:
    """The ilastik / Trainable-Weka style peer as scikit-image implements it.

    Features: ``skimage.feature.multiscale_basic_features`` (intensity, edges, texture at
    sigmas ``sigma_min``..``sigma_max``); classifier: a random forest on the support chips' pixels
    (each labelled with its chip's class); chip label: majority vote of its predicted pixels.
    """

    n_estimators: int = 50
    max_depth: int = 10
    sigma_min: float = 1.0
    sigma_max: float = 16.0
    n_jobs: int = -1
    seed: int = 0


class PixelForestPeer:
    """Pixel classification (features + random forest) voted per chip."""

    name = "peer_rf"

    def __init__(self, cfg: PeerConfig | None = None) -> None:
        self.cfg = cfg or PeerConfig()
        self._features: np.ndarray | None = None
        self._grid: ChipGrid | None = None

    def prepare(
        self, image: np.ndarray, grid: ChipGrid, *, object_classes: tuple[int, ...] = ()
    ) -> float:
        """Compute the multiscale feature stack (H, W, F) once (pixels know no objects)."""
        # heavy (scikit-image): only the peer needs it
        from skimage.feature import multiscale_basic_features

        t0 = time.perf_counter()
        self._features = multiscale_basic_features(
            normalise(image),
            intensity=True,
            edges=True,
            texture=True,
            sigma_min=self.cfg.sigma_min,
            sigma_max=self.cfg.sigma_max,
            channel_axis=None,
        ).astype(np.float32)
        self._grid = grid
        return time.perf_counter() - t0

    def predict(self, support: Support) -> tuple[np.ndarray, float]:
        """Train the forest on support-chip pixels, predict all pixels, vote per chip."""
        t0 = time.perf_counter()
        chips = chip_truth(self.pixel_labels(support), self._grid)
        return chips, time.perf_counter() - t0

    def pixel_labels(
        self, support: Support, *, pixel_truth: np.ndarray | None = None
    ) -> np.ndarray:
        """The forest's class per pixel (H, W) for a support set, before the vote per chip.

        Each support chip's pixels are labelled with the chip's class (the peer), or with their
        own class from ``pixel_truth`` (H, W) when given (brush-painted chips, as in ilastik).
        """
        # heavy (scikit-image, scikit-learn): only the peer needs them
        from skimage.future import fit_segmenter, predict_segmenter
        from sklearn.ensemble import RandomForestClassifier

        grid = self._grid
        train = np.zeros((grid.height, grid.width), np.int32)  # 0 = unlabelled
        for c, chips in support.items():
            for r, col in chips:
                y0, x0, y1, x1 = grid.chip_box(r, col)
                train[y0:y1, x0:x1] = (
                    c + 1 if pixel_truth is None else pixel_truth[y0:y1, x0:x1] + 1
                )
        clf = RandomForestClassifier(
            n_estimators=self.cfg.n_estimators,
            max_depth=self.cfg.max_depth,
            n_jobs=self.cfg.n_jobs,
            random_state=self.cfg.seed,
        )
        clf = fit_segmenter(train, self._features, clf)
        return predict_segmenter(self._features, clf) - 1
