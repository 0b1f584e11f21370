"""Current opinions folded from the append-only vote log; redaction of what a viewer may not
see."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from accounts.models import Membership, Role

from ..models import Grid, LabelSchema, Vote

Chip = tuple[str, int, int]  # (grid id, row, col)


@dataclass
class Opinion:
    """One voice's current view of one chip."""

    label: str | None = None
    negatives: set[str] = field(default_factory=set)
    by: str | None = None  # user id behind the current label (differs from the key for curators)

    def apply(self, *, label: str | None, negative: bool, user: str) -> None:
        if negative:
            self.negatives.add(label)
            if self.label == label:
                self.label, self.by = None, None
        elif label is None:
            self.label, self.by = None, None
        else:
            self.label, self.by = label, user
            self.negatives.discard(label)

    def judges(self, k: str) -> bool | None:
        """True / False when this opinion agrees / disagrees with class k, None: no say."""
        if self.label is not None:
            return self.label == k
        return False if k in self.negatives else None

    @property
    def empty(self) -> bool:
        return self.label is None and not self.negatives


@dataclass
class Decision:
    label: str
    supporters: list[str]


def vote_rows(*, schema: LabelSchema, grids: Iterable[Grid], users=None, source=False):
    """(grid, row, col, user, class, negative[, source]) of the votes in id (= time) order."""
    qs = Vote.objects.filter(schema=schema, grid__in=list(grids))
    if users is not None:
        qs = qs.filter(user__in=users)
    fields = ["grid_id", "row", "col", "user_id", "label_class_id", "negative"]
    return qs.order_by("id").values_list(*fields, *(["source"] if source else []))


def fold(rows, *, active: set[str], one_voice: bool = False) -> dict[Chip, dict[str, Opinion]]:
    """Current opinions ``{chip: {user id: Opinion}}`` (``one_voice``: every user is one key)."""
    state: dict[Chip, dict[str, Opinion]] = defaultdict(dict)
    for grid_id, row, col, user_id, class_id, negative in rows:
        label = None if class_id is None else str(class_id)
        if label is not None and label not in active:
            continue
        key = "curators" if one_voice else str(user_id)
        state[(str(grid_id), row, col)].setdefault(key, Opinion()).apply(
            label=label, negative=negative, user=str(user_id)
        )
    return state


def opinions(*, schema: LabelSchema, grids: Iterable[Grid]) -> dict[Chip, dict[str, Opinion]]:
    """Every user's current opinion on the chips of ``grids`` under ``schema``."""
    return fold(vote_rows(schema=schema, grids=grids), active=active_class_ids(schema))


def redact(state, *, hidden: frozenset[Chip], keep: str | None = None) -> dict:
    """``state`` without anyone's opinion on the ``hidden`` chips but ``keep``'s (a user id).

    In a one-voice fold (key "curators") nobody is kept, so hidden chips drop out.
    """
    if not hidden:
        return state
    out = dict(state)
    for chip in hidden & state.keys():
        kept = {user: op for user, op in state[chip].items() if user == keep}
        if kept:
            out[chip] = kept
        else:
            del out[chip]
    return out


def active_class_ids(schema: LabelSchema) -> set[str]:
    return {str(pk) for pk in schema.classes.filter(removed_at=None).values_list("pk", flat=True)}


def curator_ids(schema: LabelSchema) -> list:
    return list(
        Membership.objects.filter(
            lab_id=schema.dataset.lab_id, role__in=[Role.CURATOR, Role.OWNER]
        ).values_list("user_id", flat=True)
    )
