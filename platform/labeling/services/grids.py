"""Chip grids over ready images."""

from django.conf import settings
from django.db import transaction

from accounts.models import Role
from accounts.selectors import require_role
from catalog.models import Image, ImageStatus
from common.errors import Conflict, Invalid
from common.jobs import enqueue_on_commit
from workers.fewshot.chipping import ChipGrid

from ..models import Grid

# --- grids -------------------------------------------------------------------------
#: smallest chip the encoders can describe (a few px hold no texture or lattice); images
#: smaller than this take one chip of their smaller side at most
MIN_CHIP_SIZE = 8


def _geometry(image: Image, chip_size: int, offset_x: int, offset_y: int) -> dict:
    """rows, cols and margins: the engine's ``ChipGrid`` is the one chip arithmetic."""
    try:
        grid = ChipGrid(image.height, image.width, chip_size, (offset_y, offset_x))
    except ValueError as err:  # no complete chip after the offset, or offset outside the image
        raise Invalid(
            "No complete chip fits in the image with this size and offset.",
            fields={"chip_size": ["too large for the offset"]},
        ) from err
    return {
        "rows": grid.rows,
        "cols": grid.cols,
        "margins": dict(zip(("top", "left", "bottom", "right"), grid.margins, strict=True)),
    }


def grid_restore(*, user, image: Image, chip_size: int, offset_x: int, offset_y: int) -> Grid:
    """The grid (chip size, offset) over an image being restored from a package (a dataset
    archive): made like :func:`grid_create`'s, but the image may still be ingesting and the
    caller has checked the role. Raises Invalid when no chip fits or there are too many."""
    geometry = _geometry(image, chip_size, offset_x, offset_y)
    if geometry["rows"] * geometry["cols"] > settings.CHIPLAB_MAX_CHIPS_PER_GRID:
        raise Invalid(
            f"{chip_size} px chips cut the {image.width}x{image.height} image {image.filename} "
            f"into more than the {settings.CHIPLAB_MAX_CHIPS_PER_GRID} chips a grid may have.",
            fields={"chip_size": ["too many chips"]},
        )
    grid, _ = Grid.objects.get_or_create(
        image=image,
        chip_size=chip_size,
        offset_x=offset_x,
        offset_y=offset_y,
        defaults={**geometry, "created_by": user},
    )
    return grid


@transaction.atomic
def grid_create(
    *, user, image: Image, chip_size: int, offset_x: int = 0, offset_y: int = 0
) -> tuple[Grid, bool]:
    """The grid (chip size, offset) over ``image``; creating the same grid again returns it."""
    require_role(user=user, lab_id=image.dataset.lab_id, role=Role.ANNOTATOR)
    if image.status != ImageStatus.READY:
        raise Conflict(f"The image is {image.status}; grids need a ready image.", code="not_ready")
    limit = min(image.width, image.height)
    low = min(MIN_CHIP_SIZE, limit)
    if not low <= chip_size <= limit:
        raise Invalid(
            f"Chip size must be between {low} and {limit} px for this "
            f"{image.width}x{image.height} image.",
            fields={"chip_size": ["range"]},
        )
    for axis, offset in (("offset_x", offset_x), ("offset_y", offset_y)):
        if not 0 <= offset < chip_size:
            raise Invalid(
                f"{axis} must be between 0 and {chip_size - 1} (less than a chip).",
                fields={axis: ["range"]},
            )
    geometry = _geometry(image, chip_size, offset_x, offset_y)
    n_chips = geometry["rows"] * geometry["cols"]
    if n_chips > settings.CHIPLAB_MAX_CHIPS_PER_GRID:
        raise Invalid(
            f"{chip_size} px chips cut this {image.width}x{image.height} image into {n_chips} "
            f"chips; a grid may have at most {settings.CHIPLAB_MAX_CHIPS_PER_GRID}. "
            "Choose larger chips.",
            fields={"chip_size": ["too many chips"]},
        )
    grid, created = Grid.objects.get_or_create(
        image=image,
        chip_size=chip_size,
        offset_x=offset_x,
        offset_y=offset_y,
        defaults={**geometry, "created_by": user},
    )
    if created and image.width * image.height >= settings.CHIPLAB_PREFETCH_MIN_PIXELS:
        # a large image: embed it while the user clicks examples, so Segment only classifies
        enqueue_on_commit("workers.tasks.segment.prefetch_embeddings", grid.pk)
    return grid, created
