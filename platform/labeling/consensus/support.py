"""The derived (live) support set of a schema under a rule, with class snapshot and contributors."""

from __future__ import annotations

from collections import Counter

from accounts.models import User

from ..image_classes import classes_of_images
from ..models import ConsensusRule, Grid, LabelSchema
from .agreement import agreement_with
from .guidance import guidance_warnings
from .opinions import Chip
from .rules import decide


def class_snapshot(schema: LabelSchema) -> list[dict]:
    return [
        {"id": str(c.pk), "name": c.name, "colour": c.colour, "kind": c.kind}
        for c in schema.classes.filter(removed_at=None)
    ]


def support_state(
    *,
    schema: LabelSchema,
    grids: list[Grid],
    rule: str,
    owner=None,
    min_votes: int = 2,
    hidden: frozenset[Chip] = frozenset(),
    keep: str | None = None,
) -> dict:
    """The support set ``rule`` derives right now from the votes on ``grids`` (no access check).

    Returns chips (with grid, image, row, col, class and how many voices back it), counts per
    class, contributors, agreement of all voters with each chip's class and guidance warnings.
    ``hidden`` / ``keep``: derive it as if on the hidden chips only ``keep`` had voted.
    """
    decisions, state = decide(
        schema=schema,
        grids=grids,
        rule=rule,
        owner=owner,
        min_votes=min_votes,
        hidden=hidden,
        keep=keep,
    )
    by_id = {str(g.pk): g for g in grids}
    classes = class_snapshot(schema)
    chips = [
        {
            "grid": g,
            "image": str(by_id[g].image_id),
            "row": r,
            "col": c,
            "class": d.label,
            "supporters": len(d.supporters),
        }
        for (g, r, c), d in sorted(decisions.items())
    ]
    counts = Counter(chip["class"] for chip in chips)
    applies = {
        k
        for _, keep in classes_of_images(schema, {g.image_id for g in grids}).values()
        for k in keep
    }
    backing = Counter(u for d in decisions.values() for u in d.supporters)
    names = usernames(backing)
    contributors = [
        {"id": u, "username": names.get(u, ""), "votes": n}
        for u, n in sorted(backing.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return {
        "rule": rule,
        "params": _params(rule, owner=owner, min_votes=min_votes),
        "chips": chips,
        "classes": [
            {**c, "count": counts.get(c["id"], 0), "applies": c["id"] in applies} for c in classes
        ],
        "contributors": contributors,
        "agreement": agreement_with(decisions, state),
        "warnings": guidance_warnings(
            chips,
            classes=classes,
            grids=by_id,
            applies=applies,
        ),
    }


def usernames(user_ids) -> dict[str, str]:
    """``{user id: username}`` (also for people who have since left the lab)."""
    return {
        str(pk): name
        for pk, name in User.objects.filter(pk__in=list(user_ids)).values_list("pk", "username")
    }


def _params(rule: str, *, owner, min_votes: int) -> dict:
    if rule == ConsensusRule.SINGLE_OWNER:
        return {"owner": str(owner)}
    if rule == ConsensusRule.MAJORITY:
        return {"min_votes": min_votes}
    return {}
