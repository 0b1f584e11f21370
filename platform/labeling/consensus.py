"""Deriving current labels from the append-only vote log, consensus rules, agreement and
support-set guidance. No access checks here: callers (selectors, services) do them.

Current state. A user's opinion on a chip (per grid and schema) is the fold of their votes in
id order: a positive vote sets the label (and withdraws an earlier "not" for that class), a
retraction (class null) clears it, a negative vote ("not c", from crowd-task panels) records
"not c" and clears the label if it was c. Votes for classes that have since been removed are
ignored (a removed class cannot be in a support set; its votes remain in the history).

Rules (what is "in the support set" for a chip):
- single_owner: the owner's current label.
- majority: among the users with an opinion about the leading class k (a label, or "not k"),
  k wins when it has at least ``min_votes`` labels and strictly more than half of those
  opinions; a tie for the lead gives no label.
- curator: the votes of the lab's current curators and owners (gold answers included) are
  folded together as one voice in time order, so the latest curator/owner vote on a chip wins.

Agreement. A user "agrees" with a reference class k on a chip when their label is k and
disagrees when their label is another class or they said "not k"; users with no label and no
"not k" have no say. Per-chip agreement = agreeing / having a say. Every chip with at least two
opinions and a label is rated: its consensus is the unique most-labelled class (the rater is
included in the consensus they are compared to); a tie for the lead is rated too, as
disagreement, against the tied class with the best agreement (so at most 1/2), and has no
consensus. Per-annotator agreement with the consensus only uses chips that have one.

Redaction (reads only). What a user may not see is left out before deriving anything from it:
``redact`` drops the opinions on some chips of everyone but the viewer, and ``decide`` /
``support_state`` take the same ``hidden`` chips. Selectors use it to hide other users' votes
on gold chips from users below curator; freezing never redacts, so the consensus rules
themselves are unchanged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from accounts.models import Membership, Role, User

from .image_classes import classes_of_images
from .models import ConsensusRule, Grid, LabelSchema, Vote

Chip = tuple[str, int, int]  # (grid id, row, col)

MIN_PER_CLASS, MAX_PER_CLASS = 2, 10


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


# --- rules -------------------------------------------------------------------------
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


def _leaders(ops: dict[str, Opinion]) -> list[str]:
    """The most-labelled classes of one chip (several on a tie, none without labels)."""
    counts = Counter(op.label for op in ops.values() if op.label is not None)
    if not counts:
        return []
    most = max(counts.values())
    return sorted(k for k, n in counts.items() if n == most)


def _top_label(ops: dict[str, Opinion]) -> str | None:
    """The unique most-labelled class; None on a tie for the lead."""
    leaders = _leaders(ops)
    return leaders[0] if len(leaders) == 1 else None


# --- agreement ---------------------------------------------------------------------
def chip_agreement(ops: dict[str, Opinion], k: str) -> tuple[int, int]:
    """(agreeing, having a say) about class k on one chip."""
    says = [op.judges(k) for op in ops.values()]
    return sum(1 for s in says if s), sum(1 for s in says if s is not None)


def agreement_with(decisions: dict[Chip, Decision], state) -> dict:
    """Agreement of all voters with the decided class of each chip (for a frozen version)."""
    per_chip = []
    for chip, decision in sorted(decisions.items()):
        agree, say = chip_agreement(state.get(chip, {}), decision.label)
        per_chip.append(
            {
                "grid": chip[0],
                "row": chip[1],
                "col": chip[2],
                "class": decision.label,
                "agree": agree,
                "voters": say,
                "agreement": round(agree / say, 4) if say else None,
            }
        )
    rated = [c["agreement"] for c in per_chip if c["voters"] >= 2]
    return {
        "per_chip": per_chip,
        "chips_with_several_voters": len(rated),
        "overall": round(sum(rated) / len(rated), 4) if rated else None,
    }


def gold_answers(rows, *, gold: dict[Chip, str], active: set[str]) -> dict[str, list[bool]]:
    """Each user's *first* answer on each gold chip, in the order given: True when right.

    ``rows``: (grid, row, col, user, class, negative, source) in id order. A label is right
    when it is the gold class; a "not k" (an unselected chip of a crowd panel) is right when k
    is not the gold class. Later votes on the same chip never change the score (voting again
    and watching the score is no way to find the answer); the curators' gold-setting votes
    (source "gold") are not answers.
    """
    seen: set[tuple[str, Chip]] = set()
    out: dict[str, list[bool]] = defaultdict(list)
    for grid_id, row, col, user_id, class_id, negative, source in rows:
        chip = (str(grid_id), row, col)
        truth = gold.get(chip)
        if truth is None or class_id is None or source == "gold" or str(class_id) not in active:
            continue
        key = (str(user_id), chip)
        if key in seen:
            continue
        seen.add(key)
        out[str(user_id)].append((str(class_id) != truth) if negative else str(class_id) == truth)
    return out


def agreement_report(
    state, *, gold_scores: dict[str, list[bool]], hidden: frozenset[Chip] = frozenset()
) -> dict:
    """Per-chip agreement (tied chips included, without a consensus), per-annotator agreement
    with the consensus and gold accuracy (from ``gold_answers``; callers redact it).

    ``hidden`` chips are neither rated per chip nor a consensus to agree with (their
    opinions are not the reader's to see).
    """
    per_chip, consensus = [], {}
    for chip, ops in sorted(state.items()):
        if chip in hidden:
            continue
        voices = sum(1 for op in ops.values() if not op.empty)
        leaders = _leaders(ops)
        if voices < 2 or not leaders:
            continue
        # a tie is disagreement, not a chip to skip: rate it against the tied class that
        # agrees best (they have as many labels; "not k" opinions can tell them apart)
        agree, say = max((chip_agreement(ops, k) for k in leaders), key=lambda a_s: a_s[0] / a_s[1])
        tied = len(leaders) > 1
        if not tied:
            consensus[chip] = leaders[0]
        per_chip.append(
            {
                "grid": chip[0],
                "row": chip[1],
                "col": chip[2],
                "consensus": None if tied else leaders[0],
                "tied": tied,
                "agree": agree,
                "voters": say,
                "agreement": round(agree / say, 4),
            }
        )
    users: dict[str, Counter] = defaultdict(Counter)
    for chip, k in consensus.items():
        for user, op in state.get(chip, {}).items():
            verdict = op.judges(k)
            if verdict is not None:
                users[user]["consensus_chips"] += 1
                users[user]["consensus_agree"] += int(verdict)
    for user, answers in gold_scores.items():
        users[user]["gold_chips"] += len(answers)
        users[user]["gold_agree"] += sum(answers)
    annotators = []
    for user, c in sorted(users.items()):
        row = {"user": user}
        for name in ("consensus", "gold"):
            n, a = c[f"{name}_chips"], c[f"{name}_agree"]
            row.update(
                {
                    f"{name}_chips": n,
                    f"{name}_agree": a,
                    f"agreement_with_{name}": round(a / n, 4) if n else None,
                }
            )
        annotators.append(row)
    overall = [c["agreement"] for c in per_chip]
    return {
        "per_chip": per_chip,
        "overall": round(sum(overall) / len(overall), 4) if overall else None,
        "annotators": annotators,
    }


# --- guidance ----------------------------------------------------------------------
def _half(index: int, size: int) -> int | None:
    """-1 / +1 for the first / second half of ``size`` cells; None for a middle cell."""
    centre, middle = 2 * index + 1, size
    return None if centre == middle else (-1 if centre < middle else 1)


_QUADRANT = {
    (-1, -1): "top-left",
    (-1, 1): "top-right",
    (1, -1): "bottom-left",
    (1, 1): "bottom-right",
}


def guidance_warnings(
    chips: list[dict],
    *,
    classes: list[dict],
    grids: dict[str, Grid],
    applies: set[str] | None = None,
) -> list[str]:
    """Advice on a support set: 2–10 chips per class, spread over the image(s).

    ``applies``: the classes of the images concerned (``labeling.image_classes``); a class
    that applies to none of them and has no chips is not worth a warning (another material).
    """
    warnings = []
    for cls in classes:
        mine = [c for c in chips if c["class"] == cls["id"]]
        name, n = cls["name"], len(mine)
        if n == 0 and applies is not None and cls["id"] not in applies:
            continue
        if n == 0:
            warnings.append(f"'{name}' has no chips; it is left out of the support set.")
            continue
        if n < MIN_PER_CLASS:
            warnings.append(
                f"'{name}' has only {n} chip; give at least {MIN_PER_CLASS} examples per class."
            )
        elif n > MAX_PER_CLASS:
            warnings.append(
                f"'{name}' has {n} chips; more than {MAX_PER_CLASS} examples per "
                "class rarely improve a few-shot prototype."
            )
        if n >= MIN_PER_CLASS and len({c["grid"] for c in mine}) == 1:
            grid = grids[mine[0]["grid"]]
            halves = {(_half(c["row"], grid.rows), _half(c["col"], grid.cols)) for c in mine}
            if len(halves) == 1 and (quadrant := _QUADRANT.get(halves.pop())):
                warnings.append(
                    f"All {n} chips of '{name}' come from the {quadrant} quadrant "
                    "of one image; spread the examples over the image."
                )
    return warnings


# --- the derived support set ---------------------------------------------------------
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
