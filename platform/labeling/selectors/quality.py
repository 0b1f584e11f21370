"""Crowd quality: agreement per chip and per annotator, the curator's review queue."""

from collections import Counter

from accounts.models import ROLE_RANK, Role
from accounts.selectors import require_role
from common.errors import Invalid

from .. import consensus, crowd
from ..models import GoldChip, Grid, LabelSchema
from .access import gold_hidden, require_member
from .grids import grids_of_dataset

GOLD_BATCH = 10  # below curator, your gold accuracy moves only every this many gold answers


def agreement(*, user, schema: LabelSchema, grid: Grid | None = None) -> dict:
    """Per-chip agreement with the consensus; per-annotator agreement with it and gold accuracy.

    For lab members only. Gold accuracy counts each annotator's first answer on each gold chip
    (``consensus.gold_answers``). Curators and owners see everyone's. Below curator, chips with
    a gold answer are left out of the per-chip figures and of agreement with the consensus,
    nobody else's gold accuracy is shown, and your own only over your first ``GOLD_BATCH``,
    2 x ``GOLD_BATCH``… gold answers (none before the first ``GOLD_BATCH``): no per-chip
    feedback, so voting and re-reading the score gives no gold answer away.
    """
    role = require_member(
        user=user,
        dataset=schema.dataset,
        message="Agreement reports rate individual annotators and are visible to members of "
        "the dataset's lab only; frozen versions (schemas/<id>/versions/) include per-chip "
        "agreement.",
    )
    if grid is not None and grid.image.dataset_id != schema.dataset_id:
        raise Invalid(
            "That grid is on an image of another dataset than this schema's.",
            fields={"grid": ["other dataset"]},
        )
    grids = [grid] if grid is not None else list(grids_of_dataset(schema.dataset))
    active = consensus.active_class_ids(schema)
    rows = list(consensus.vote_rows(schema=schema, grids=grids, source=True))
    state = consensus.fold((r[:6] for r in rows), active=active)
    gold = {
        (str(g), r, c): str(k)
        for g, r, c, k in GoldChip.objects.filter(
            schema=schema, grid__in=grids, label_class__removed_at=None
        ).values_list("grid_id", "row", "col", "label_class_id")
    }
    scores = consensus.gold_answers(rows, gold=gold, active=active)
    curator = ROLE_RANK[Role(role)] >= ROLE_RANK[Role.CURATOR]
    if not curator:
        me = str(user.pk)
        mine = scores.get(me, [])
        shown = len(mine) // GOLD_BATCH * GOLD_BATCH
        scores = {me: mine[:shown]} if shown else {}
    hidden = gold_hidden(user=user, role=role, schema=schema, grids=grids)
    report = consensus.agreement_report(state, gold_scores=scores, hidden=hidden)
    names = consensus.usernames(row["user"] for row in report["annotators"])
    for row in report["annotators"]:
        row["username"] = names.get(row["user"], "")
    report["gold_chips"] = len(gold)
    report["gold_scoring"] = {
        "answers": "first answer per gold chip",
        "shown": "everyone" if curator else "own, per batch",
        "batch": 1 if curator else GOLD_BATCH,
    }
    return {"schema": str(schema.pk), **report}


MAX_REVIEW = 200


def review_queue(
    *, user, schema: LabelSchema, grid: Grid | None = None, limit: int = 50, below: float = 1.0
) -> dict:
    """Contested chips for a curator to accept or reject, most contested first.

    A chip is contested when at least two people have an opinion on it and the agreement with
    its leading class is below ``below`` (a tie counts as 1/2 at most); it leaves the queue when
    the newest vote on it is a curator's review and comes back with the next vote.
    """
    require_role(user=user, lab_id=schema.dataset.lab_id, role=Role.CURATOR)
    if not 1 <= limit <= MAX_REVIEW:
        raise Invalid(f"limit must be 1 to {MAX_REVIEW}.", fields={"limit": ["out of range"]})
    if not 0 < below <= 1:
        raise Invalid("below must be in (0, 1].", fields={"below": ["out of range"]})
    if grid is not None and grid.image.dataset_id != schema.dataset_id:
        raise Invalid(
            "That grid is on an image of another dataset than this schema's.",
            fields={"grid": ["other dataset"]},
        )
    grids = [grid] if grid is not None else list(grids_of_dataset(schema.dataset))
    by_id = {str(g.pk): g for g in grids}
    active = consensus.active_class_ids(schema)
    rows = list(consensus.vote_rows(schema=schema, grids=grids, source=True))
    latest = {(str(r[0]), r[1], r[2]): r[6] for r in rows}
    state = consensus.fold((r[:6] for r in rows), active=active)
    gold = {
        (str(g), r, c): str(k)
        for g, r, c, k in GoldChip.objects.filter(schema=schema, grid__in=grids).values_list(
            "grid_id", "row", "col", "label_class_id"
        )
    }
    contested = []
    for chip, ops in state.items():
        if latest.get(chip) == "review":
            continue
        voices = sum(1 for op in ops.values() if not op.empty)
        leaders = consensus.leading_classes(ops)
        if voices < 2 or not leaders:
            continue
        agree, say = max(
            (consensus.chip_agreement(ops, k) for k in leaders), key=lambda a_s: a_s[0] / a_s[1]
        )
        if agree / say < below:
            contested.append((round(agree / say, 4), -voices, chip, leaders, ops))
    contested.sort(key=lambda c: (c[0], c[1], c[2]))
    names = consensus.usernames({u for *_, ops in contested[:limit] for u in ops})
    items = []
    for agreement_, minus_voices, chip, leaders, ops in contested[:limit]:
        grid_ = by_id[chip[0]]
        items.append(
            {
                **crowd.chip_view(grid_, chip[1], chip[2]),
                "grid": chip[0],
                "leaders": leaders,
                "tied": len(leaders) > 1,
                "agreement": agreement_,
                "voices": -minus_voices,
                "counts": dict(
                    sorted(Counter(op.label for op in ops.values() if op.label).items())
                ),
                "not_counts": dict(
                    sorted(Counter(k for op in ops.values() for k in op.negatives).items())
                ),
                "gold": gold.get(chip),
                "users": [
                    {
                        "user": u,
                        "username": names.get(u, ""),
                        "class": op.label,
                        "not": sorted(op.negatives),
                    }
                    for u, op in sorted(ops.items())
                    if not op.empty
                ],
            }
        )
    return {"schema": str(schema.pk), "contested": len(contested), "chips": items}
