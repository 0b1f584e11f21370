"""Consensus rules: what is in the support set for a chip (single owner, majority, curator)."""

from __future__ import annotations

from collections import Counter

from ..models import ConsensusRule, Grid, LabelSchema
from .opinions import (
    Chip,
    Decision,
    Opinion,
    active_class_ids,
    curator_ids,
    fold,
    redact,
    vote_rows,
)


def decide_single_owner(state, *, owner: str) -> dict[Chip, Decision]:
    out = {}
    for chip, ops in state.items():
        op = ops.get(owner)
        if op is not None and op.label is not None:
            out[chip] = Decision(op.label, [owner])
    return out


def decide_majority(state, *, min_votes: int) -> dict[Chip, Decision]:
    out = {}
    for chip, ops in state.items():
        top = _top_label(ops)
        if top is None:
            continue
        say = [u for u, op in ops.items() if op.judges(top) is not None]
        supporters = [u for u in say if ops[u].label == top]
        if len(supporters) >= min_votes and 2 * len(supporters) > len(say):
            out[chip] = Decision(top, supporters)
    return out


def decide_curator(curator_state) -> dict[Chip, Decision]:
    """``curator_state`` is a one-voice fold of the curators' votes."""
    out = {}
    for chip, ops in curator_state.items():
        op = ops.get("curators")
        if op is not None and op.label is not None:
            out[chip] = Decision(op.label, [op.by])
    return out


def decide(
    *,
    schema: LabelSchema,
    grids: list[Grid],
    rule: str,
    owner=None,
    min_votes: int = 2,
    hidden: frozenset[Chip] = frozenset(),
    keep: str | None = None,
) -> tuple[dict[Chip, Decision], dict[Chip, dict[str, Opinion]]]:
    """The support chips under ``rule`` and everyone's current opinions (for agreement).

    ``hidden`` chips only count ``keep``'s opinion (see ``redact``); freezing hides nothing.
    """
    active = active_class_ids(schema)
    state = redact(
        fold(vote_rows(schema=schema, grids=grids), active=active), hidden=hidden, keep=keep
    )
    if rule == ConsensusRule.SINGLE_OWNER:
        return decide_single_owner(state, owner=str(owner)), state
    if rule == ConsensusRule.MAJORITY:
        return decide_majority(state, min_votes=min_votes), state
    curators = fold(
        vote_rows(schema=schema, grids=grids, users=curator_ids(schema)),
        active=active,
        one_voice=True,
    )
    return decide_curator(redact(curators, hidden=hidden)), state


def leading_classes(ops: dict[str, Opinion]) -> list[str]:
    """The most-labelled classes of one chip (several on a tie, none without labels)."""
    counts = Counter(op.label for op in ops.values() if op.label is not None)
    if not counts:
        return []
    most = max(counts.values())
    return sorted(k for k, n in counts.items() if n == most)


def _top_label(ops: dict[str, Opinion]) -> str | None:
    """The unique most-labelled class; None on a tie for the lead."""
    leaders = leading_classes(ops)
    return leaders[0] if len(leaders) == 1 else None
