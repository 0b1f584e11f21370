"""Support-set guidance: warnings about classes with too few or clustered examples."""

from __future__ import annotations

from ..models import Grid

MIN_PER_CLASS, MAX_PER_CLASS = 2, 10


def _half(index: int, size: int) -> int | None:
    """-1 / +1 for the first / second half of ``size`` cells; None for a middle cell."""
    centre, middle = 2 * index + 1, size
    return None if centre == middle else (-1 if centre < middle else 1)


_QUADRANT = {
    (-1, -1): "top-left",
    (-1, 1): "top-right",
    (1, -1): "bottom-left",
    (1, 1): "bottom-right",
}


def guidance_warnings(
    chips: list[dict],
    *,
    classes: list[dict],
    grids: dict[str, Grid],
    applies: set[str] | None = None,
) -> list[str]:
    """Advice on a support set: 2–10 chips per class, spread over the image(s).

    ``applies``: the classes of the images concerned (``labeling.image_classes``); a class
    that applies to none of them and has no chips is not worth a warning (another material).
    """
    warnings = []
    for cls in classes:
        mine = [c for c in chips if c["class"] == cls["id"]]
        name, n = cls["name"], len(mine)
        if n == 0 and applies is not None and cls["id"] not in applies:
            continue
        if n == 0:
            warnings.append(f"'{name}' has no chips; it is left out of the support set.")
            continue
        if n < MIN_PER_CLASS:
            warnings.append(
                f"'{name}' has only {n} chip; give at least {MIN_PER_CLASS} examples per class."
            )
        elif n > MAX_PER_CLASS:
            warnings.append(
                f"'{name}' has {n} chips; more than {MAX_PER_CLASS} examples per "
                "class rarely improve a few-shot prototype."
            )
        if n >= MIN_PER_CLASS and len({c["grid"] for c in mine}) == 1:
            grid = grids[mine[0]["grid"]]
            halves = {(_half(c["row"], grid.rows), _half(c["col"], grid.cols)) for c in mine}
            if len(halves) == 1 and (quadrant := _QUADRANT.get(halves.pop())):
                warnings.append(
                    f"All {n} chips of '{name}' come from the {quadrant} quadrant "
                    "of one image; spread the examples over the image."
                )
    return warnings
