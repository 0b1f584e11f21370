"""The support set a job runs with: a frozen version, or the user's working set frozen for it;
its class table."""

from __future__ import annotations

from accounts.models import Role
from accounts.selectors import require_role
from catalog.models import ImageStatus
from catalog.selectors import dataset_get
from common.errors import Conflict, Invalid, NotFound
from labeling.models import ConsensusRule, Grid, LabelSchema, SupportSetVersion
from labeling.selectors import grids_get_many
from labeling.services import support_set_freeze


def support_set_for_run(*, user, support_set_id) -> SupportSetVersion:
    version = (
        SupportSetVersion.objects.select_related("schema", "schema__dataset")
        .filter(pk=support_set_id)
        .first()
    )
    if version is None:
        raise NotFound("Support set not found.")
    try:
        dataset_get(user=user, dataset_id=version.schema.dataset_id)
        require_role(user=user, lab_id=version.schema.dataset.lab_id, role=Role.VIEWER)
    except NotFound as err:
        raise NotFound("Support set not found.") from err
    return version


def _schema_get(*, user, schema_id) -> LabelSchema:
    schema = LabelSchema.objects.select_related("dataset").filter(pk=schema_id).first()
    if schema is None:
        raise NotFound("Label schema not found.")
    try:
        dataset_get(user=user, dataset_id=schema.dataset_id)
        require_role(user=user, lab_id=schema.dataset.lab_id, role=Role.VIEWER)
    except NotFound as err:
        raise NotFound("Label schema not found.") from err
    return schema


def freeze_working_set(
    *, user, schema_id, rule, owner, min_votes, grid_ids=None
) -> SupportSetVersion:
    """Freeze ``user``'s working set (or a consensus) for a job, or reuse the newest version
    when it holds exactly that; ``grid_ids``: only the chips on these grids (default: every
    grid of the dataset with chips)."""
    schema = _schema_get(user=user, schema_id=schema_id)
    lab_id = schema.dataset.lab_id
    rule = rule or ConsensusRule.SINGLE_OWNER
    if rule not in ConsensusRule.values:
        raise Invalid(
            f"Unknown rule '{rule}'; use one of {', '.join(ConsensusRule.values)}.",
            fields={"rule": ["invalid"]},
        )
    if rule == ConsensusRule.SINGLE_OWNER and owner is None:
        owner = user.pk
    own = rule == ConsensusRule.SINGLE_OWNER and str(owner) == str(user.pk)
    require_role(user=user, lab_id=lab_id, role=Role.ANNOTATOR if own else Role.CURATOR)
    grids = None if grid_ids is None else grids_get_many(user=user, grid_ids=grid_ids)
    return support_set_freeze(
        user=user,
        schema=schema,
        rule=rule,
        owner=owner,
        min_votes=min_votes,
        grids=grids,
        reuse=True,
    )


def support_classes(version: SupportSetVersion) -> list[dict]:
    """The version's class table with label indices, refusing unusable support sets."""
    counts: dict[str, int] = {}
    for chip in version.chips:
        counts[str(chip["class"])] = counts.get(str(chip["class"]), 0) + 1
    classes = [
        {
            "index": i,
            "id": str(c["id"]),
            "name": c["name"],
            "colour": c.get("colour", ""),
            "kind": c.get("kind", "region"),  # versions frozen before kinds: regions
        }
        for i, c in enumerate(version.classes)
    ]
    known = {c["id"] for c in classes}
    unknown = set(counts) - known
    if unknown:
        raise Invalid(
            f"The support set has chips of classes it does not list: {', '.join(sorted(unknown))}.",
            fields={"support_set": ["inconsistent"]},
        )
    empty = [c["name"] for c in classes if not counts.get(c["id"])]
    if empty:
        raise Invalid(
            f"Every class needs at least one support chip; none for: {', '.join(empty)}.",
            code="empty_class",
            fields={"support_set": [f"no chips for {name}" for name in empty]},
        )
    if len(classes) < 2:
        raise Invalid(
            "A segmentation needs at least two classes with support chips.",
            code="too_few_classes",
            fields={"support_set": ["fewer than 2 classes"]},
        )
    return classes


def check_support_chips(version: SupportSetVersion, lab_id) -> None:
    grid_ids = {str(chip["grid"]) for chip in version.chips}
    grids = {
        str(g.pk): g for g in Grid.objects.filter(pk__in=grid_ids).select_related("image__dataset")
    }
    for chip in version.chips:
        grid = grids.get(str(chip["grid"]))
        if grid is None or grid.image.dataset.lab_id != lab_id:
            raise Invalid(
                "A support chip refers to a grid that no longer exists.",
                fields={"support_set": ["missing grid"]},
            )
        if (grid.chip_size, grid.offset_y, grid.offset_x) != (
            version.chip_size,
            version.offset_y,
            version.offset_x,
        ):
            raise Invalid(
                "The support set mixes chip geometries; refreeze it on one grid size.",
                fields={"support_set": ["mixed chip geometry"]},
            )
        if not grid.contains(int(chip["row"]), int(chip["col"])):
            raise Invalid(
                f"Support chip ({chip['row']}, {chip['col']}) is outside its "
                f"{grid.rows}x{grid.cols} grid.",
                code="chip_outside_grid",
                fields={"support_set": ["chip outside grid"]},
            )
        if grid.image.status != ImageStatus.READY:
            raise Conflict(
                f"Support image {grid.image_id} is {grid.image.status}, not ready.",
                code="not_ready",
            )
