"""The support check as a job reports it: every support chip classified leave-one-out
(``uncertainty.support_check``), the disagreements named by image, row and column."""

from __future__ import annotations

import torch

from workers.fewshot.uncertainty import (
    disagreements,
    support_check,
)


def support_check_summary(
    support: dict[int, torch.Tensor],
    temperature: float | None,
    chips: dict[int, list[tuple[int, int, int]]] | None,
) -> dict:
    """Every support chip classified leave-one-out (``uncertainty.support_check``), as a
    JSON-ready summary: how many were checked and the examples the model would label otherwise
    (most confident first), each with its class, predicted class and probability, and its
    (image index, row, col)."""
    check = support_check(support, temperature)
    disagree = []
    for c in disagreements(check):
        item = {
            "class": c["class_id"],
            "predicted": c["predicted"],
            "probability": round(c["probability"], 4),
        }
        if chips is not None:
            item["image"], item["row"], item["col"] = chips[c["class_id"]][c["index"]]
        disagree.append(item)
    # most confident first: one wrong example also pulls its class's held-out prototype, so the
    # right examples of that class can follow it, less surely
    disagree.sort(key=lambda d: -d["probability"])
    return {
        "method": "leave-one-out: each example against prototypes built without it",
        "n_checked": sum(c["checked"] for c in check),
        "n_examples": len(check),
        "disagree": disagree,
    }
