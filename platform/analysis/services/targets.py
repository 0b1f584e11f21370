"""The images a job segments and the grid of each (the support set's chip size and offset)."""

from __future__ import annotations

import uuid

from catalog.models import Image, ImageStatus
from catalog.selectors import dataset_get, image_get
from common.errors import Conflict, Invalid, NotFound
from labeling.models import Grid, SupportSetVersion
from labeling.services import grid_create

MAX_IMAGES = 1000


def target_images(*, user, lab_id, images) -> list[Image]:
    if isinstance(images, dict):
        if set(images) != {"dataset"}:
            raise Invalid(
                'Give images as a list of ids or as {"dataset": <id>}.',
                fields={"images": ["invalid"]},
            )
        dataset = dataset_get(user=user, dataset_id=_uuid(images["dataset"], "images"))
        if dataset.lab_id != lab_id:
            raise NotFound("Dataset not found.")
        found = list(dataset.images.select_related("dataset").order_by("created"))
        if not found:
            raise Invalid("The dataset has no images.", fields={"images": ["empty dataset"]})
    elif isinstance(images, list) and images:
        ids = list(dict.fromkeys(str(_uuid(i, "images")) for i in images))
        found = []
        for image_id in ids:
            image = image_get(user=user, image_id=image_id)
            if image.dataset.lab_id != lab_id:  # a public image of another lab
                raise NotFound("Image not found.")
            found.append(image)
    else:
        raise Invalid(
            'Name the images to segment: a non-empty list of image ids or {"dataset": <id>}.',
            fields={"images": ["required"]},
        )
    if len(found) > MAX_IMAGES:
        raise Invalid(
            f"At most {MAX_IMAGES} images per job; split the batch.",
            fields={"images": ["too many"]},
        )
    for image in found:
        if image.status != ImageStatus.READY:
            raise Conflict(
                f"Image {image.pk} ('{image.original_filename}') is {image.status}, "
                "not ready to segment.",
                code="not_ready",
            )
    return found


def _uuid(value, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as err:
        raise Invalid(f"'{value}' is not an id.", fields={field: ["not a uuid"]}) from err


def grid_for(*, user, image: Image, version: SupportSetVersion) -> Grid:
    """Get or create the grid with the support set's chip geometry on ``image``."""
    grid = Grid.objects.filter(
        image=image,
        chip_size=version.chip_size,
        offset_x=version.offset_x,
        offset_y=version.offset_y,
    ).first()
    if grid is None:
        grid, _created = grid_create(
            user=user,
            image=image,
            chip_size=version.chip_size,
            offset_x=version.offset_x,
            offset_y=version.offset_y,
        )
    if grid.rows < 1 or grid.cols < 1:
        raise Invalid(
            f"No {version.chip_size}px chip fits in image {image.pk}.",
            fields={"images": ["too small for the chip size"]},
        )
    return grid
