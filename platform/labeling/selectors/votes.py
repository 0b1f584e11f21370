"""Reads of votes, gold answers and support sets (live and frozen)."""

from collections import Counter

from django.db.models import QuerySet

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Invalid, NotFound

from .. import consensus
from ..models import ConsensusRule, GoldChip, Grid, LabelSchema, SupportSetVersion
from .access import gold_hidden, require_member
from .schemas import schema_get, schemas_visible_to


def votes_current(*, user, grid: Grid, schema: LabelSchema, scope: str = "me") -> dict:
    """Current state per chip: the acting user's labels (``me``) or everyone's with counts.

    ``all`` is for lab members; below curator, chips with a gold answer show only your vote.
    """
    if scope not in ("me", "all"):
        raise Invalid("user must be 'me' or 'all'.", fields={"user": ["me or all"]})
    me = str(user.pk)
    state = consensus.opinions(schema=schema, grids=[grid])
    if scope == "all":
        role = require_member(
            user=user,
            dataset=grid.image.dataset,
            message="Per-annotator votes (user=all) are visible to members of the dataset's "
            "lab only; user=me shows your own.",
        )
        hidden = gold_hidden(user=user, role=role, schema=schema, grids=[grid])
        state = consensus.redact(state, hidden=hidden, keep=me)
    chips = []
    for (_, row, col), ops in sorted(state.items()):
        if scope == "me":
            op = ops.get(me)
            if op is None or op.empty:
                continue
            chips.append({"row": row, "col": col, "class": op.label, "not": sorted(op.negatives)})
            continue
        labels = Counter(op.label for op in ops.values() if op.label is not None)
        negatives = Counter(k for op in ops.values() for k in op.negatives)
        if not labels and not negatives:
            continue
        mine = ops.get(me)
        chips.append(
            {
                "row": row,
                "col": col,
                "mine": mine.label if mine else None,
                "counts": dict(sorted(labels.items())),
                "not_counts": dict(sorted(negatives.items())),
                "users": [
                    {"user": u, "class": op.label}
                    for u, op in sorted(ops.items())
                    if op.label is not None
                ],
            }
        )
    return {"grid": str(grid.pk), "schema": str(schema.pk), "user": scope, "chips": chips}


def gold_of_grid(*, user, grid: Grid, schema: LabelSchema) -> QuerySet[GoldChip]:
    # annotators must not see the answers they are scored against
    require_member(
        user=user,
        dataset=grid.image.dataset,
        message="Gold answers are visible to the curators of the dataset's lab only.",
    )
    require_role(user=user, lab_id=grid.image.dataset.lab_id, role=Role.CURATOR)
    return GoldChip.objects.filter(grid=grid, schema=schema).order_by("row", "col")


def clean_rule(rule: str, min_votes: int) -> None:
    if rule not in ConsensusRule.values:
        raise Invalid(
            f"Unknown rule '{rule}'; use {', '.join(ConsensusRule.values)}.",
            fields={"rule": ["unknown"]},
        )
    if min_votes < 1:
        raise Invalid("min_votes must be at least 1.", fields={"min_votes": ["too small"]})


def support_state(
    *, user, schema: LabelSchema, grids: list[Grid], rule: str, owner=None, min_votes: int = 2
) -> dict:
    """The live support set ``rule`` derives from the votes on ``grids`` (before freezing).

    single_owner defaults to the acting user. See ``labeling.consensus`` for the rules. For lab
    members only (it is derived from individual votes; outsiders see frozen versions); below
    curator it is derived as if on chips with a gold answer only the acting user had voted.
    """
    role = require_member(
        user=user,
        dataset=schema.dataset,
        message="The live support set is derived from individual votes and visible to "
        "members of the dataset's lab only; its frozen versions (schemas/<id>/versions/) "
        "are public.",
    )
    clean_rule(rule, min_votes)
    for grid in grids:
        if grid.image.dataset_id != schema.dataset_id:
            raise Invalid(
                "The grid's image is not in the schema's dataset.",
                fields={"schema": ["other dataset"]},
            )
    if rule == ConsensusRule.SINGLE_OWNER and owner is None:
        owner = user.pk
    return consensus.support_state(
        schema=schema,
        grids=grids,
        rule=rule,
        owner=owner,
        min_votes=min_votes,
        hidden=gold_hidden(user=user, role=role, schema=schema, grids=grids),
        keep=str(user.pk),
    )


def versions_of_schema(*, user, schema_id) -> QuerySet[SupportSetVersion]:
    """The schema's frozen versions (non-members of its lab see them anonymised)."""
    schema = schema_get(user=user, schema_id=schema_id)
    return schema.versions.select_related("schema__dataset").order_by("number")


def support_set_get(*, user, version_id) -> SupportSetVersion:
    """A frozen version (non-members of its lab see it anonymised:
    ``SupportSetVersionSerializer``)."""
    version = (
        SupportSetVersion.objects.filter(
            pk=version_id, schema__in=schemas_visible_to(user=user).values("pk")
        )
        .select_related("schema", "schema__dataset")
        .first()
    )
    if version is None:
        raise NotFound("Support set version not found.")
    return version
