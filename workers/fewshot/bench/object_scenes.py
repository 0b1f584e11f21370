"""The particle benchmark's inputs (``bench.objects``): generated scenes with known instances
(``touching_scene``), the simulator's particle cases, and the pixel maps to measure
(Chiplab's, the peer's).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from workers.fewshot import sim
from workers.fewshot.bench.methods import PeerConfig, PixelForestPeer
from workers.fewshot.bench.sampling import sample_support
from workers.fewshot.chipping import ChipGrid


@dataclass(frozen=True)
class ObjectCase:
    """A generated particle scene: radii (px), fraction of discs in clusters of 2-3 whose
    neighbours overlap by ``overlap`` x the smaller radius (0: just touching), fraction of
    ellipses (aspect range), log-normal radii when ``lognormal`` (median, sigma)."""

    name: str
    radius: tuple[float, float] = (4.0, 16.0)
    cluster: float = 0.5
    overlap: tuple[float, float] = (0.0, 0.2)
    ellipses: float = 0.0
    aspect: tuple[float, float] = (1.5, 3.5)
    lognormal: tuple[float, float] | None = None
    coverage: float = 0.25
    chip_size: int = 16


CASES: dict[str, ObjectCase] = {
    c.name: c
    for c in [
        ObjectCase("discs_small_touching", radius=(2.0, 4.0), cluster=0.5, chip_size=8),
        ObjectCase("discs_touching", radius=(4.0, 16.0), cluster=0.6),
        ObjectCase("discs_overlapping", radius=(4.0, 16.0), cluster=0.6, overlap=(0.2, 0.5)),
        ObjectCase("ellipses", radius=(3.0, 10.0), cluster=0.0, ellipses=1.0),
        ObjectCase(
            "lognormal_mixture", lognormal=(7.0, 0.45), cluster=0.4, ellipses=0.3, chip_size=16
        ),
    ]
}
SIM_CASES = ("particles_round_faceted", "particles_round_rod", "particles_two_materials")


def _radius(case: ObjectCase, rng: np.random.Generator) -> float:
    if case.lognormal:
        return float(np.clip(case.lognormal[0] * math.exp(rng.normal(0, case.lognormal[1])), 2, 40))
    return float(rng.uniform(*case.radius))


def touching_scene(
    case: ObjectCase, rng: np.random.Generator, size: tuple[int, int] = (512, 512)
) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W) float32 counts, instances (H, W) int32 0 = support, 1..n particles)."""
    h, w = size
    shapes = []  # (cy, cx, a, b, angle_rad)
    placed = np.zeros((0, 3))  # (cy, cx, bounding radius) of whole groups
    area, target = 0.0, case.coverage * h * w
    for _ in range(5000):
        if area >= target:
            break
        r = _radius(case, rng)
        cy, cx = rng.uniform(-r, h + r), rng.uniform(-r, w + r)
        if rng.random() < case.ellipses:
            q = rng.uniform(*case.aspect)
            group = [(cy, cx, r * math.sqrt(q), r / math.sqrt(q), rng.uniform(0, math.pi))]
        else:
            group = [(cy, cx, r, r, 0.0)]
            if rng.random() < case.cluster:
                for _ in range(int(rng.integers(1, 3))):  # 1-2 touching neighbours
                    py, px, pr = group[-1][:3]
                    r2 = _radius(case, rng)
                    v = rng.uniform(*case.overlap)
                    d = pr + r2 - v * min(pr, r2)
                    for _ in range(20):  # a chain: no deeper overlap with earlier members
                        ang = rng.uniform(0, 2 * math.pi)
                        ny, nx = py + d * math.sin(ang), px + d * math.cos(ang)
                        if all(
                            math.hypot(ny - g[0], nx - g[1]) >= g[2] + r2 - v * min(g[2], r2)
                            for g in group[:-1]
                        ):
                            group.append((ny, nx, r2, r2, 0.0))
                            break
        ys = np.array([g[0] for g in group])
        xs = np.array([g[1] for g in group])
        gy, gx = ys.mean(), xs.mean()
        bound = max(np.hypot(ys - gy, xs - gx) + np.array([g[2] for g in group]))
        if placed.size:
            gap = np.hypot(placed[:, 0] - gy, placed[:, 1] - gx) - placed[:, 2] - bound
            if gap.min() < 3:
                continue
        placed = np.vstack([placed, (gy, gx, bound)])
        shapes.extend(group)
        area += sum(math.pi * g[2] * g[3] for g in group)
    truth = np.zeros(size, np.int32)
    depth = np.full(size, np.inf)
    height = np.zeros(size, np.float32)
    for i, (cy, cx, a, b, t) in enumerate(shapes, start=1):
        ext = math.ceil(max(a, b)) + 2
        y0, y1 = max(0, int(cy) - ext), min(h, int(cy) + ext + 1)
        x0, x1 = max(0, int(cx) - ext), min(w, int(cx) + ext + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1)[:, None] - cy
        xx = np.arange(x0, x1)[None, :] - cx
        u = math.cos(t) * xx + math.sin(t) * yy
        v = -math.sin(t) * xx + math.cos(t) * yy
        nd = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        take = (nd < 1) & (nd < depth[y0:y1, x0:x1])
        truth[y0:y1, x0:x1][take] = i
        depth[y0:y1, x0:x1][take] = nd[take]
        dome = np.sqrt(np.clip(1 - nd**2, 0, None)).astype(np.float32)
        height[y0:y1, x0:x1] = np.maximum(height[y0:y1, x0:x1], 0.4 + 0.6 * dome * (nd < 1))
    # Relabel so that ids are consecutive (particles wholly outside the frame drew nothing).
    _, truth = np.unique(truth, return_inverse=True)
    truth = truth.reshape(size).astype(np.int32)
    ideal = 0.15 + height + 0.05 * ndimage.gaussian_filter(rng.normal(size=size), 3)
    image = rng.poisson(40 * ndimage.gaussian_filter(ideal, 1.0).clip(0, None)).astype(np.float32)
    return image, truth


