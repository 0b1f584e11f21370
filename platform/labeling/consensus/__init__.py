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

from .agreement import agreement_report, agreement_with, chip_agreement, gold_answers
from .guidance import MAX_PER_CLASS, MIN_PER_CLASS, guidance_warnings
from .opinions import (
    Chip,
    Decision,
    Opinion,
    active_class_ids,
    curator_ids,
    fold,
    opinions,
    redact,
    vote_rows,
)
from .rules import decide, decide_curator, decide_majority, decide_single_owner, leading_classes
from .support import class_snapshot, support_state, usernames

__all__ = [
    "MAX_PER_CLASS",
    "MIN_PER_CLASS",
    "Chip",
    "Decision",
    "Opinion",
    "active_class_ids",
    "agreement_report",
    "agreement_with",
    "chip_agreement",
    "class_snapshot",
    "curator_ids",
    "decide",
    "decide_curator",
    "decide_majority",
    "decide_single_owner",
    "fold",
    "gold_answers",
    "guidance_warnings",
    "leading_classes",
    "opinions",
    "redact",
    "support_state",
    "usernames",
    "vote_rows",
]
