"""The benchmark's case sets, kept apart: "seen" and "selection" choose settings, "unseen" and
"real" report.

- seen (selection): ``sim.CASES`` + ``sim.TEXTURE_CASES``, the cases settings were chosen on;
  the encoder trained on ``sim.random_scene``, which shares their rendering code.
- selection (selection): ``workers.fewshot.selection``, cases of every group (particles,
  lattices, textures) rendered by code of its own (neither the training simulator's nor the
  report set's), for choosing training recipes and settings without rewarding familiarity with
  the training scenes.
- unseen (report): ``workers.fewshot.unseen``, other rendering code, imaging and parameters.
- real (report): real micrographs with hand-checked chip truth (``unseen.real``); one fixed
  image each, chip size and grid given by its truth file.

A set turns (case, image seed, size, chip size) into a ``Sample``: the raw image, its grid and
dense chip labels (-1: not scored), the pixel truth where there is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workers.fewshot.chipping import ChipGrid, chip_truth

__all__ = ["SETS", "Sample", "Suite", "particle_kinds", "set_of"]


@dataclass
class Sample:
    """One benchmark image.

    image: (H, W) raw; grid: its chip grid; labels: (rows, cols) dense class index 0..K-1, -1 =
    not scored; present: the case's class id of each dense index (K,); truth: (H, W) pixel truth
    in case class ids (None: chip truth only); mask: (H, W) dense pixel classes, -1 = ignored,
    for pixel scores (None: none); count_class: dense class whose objects are counted,
    n_objects: their true number (None: not counted) and n_objects_chips: the true number of
    8-connected groups of chips at least half covered by them (what a chip count can reach);
    object_classes: the dense classes that are kinds of object, which a job marks as objects
    (in a particle case every class but the support, class 0).
    """

    image: np.ndarray
    grid: ChipGrid
    labels: np.ndarray
    present: np.ndarray
    truth: np.ndarray | None = None
    mask: np.ndarray | None = None
    count_class: int | None = None
    n_objects: int | None = None
    n_objects_chips: int | None = None
    object_classes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Suite:
    """A named case set: {case: group} and ``load(case, seed, size, chip_size) -> Sample``.

    fixed: every seed gives the same image (real data): one image per case.
    """

    name: str
    title: str
    cases: Callable[[], dict[str, str]]
    load: Callable[[str, int, tuple[int, int], int], Sample]
    fixed: bool = False


def _from_pixels(image: np.ndarray, truth: np.ndarray, chip_size: int, group: str) -> Sample:
    grid = ChipGrid.for_shape(image.shape, chip_size)
    present, dense = np.unique(chip_truth(truth, grid), return_inverse=True)
    return Sample(
        image,
        grid,
        dense.reshape(grid.rows, grid.cols),
        present,
        truth,
        object_classes=particle_kinds(present, group),
    )


def particle_kinds(present: np.ndarray, group: str) -> tuple[int, ...]:
    """The dense classes that are kinds of object: in a particle case every class but the
    support (class 0 in every particle scene and truth file)."""
    return tuple(int(i) for i in np.flatnonzero(present != 0)) if group == "particles" else ()


def _seen_cases() -> dict[str, str]:
    # a set's generators load only when the set is used
    from workers.fewshot import sim

    return {n: s.group for n, s in (sim.CASES | sim.TEXTURE_CASES).items()}


def _seen_load(case: str, seed: int, size: tuple[int, int], chip_size: int) -> Sample:
    # a set's generators load only when the set is used
    from workers.fewshot import sim

    s = sim.generate(case, seed=seed, size=size)
    return _from_pixels(s.image, s.truth, chip_size, s.group)


def _selection_cases() -> dict[str, str]:
    # a set's generators load only when the set is used
    from workers.fewshot import selection

    return {n: c.group for n, c in selection.SELECTION_CASES.items()}


def _selection_load(case: str, seed: int, size: tuple[int, int], chip_size: int) -> Sample:
    # a set's generators load only when the set is used
    from workers.fewshot import selection

    s = selection.generate(case, seed=seed, size=size)
    return _from_pixels(s.image, s.truth, chip_size, s.group)


def _unseen_cases() -> dict[str, str]:
    # a set's generators load only when the set is used
    from workers.fewshot import unseen

    return {n: c.group for n, c in unseen.UNSEEN_CASES.items()}


def _unseen_load(case: str, seed: int, size: tuple[int, int], chip_size: int) -> Sample:
    # a set's generators load only when the set is used
    from workers.fewshot import unseen

    s = unseen.generate(case, seed=seed, size=size)
    return _from_pixels(s.image, s.truth, chip_size, s.group)


def _real_cases() -> dict[str, str]:
    # a set's generators load only when the set is used
    from workers.fewshot.unseen.real import REAL_CASES

    return {n: c.group for n, c in REAL_CASES.items()}


def _real_load(case: str, seed: int, size: tuple[int, int], chip_size: int) -> Sample:
    """The real image at its own chip size and grid (``seed``, ``size``, ``chip_size`` unused)."""
    # only the real set needs it (loaded with the set)
    from scipy import ndimage

    from workers.fewshot.unseen.real import load_real

    r = load_real(case)
    grid = ChipGrid.for_shape(r.image.shape, r.chip_size, offset=r.offset)
    present = np.unique(r.chip_labels[r.chip_labels >= 0])
    dense = np.where(r.chip_labels >= 0, np.searchsorted(present, r.chip_labels), -1)
    sample = Sample(r.image, grid, dense, present, object_classes=particle_kinds(present, r.group))
    if r.mask is not None:
        # truth/README: 0 support, 1 particle, 2 edge band (particle for counts, left out of
        # pixel scores)
        sample.mask = np.where(r.mask == 2, -1, np.searchsorted(present, np.minimum(r.mask, 1)))
        if r.count_class is not None:
            sample.count_class = int(np.searchsorted(present, r.count_class))
            sample.n_objects = int(ndimage.label(r.mask > 0)[1])
            # the most a chip-level count can find: groups of chips at least half particle
            g = grid
            inside = r.mask[g.offset[0] :, g.offset[1] :][
                : g.rows * g.chip_size, : g.cols * g.chip_size
            ]
            frac = (inside > 0).reshape(g.rows, g.chip_size, g.cols, g.chip_size).mean((1, 3))
            sample.n_objects_chips = int(ndimage.label(frac >= 0.5, np.ones((3, 3)))[1])
    return sample


SETS: dict[str, Suite] = {
    s.name: s
    for s in [
        Suite("seen", "seen (selection)", _seen_cases, _seen_load),
        Suite("selection", "selection (selection)", _selection_cases, _selection_load),
        Suite("unseen", "unseen (report)", _unseen_cases, _unseen_load),
        Suite("real", "real micrographs (report)", _real_cases, _real_load, fixed=True),
    ]
}


def set_of(case: str) -> Suite:
    """The set a case belongs to (case names are unique across sets)."""
    for suite in SETS.values():
        if case in suite.cases():
            return suite
    known = ", ".join(c for s in SETS.values() for c in s.cases())
    raise KeyError(f"unknown case {case!r}; known: {known}")