def peer_pixel_map(
    image: np.ndarray,
    chip_labels: np.ndarray,
    grid: ChipGrid,
    *,
    k: int,
    rng: np.random.Generator,
    cfg: PeerConfig | None = None,
    pixel_truth: np.ndarray | None = None,
) -> np.ndarray:
    """The peer's pixel map (H, W) int class ids: ``PixelForestPeer``'s features and forest on
    the pixels of ``k`` support chips per class (drawn from ``chip_labels``), before its vote.

    Each support pixel is labelled with its chip's class (the peer), or with its own class from
    ``pixel_truth`` (H, W) when given (brush-painted support chips, the ilastik way)."""
    peer = PixelForestPeer(cfg or PeerConfig(n_jobs=2))
    peer.prepare(image, grid)
    return peer.pixel_labels(sample_support(chip_labels, k, rng), pixel_truth=pixel_truth)


_ENCODER = None


def chiplab_pixel_map(
    image: np.ndarray,
    chip_labels: np.ndarray,
    grid: ChipGrid,
    *,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """What a job gives (H, W) int class ids, -1 uncovered: the default encoder's chip
    segmentation from ``k`` support chips per class (drawn from ``chip_labels`` as
    ``peer_pixel_map`` draws them, so the same chips for the same ``rng``), then the pixel map
    (``pixels.pixel_map``)."""
    global _ENCODER
    # the encoder and pipeline load torch: only the Chiplab maps need it
    from workers.fewshot.encoders import build_encoder
    from workers.fewshot.pipeline import Segmenter, SegmentOptions, embed

    if _ENCODER is None:
        _ENCODER = build_encoder("default")
    support = sample_support(chip_labels, k, rng)
    emb = embed(image, encoder=_ENCODER, chip_size=grid.chip_size, offset=grid.offset)
    segmenter = Segmenter.fit([emb], [support], encoder=_ENCODER, options=SegmentOptions())
    seg = segmenter.classify(
        emb.embeddings[0], grid=emb.grid, pixels=emb.frames[0], support=support
    )
    return seg.pixel_map.labels.astype(np.int32)  # the core's pixel map, as a job stores it


def scenes(name: str, n_images: int, size: int):
    """Yield (label, image, class map, {class_id: truth instance map}, chip size) per image."""
    if name in CASES:
        case = CASES[name]
        for seed in range(n_images):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            image, truth = touching_scene(case, rng, (size, size))
            yield image, (truth > 0).astype(np.int32), {1: truth}, case.chip_size
    else:
        for seed in range(n_images):
            s = sim.generate(name, seed=seed, size=(size, size))
            eight = np.ones((3, 3), bool)
            per_class = {
                c: ndimage.label(s.truth == c, structure=eight)[0].astype(np.int32)
                for c in range(1, len(s.class_names))
            }
            yield s.image, s.truth, per_class, 32
