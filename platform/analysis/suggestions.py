"""Chips to label next on a grid ("label these next"), from the newest result on it.

It lives in analysis, not labeling: it reads segmentation results, and analysis builds on
labeling (the user's examples come from ``labeling.services.carry.labels_of_user``).

``workers.fewshot.label_next`` ranks chips by how unsure the result is about them
(the margin between the two most probable classes) and how unlike every example they look
(distance to the nearest class prototype in the encoder's embeddings, read from the
embeddings cache the job filled). The user's current examples are skipped.
"""

from __future__ import annotations

import numpy as np

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Conflict
from labeling.models import Grid, LabelSchema
from labeling.services.carry import labels_of_user

from . import artefacts
from .models import JobStatus, SegmentationResult

MAX_SUGGESTIONS = 32


def next_chips(*, user, grid: Grid, schema: LabelSchema, n: int = 8) -> dict:
    """Up to ``n`` chips of ``grid`` to label next: ``{grid, result, strategy, chips: [{row,
    col, score, reason}]}``. 409 ``no_result`` before the grid has a succeeded result."""
    require_role(user=user, lab_id=grid.image.dataset.lab_id, role=Role.ANNOTATOR)
    from workers.fewshot.label_next import label_next  # torch: loaded by the first request only

    result = (
        SegmentationResult.objects.filter(grid=grid, frame=0, job__status=JobStatus.SUCCEEDED)
        .select_related("job")
        .order_by("-created")
        .first()
    )
    if result is None:
        raise Conflict(
            "Segment this grid once first: suggestions come from its newest result.",
            code="no_result",
        )
    probs = artefacts.npz_load(result.arrays_key)["probs"]
    rows, cols = probs.shape[:2]
    job = result.job
    key = artefacts.embeddings_key(
        lab_id=job.lab_id,
        model_version_id=job.model_version_id,
        sha256=grid.image.sha256,
        chip_size=grid.chip_size,
        offset=(grid.offset_y, grid.offset_x),
    )
    embeddings, _ = artefacts.embeddings_get(key)
    if embeddings is None or embeddings.shape[1:3] != (rows, cols):
        # no cached embeddings (evicted): rank by the result's uncertainty alone
        embeddings, strategy = np.zeros((rows, cols, 1), np.float32), "margin"
    else:
        embeddings, strategy = embeddings[0], "mixed"
    support: dict[int, list[tuple[int, int]]] = {}
    index: dict[str, int] = {}  # the library numbers classes
    for (row, col), k in labels_of_user(user=user, schema=schema, grid=grid).items():
        if row < rows and col < cols:
            support.setdefault(index.setdefault(k, len(index)), []).append((row, col))
    picks = label_next(probs, embeddings, support, n=n, strategy=strategy)
    return {
        "grid": str(grid.pk),
        "result": str(result.pk),
        "strategy": strategy,
        "chips": [
            {"row": p.row, "col": p.col, "score": round(p.score, 4), "reason": p.reason}
            for p in picks
        ],
    }
