"""Reads of chip grids: visibility, the one-query grid for voting, chip-size suggestions."""

import functools

import numpy as np
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet
from PIL import Image as PILImage

from accounts.models import Membership
from catalog.models import Dataset, Image, ImageStatus
from catalog.selectors import dataset_visible, image_get, images_visible_to
from common import storage
from common.errors import NotFound

from ..models import Grid


def grids_visible_to(*, user) -> QuerySet[Grid]:
    return Grid.objects.filter(image__in=images_visible_to(user=user).values("pk"))


def grids_of_image(*, user, image_id) -> QuerySet[Grid]:
    image = image_get(user=user, image_id=image_id)
    return image.grids.all()


def grid_get(*, user, grid_id) -> Grid:
    grid = (
        grids_visible_to(user=user)
        .select_related("image", "image__dataset", "image__dataset__lab")
        .filter(pk=grid_id)
        .first()
    )
    if grid is None:
        raise NotFound("Grid not found.")
    return grid


def grid_for_voting(*, user, grid_id) -> Grid:
    """``grid_get`` for the vote path (the hottest request), in one query: the grid with what
    casting a vote reads (its size, its image's dataset and lab) and the user's role in that
    lab, kept as ``grid.voter_role`` = (user id, role or None) for ``votes_cast_many``.

    Written in SQL because composing it with the ORM cost more CPU than the rest of a vote
    (profiled); visibility is ``catalog.selectors.dataset_visible``, the same rule as
    ``datasets_visible_to``. The instances carry only these fields (others load on access).
    """
    try:
        grid_id_db = _db_value(Grid, "id", grid_id)
    except ValidationError:
        raise NotFound("Grid not found.") from None
    with connection.cursor() as cursor:
        cursor.execute(_voting_sql(), [_db_value(Membership, "user_id", user.pk), grid_id_db])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Grid not found.")
    grid_pk, rows, cols, image_id, dataset_id, lab_id, visibility, created_by_id, role = row
    dataset = _partial(
        Dataset,
        id=dataset_id,
        lab_id=lab_id,
        visibility=visibility,
        created_by_id=created_by_id,
    )
    if not dataset_visible(user=user, dataset=dataset, role=role):
        raise NotFound("Grid not found.")
    image = _partial(Image, id=image_id, dataset_id=dataset_id)
    image.dataset = dataset
    grid = _partial(Grid, id=grid_pk, image_id=image_id, rows=rows, cols=cols)
    grid.image = image
    grid.voter_role = (user.pk, role)
    return grid


@functools.cache
def _voting_sql() -> str:
    def table(model):
        return connection.ops.quote_name(model._meta.db_table)

    return (
        'SELECT g.id, g."rows", g.cols, g.image_id, i.dataset_id, d.lab_id, d.visibility, '
        "d.created_by_id, (SELECT m.role FROM "
        f"{table(Membership)} m WHERE m.lab_id = d.lab_id AND m.user_id = %s) "
        f"FROM {table(Grid)} g JOIN {table(Image)} i ON i.id = g.image_id "
        f"JOIN {table(Dataset)} d ON d.id = i.dataset_id WHERE g.id = %s"
    )


def _db_value(model, attname: str, value):
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    return None if value is None else field.get_db_prep_value(field.to_python(value), connection)


def _partial(model, **values):
    """A ``model`` instance as loaded from the database with only ``values`` (by attname,
    raw from the cursor: converted here, e.g. SQLite's hex UUIDs)."""
    fields = [f for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(
        connection.alias,
        [f.attname for f in fields],
        [f.to_python(values[f.attname]) for f in fields],
    )


def grids_get_many(*, user, grid_ids) -> list[Grid]:
    """The grids named, in order; NotFound if any is not visible."""
    ids = list(dict.fromkeys(str(g) for g in grid_ids))
    found = {
        str(g.pk): g
        for g in grids_visible_to(user=user)
        .select_related("image", "image__dataset")
        .filter(pk__in=ids)
    }
    if len(found) != len(ids):
        raise NotFound("Grid not found.")
    return [found[g] for g in ids]


def grids_of_dataset(dataset: Dataset) -> QuerySet[Grid]:
    return Grid.objects.filter(image__dataset=dataset).select_related("image")


def chip_size_suggestion(*, user, image_id) -> dict:
    """The engine's chip-size suggestion, computed on the preview and scaled to the original."""
    image = image_get(user=user, image_id=image_id)
    if image.status != ImageStatus.READY or not image.preview_key:
        raise NotFound(f"No preview yet: the image is {image.status}.", code="not_ready")
    return _suggest_from_preview(image)


def _suggest_from_preview(image: Image) -> dict:
    # numpy, scipy and scikit-image: loaded by the first suggestion, not by every web process
    from workers.fewshot.guidance import suggest_chip_size

    with storage.open_(image.preview_key) as fh:
        preview = np.asarray(PILImage.open(fh).convert("L"), dtype=np.float32)
    scale = image.width / preview.shape[1]  # previews are downscaled, never upscaled
    # measured on the preview; sizes, bounds and lengths in the original's pixels
    suggestion = suggest_chip_size(preview, original_shape=(image.height, image.width)).to_dict()
    if scale != 1:
        suggestion["reason"] += (
            f"; measured on the preview, downscaled {scale:.2f}x; lengths in image pixels "
            f"-> {suggestion['chip_size']} px"
        )
    return {
        **suggestion,
        "uncovered_fraction": round(suggestion["uncovered_fraction"], 4),
        "computed_on": "preview",
        "preview_scale": round(scale, 4),
        "max_chip_size": min(image.width, image.height),
    }
