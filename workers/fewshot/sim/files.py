"""Simulated micrographs as files and as labelled chips (demos, tests, benchmarks)."""

import io

import numpy as np
import tifffile

from workers.fewshot.chipping import ChipGrid, chip_truth
from workers.fewshot.sim.scene import SimImage


def tiff_bytes(scene: SimImage, *, frames: int = 1, description: str = "") -> bytes:
    """A calibrated 16-bit ImageJ TIFF of ``scene`` (``frames`` > 1: a time series of copies).

    Counts are a percentile stretch of the simulated intensities onto 0..60000.
    """
    lo, hi = np.percentile(scene.image, [0.1, 99.9])
    data = (np.clip((scene.image - lo) / max(hi - lo, 1e-9), 0, 1) * 60000).astype(np.uint16)
    if frames > 1:
        data = np.stack([data] * frames)
    metadata = {"unit": scene.pixel_unit, "axes": "TYX" if frames > 1 else "YX"}
    if description:
        metadata["Info"] = description
    buffer = io.BytesIO()
    tifffile.imwrite(
        buffer,
        data,
        imagej=True,
        metadata=metadata,
        resolution=(1 / scene.pixel_size, 1 / scene.pixel_size),
    )
    return buffer.getvalue()


def pure_chips(
    scene: SimImage, *, chip: int, per_class: int, seed: int = 0
) -> dict[int, list[tuple[int, int]]]:
    """``per_class`` chips (row, col) of every class that contain only that class, seeded."""
    truth, purity = chip_truth(
        scene.truth, ChipGrid.for_shape(scene.truth.shape, chip), return_purity=True
    )
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(len(scene.class_names)):
        candidates = np.argwhere((truth == k) & (purity >= 0.99))
        pick = candidates[rng.choice(len(candidates), size=per_class, replace=False)]
        out[k] = [(int(r), int(c)) for r, c in pick]
    return out
