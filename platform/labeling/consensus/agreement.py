"""Agreement per chip and per annotator, with the consensus and with gold answers."""

from __future__ import annotations

from collections import Counter, defaultdict

from .opinions import Chip, Decision, Opinion
from .rules import leading_classes


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
        leaders = leading_classes(ops)
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
