"""Curator review of contested chips: accept a class or reject it, recorded as votes."""

from django.db import transaction

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Invalid

from ..models import Grid, LabelSchema, Vote, VoteSource

ACCEPT, REJECT = "accept", "reject"


@transaction.atomic
def review_decide(
    *, user, schema: LabelSchema, grid: Grid, row: int, col: int, action: str, label_class
) -> Vote:
    """A curator's decision on chip (row, col): ``accept`` records their vote for
    ``label_class`` (source "review"), ``reject`` their "not ``label_class``". Append-only like
    every vote; the chip leaves the review queue until someone votes on it again."""
    require_role(user=user, lab_id=schema.dataset.lab_id, role=Role.CURATOR)
    if action not in (ACCEPT, REJECT):
        raise Invalid("action must be 'accept' or 'reject'.", fields={"action": ["unknown"]})
    if grid.image.dataset_id != schema.dataset_id:
        raise Invalid(
            "The grid's image is not in the schema's dataset.", fields={"grid": ["other dataset"]}
        )
    if not grid.contains(row, col):
        raise Invalid(
            f"Chip ({row}, {col}) is outside this {grid.rows}x{grid.cols} grid.",
            code="outside_grid",
            fields={"row": ["out of range"]},
        )
    found = schema.classes.filter(pk=label_class, removed_at=None).first()
    if found is None:
        raise Invalid(
            "Unknown or removed class for this schema.", fields={"class": ["not in this schema"]}
        )
    return Vote.objects.create(
        user=user,
        grid=grid,
        schema=schema,
        row=row,
        col=col,
        label_class=found,
        negative=action == REJECT,
        source=VoteSource.REVIEW,
    )
