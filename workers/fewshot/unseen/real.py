"""Real micrographs with hand-checked chip truth, for validation only (never train or tune).

The data live outside the repository: ``$CHIPLAB_SHARED_DATA`` (default ``<repo>/../shared/data``),
laid out as ``pychip/<image>`` and ``truth/<name>_chips<size>.json`` (see its truth/README.md).
A missing file raises ``RealDataMissing`` naming the path and the variable.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["REAL_CASES", "RealCase", "RealDataMissing", "RealMicrograph", "data_dir", "load_real"]

ENV = "CHIPLAB_SHARED_DATA"


class RealDataMissing(FileNotFoundError):
    """A real micrograph or its truth is not where CHIPLAB_SHARED_DATA says."""


@dataclass(frozen=True)
class RealCase:
    """Files of one real micrograph, relative to the data directory.

    count_class: the class whose objects are counted (connected chips / mask components).
    """

    name: str
    group: str
    image: str
    chips: str
    mask: str | None = None
    count_class: int | None = None


@dataclass
class RealMicrograph:
    """A real image (H, W) float32 and its chip truth (rows, cols) int: class id or -1 (not
    scored), on the grid ``chip_size`` / ``offset``; ``mask`` (H, W) uint8 pixel truth if any."""

    name: str
    group: str
    image: np.ndarray
    chip_labels: np.ndarray
    chip_size: int
    offset: tuple[int, int]
    class_names: list[str]
    mask: np.ndarray | None = None
    count_class: int | None = None


REAL_CASES: dict[str, RealCase] = {
    c.name: c
    for c in [
        RealCase(
            "real_moo3_particles",
            "particles",
            "pychip/moo3_particles_jeol_stem_df.tiff",
            "truth/moo3_particles_chips16.json",
            "truth/moo3_particles_mask.png",
            count_class=1,
        )
    ]
}


def data_dir() -> Path:
    """The shared data directory: $CHIPLAB_SHARED_DATA, else <repo root>/../shared/data."""
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _path(relative: str) -> Path:
    path = data_dir() / relative
    if not path.is_file():
        raise RealDataMissing(
            f"real micrograph data not found: {path} (set {ENV} to the shared data directory, "
            f"default <repo>/../shared/data)"
        )
    return path


def load_real(name: str) -> RealMicrograph:
    """Read real case ``name``: image (tifffile / imageio), chip truth JSON and pixel mask."""
    case = REAL_CASES.get(name)
    if case is None:
        raise KeyError(f"unknown real case {name!r}; known: {', '.join(REAL_CASES)}")
    image_path, chips_path = _path(case.image), _path(case.chips)
    if image_path.suffix.lower() in (".tif", ".tiff"):
        # heavy: only TIFF files need it
        import tifffile

        image = tifffile.imread(image_path)
    else:
        # heavy: only non-TIFF images and masks need it
        import imageio.v3 as iio

        image = iio.imread(image_path)
    image = np.asarray(image, np.float32)
    if image.ndim == 3:  # RGB export of a grey image
        image = image[..., :3].mean(-1)
    truth = json.loads(chips_path.read_text())
    labels = np.asarray(truth["labels"], np.int64)
    size, offset = int(truth["chip_size"]), tuple(int(v) for v in truth.get("offset", (0, 0)))
    rows, cols = truth.get("grid", labels.shape)
    if labels.shape != (rows, cols) or labels.shape != (
        (image.shape[0] - offset[0]) // size,
        (image.shape[1] - offset[1]) // size,
    ):
        raise ValueError(f"{chips_path}: chip grid {labels.shape} does not fit {image.shape}")
    mask = None
    if case.mask:
        # heavy: only non-TIFF images and masks need it
        import imageio.v3 as iio

        mask = np.asarray(iio.imread(_path(case.mask)), np.uint8)
    return RealMicrograph(
        name,
        case.group,
        image,
        labels,
        size,
        offset,
        list(truth["classes"]),
        mask,
        case.count_class,
    )
