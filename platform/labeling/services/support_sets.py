"""Freezing support sets into numbered, immutable versions."""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from accounts.models import Membership, Role
from accounts.selectors import require_role
from common.errors import Conflict, Invalid
from webhooks.services import event_emit

from .. import consensus
from ..models import ConsensusRule, Grid, LabelSchema, SupportSetVersion
from ..selectors import clean_rule, grids_of_dataset


# --- support-set versions ----------------------------------------------------------
@transaction.atomic
def support_set_freeze(
    *,
    user,
    schema: LabelSchema,
    rule: str,
    owner=None,
    min_votes: int = 2,
    grids: list[Grid] | None = None,
    reuse: bool = False,
) -> SupportSetVersion:
    """Freeze the support set ``rule`` derives now into the schema's next numbered version.

    Grids default to every grid of the dataset with support chips; all must share one chip
    size and offset. Classes without chips are left out; fewer than two classes is refused.
    With ``reuse`` (a job freezing the working set), the newest version is returned instead
    when it holds exactly what would be frozen (same rule, chips, classes, contributors).
    """
    # lock the schema so that concurrent freezes get consecutive numbers
    LabelSchema.objects.select_for_update().filter(pk=schema.pk).first()
    content, grids = support_set_content(
        user=user, schema=schema, rule=rule, owner=owner, min_votes=min_votes, grids=grids
    )
    latest = schema.versions.order_by("-number").first()
    if reuse and latest is not None and _same_content(latest, content):
        latest.reused = True
        return latest
    number = (latest.number if latest else 0) + 1
    if number > settings.CHIPLAB_MAX_VERSIONS_PER_SCHEMA:
        raise Conflict(
            f"The schema already has {number - 1} frozen versions, this server's limit "
            f"({settings.CHIPLAB_MAX_VERSIONS_PER_SCHEMA}); run jobs on an existing version "
            "or label in a new schema.",
            code="too_many_versions",
        )
    version = SupportSetVersion.objects.create(
        schema=schema, number=number, created_by=user, **content
    )
    version.grids.set(grids)
    event_emit("support_set.frozen", version.pk)
    return version


def support_set_content(
    *,
    user,
    schema: LabelSchema,
    rule: str,
    owner=None,
    min_votes: int = 2,
    grids: list[Grid] | None = None,
) -> tuple[dict, list[Grid]]:
    """What :func:`support_set_freeze` would freeze now, without freezing it: (the version's
    fields, the grids that hold its chips), with the same checks and refusals."""
    clean_rule(rule, min_votes)
    owner_id = getattr(owner, "pk", owner) or user.pk
    _check_who(user=user, schema=schema, rule=rule, owner_id=owner_id)
    explicit = grids is not None
    grids = list(grids) if explicit else list(grids_of_dataset(schema.dataset))
    if any(g.image.dataset_id != schema.dataset_id for g in grids):
        raise Invalid(
            "Every grid must be on an image of the schema's dataset.",
            fields={"grids": ["other dataset"]},
        )
    if explicit:
        _one_geometry(grids)
    state = consensus.support_state(
        schema=schema,
        grids=grids,
        rule=rule,
        min_votes=min_votes,
        owner=owner_id if rule == ConsensusRule.SINGLE_OWNER else None,
    )
    used = {chip["grid"] for chip in state["chips"]}
    grids = [g for g in grids if str(g.pk) in used]
    return _content(state, rule=rule, grids=grids), grids


def _check_who(*, user, schema: LabelSchema, rule: str, owner_id) -> None:
    """Annotators freeze their own working set; anything else needs a curator. A single
    owner must be a lab member."""
    lab_id = schema.dataset.lab_id
    if rule == ConsensusRule.SINGLE_OWNER and str(owner_id) == str(user.pk):
        require_role(user=user, lab_id=lab_id, role=Role.ANNOTATOR)
    else:
        require_role(user=user, lab_id=lab_id, role=Role.CURATOR)
    if (
        rule == ConsensusRule.SINGLE_OWNER
        and not Membership.objects.filter(lab_id=lab_id, user_id=owner_id).exists()
    ):
        raise Invalid(
            "The owner of a single-owner support set must be a lab member.",
            fields={"owner": ["not a member"]},
        )


def _content(state: dict, *, rule: str, grids: list[Grid]) -> dict:
    """A version's fields from the consensus ``state`` (refusing too few classes, too many
    chips and mixed geometries)."""
    classes = [c for c in state["classes"] if c["count"]]
    if len(classes) < 2:
        raise Invalid(
            f"A support set needs chips of at least 2 classes; rule '{rule}' gives {len(classes)}.",
            code="too_few_classes",
        )
    _check_support_size(state["chips"], classes)
    chip_size, offset_x, offset_y = _one_geometry(grids)
    return {
        "rule": rule,
        "params": state["params"],
        "chips": [
            {k: chip[k] for k in ("grid", "image", "row", "col", "class")}
            for chip in state["chips"]
        ],
        "classes": [{k: c[k] for k in ("id", "name", "colour", "kind")} for c in classes],
        "chip_size": chip_size,
        "offset_x": offset_x,
        "offset_y": offset_y,
        "contributors": state["contributors"],
        "agreement": state["agreement"],
        "warnings": state["warnings"],
    }


def _check_support_size(chips: list[dict], classes: list[dict]) -> None:
    """Refuse a support set over the chip caps (in all and per class): every job refits on
    its chips and its bootstrap resamples them."""
    limit = settings.CHIPLAB_MAX_SUPPORT_CHIPS
    class_limit = settings.CHIPLAB_MAX_SUPPORT_CHIPS_PER_CLASS
    if len(chips) > limit:
        raise Invalid(
            f"A support set holds at most {limit} chips; this one would hold {len(chips)}. "
            "Keep fewer, representative examples.",
            code="too_many_support_chips",
            fields={"chips": ["too many"]},
        )
    over = [c["name"] for c in classes if c["count"] > class_limit]
    if over:
        raise Invalid(
            f"A support set holds at most {class_limit} chips per class; over it: "
            f"{', '.join(over)}. Keep fewer, representative examples.",
            code="too_many_support_chips",
            fields={"chips": [f"too many for {name}" for name in over]},
        )


def _same_content(version: SupportSetVersion, content: dict) -> bool:
    """Whether ``version`` holds ``content`` (compared as stored: JSON round trip)."""
    stored = {field: getattr(version, field) for field in content}
    return stored == json.loads(json.dumps(content, cls=DjangoJSONEncoder))


def _one_geometry(grids: list[Grid]) -> tuple[int, int, int]:
    shapes = sorted({(g.chip_size, g.offset_x, g.offset_y) for g in grids})
    if len(shapes) > 1:
        listed = ", ".join(f"{s}px +({x},{y})" for s, x, y in shapes)
        raise Invalid(
            f"A support set uses one chip size and offset; these grids mix {listed}. "
            "Choose grids of one geometry.",
            code="mixed_chip_sizes",
            fields={"grids": ["mixed chip sizes"]},
        )
    if not shapes:
        raise Invalid("No grids to freeze.", fields={"grids": ["empty"]})
    return shapes[0]
