"""Smooth random fields, generated coarse and upsampled so large correlation lengths stay cheap."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["smooth_field"]


def smooth_field(canvas: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-correlated noise with correlation length ~``scale`` px, zero mean, unit std, (H, W).

    Drawn on a grid ``scale / 4`` times coarser and zoomed back, which costs O(H W) for any scale.
    """
    h, w = canvas
    factor = max(1, int(scale // 4))
    small = (h // factor + 3, w // factor + 3)
    noise = ndimage.gaussian_filter(
        rng.standard_normal(small).astype(np.float32), scale / factor, mode="wrap"
    )
    field = ndimage.zoom(noise, factor, order=1, grid_mode=False)[:h, :w]
    field -= field.mean()
    field /= max(float(field.std()), 1e-12)
    return np.ascontiguousarray(field, np.float32)
