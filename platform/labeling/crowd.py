"""Crowd micro-tasks: "select every chip of this panel that shows <class>".

Tasks are stateless: the issued panel travels in a token signed with Django's signing (salted,
timestamped, bound to the user), so issuing one writes nothing. Answers are validated against
the signed panel and stored as votes whose ``client_id`` is ``task:<task id>:<row>:<col>``;
the per-user unique client id makes every task answerable exactly once, also under races.

Which chips to ask about: each chip scores ``disagreement + coverage (+ model uncertainty)``
where disagreement = 1 - top share of the current labels, coverage = 1 / (1 + voices), and the
model term = 1 - confidence of the latest segmentation result when the analysis app exposes
one. For a class k the chip's priority adds the share of voices that labelled it k (a question
about k is most useful where someone already sees k). The (grid, class) with the highest total
priority over its best nine unanswered chips wins; ties are broken by a seeded RNG, so the
choice is deterministic given the seed and the votes.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import Counter

from django.core import signing

from common.errors import Invalid, NotFound

from . import consensus
from .models import Grid, LabelClass, LabelSchema, Vote

SALT = "labeling.crowd-task"
MAX_AGE = 24 * 3600  # seconds a task may stay unanswered
PANEL = 9


def _confidence(grid: Grid):
    """Per-chip model confidence (rows x cols, in [0, 1]) of the grid's latest result, or None.

    ``analysis.selectors.latest_confidence`` is provided by the analysis app, built in
    parallel; until it exists (or while a grid has no result) tasks are chosen from vote
    disagreement and coverage alone.
    """
    try:
        from analysis.selectors import latest_confidence
    except ImportError:
        return None
    conf = latest_confidence(grid=grid)
    if conf is None:
        return None
    rows = [list(map(float, row)) for row in conf]
    if len(rows) != grid.rows or any(len(row) != grid.cols for row in rows):
        return None  # a result on another geometry says nothing about these chips
    return rows


def choose(*, user, schema: LabelSchema, grids: list[Grid], seed: int) -> dict | None:
    """The most useful panel for ``user``: ``{grid, class, chips, scores, signals}`` or None."""
    classes = [
        str(pk) for pk in schema.classes.filter(removed_at=None).values_list("pk", flat=True)
    ]
    state = consensus.opinions(schema=schema, grids=grids)
    answered = {
        (str(g), r, c, str(k))
        for g, r, c, k in Vote.objects.filter(
            user=user, schema=schema, grid__in=grids, label_class__isnull=False
        ).values_list("grid_id", "row", "col", "label_class_id")
    }
    rng = random.Random(seed)
    best, signals = None, {"disagreement": True, "coverage": True, "model": False}
    for grid in grids:
        gid, conf = str(grid.pk), _confidence(grid)
        signals["model"] |= conf is not None
        candidates: dict[str, list] = {k: [] for k in classes}
        for row in range(grid.rows):
            for col in range(grid.cols):
                ops = state.get((gid, row, col), {})
                labels = Counter(op.label for op in ops.values() if op.label is not None)
                voices = sum(1 for op in ops.values() if not op.empty)
                disagreement = 1 - max(labels.values()) / labels.total() if labels else 0.0
                base = disagreement + 1 / (1 + voices)
                if conf is not None:
                    base += 1 - conf[row][col]
                for k in classes:
                    if (gid, row, col, k) not in answered:
                        priority = base + (labels[k] / voices if voices else 0.0)
                        candidates[k].append((round(priority, 9), rng.random(), row, col))
        for k in classes:
            top = heapq.nlargest(PANEL, candidates[k])
            if not top:
                continue
            value = (round(sum(p for p, *_ in top), 9), rng.random())
            if best is None or value > best[0]:
                best = (value, grid, k, top)
    if best is None:
        return None
    _, grid, k, top = best
    chips = sorted((row, col) for _, _, row, col in top)
    scores = {f"{row},{col}": p for p, _, row, col in top}
    return {"grid": grid, "class": k, "chips": chips, "scores": scores, "signals": signals}


def issue(
    *, user, schema: LabelSchema, grid: Grid, label_class: LabelClass, chips: list[tuple[int, int]]
) -> str:
    return signing.dumps(
        {
            "u": str(user.pk),
            "s": str(schema.pk),
            "g": str(grid.pk),
            "k": str(label_class.pk),
            "c": [list(rc) for rc in chips],
        },
        salt=SALT,
        compress=True,
    )


def task_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def read(token: str, *, user) -> dict:
    """The signed panel of ``token``; refuses tampered, expired or other users' tokens."""
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE)
    except signing.SignatureExpired as err:
        raise Invalid(
            "This task has expired; fetch a new one.",
            code="task_expired",
            fields={"task": ["expired"]},
        ) from err
    except signing.BadSignature as err:
        raise Invalid(
            "Not a valid task token.", code="bad_task", fields={"task": ["invalid"]}
        ) from err
    if data.get("u") != str(user.pk):
        raise NotFound("Task not found.")
    return data


def chip_view(grid: Grid, row: int, col: int) -> dict:
    """A panel chip with its crop box in original pixels and as fractions of the image
    (the fractions crop the preview at whatever size it was rendered)."""
    x, y, w, h = grid.chip_box(row, col)
    width, height = grid.image.width, grid.image.height
    return {
        "image": str(grid.image_id),
        "row": row,
        "col": col,
        "box": {"x": x, "y": y, "width": w, "height": h},
        "fraction": {
            "x": round(x / width, 6),
            "y": round(y / height, 6),
            "width": round(w / width, 6),
            "height": round(h / height, 6),
        },
    }
