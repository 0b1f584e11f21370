"""Example clicks carried from one grid of an image to another (a new chip size or offset).

Votes belong to a grid's (row, col), so a new grid starts empty. ``votes_carry`` maps the
user's current labels of the old grid onto the new one through image coordinates and stores
them as that user's own votes there; the old grid keeps its votes, so going back to it shows
the original clicks exactly.
"""

import hashlib
from collections import defaultdict

from django.db import transaction

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Invalid

from .. import consensus
from ..models import Grid, LabelSchema
from .votes import MAX_BATCH, votes_cast_many

#: the most chips one carry labels (e.g. 10 examples of 512 px moved to 8 px chips would be
#: 40 960); past it the new grid is left for the user to label
MAX_CARRIED = 2000

Labels = dict[tuple[int, int], str]  # (row, col) -> class id


def _geometry(grid: Grid) -> tuple[int, int, int, int, int]:
    return grid.chip_size, grid.offset_x, grid.offset_y, grid.rows, grid.cols


def carry_map(labels: Labels, *, source: Grid, target: Grid) -> tuple[Labels, int]:
    """``labels`` of ``source``'s chips moved onto ``target``'s chips, and how many of them
    found no place.

    A target chip takes the class whose labelled area covers most of it, when that area is
    at least half of the smaller chip (half a target chip when chips get smaller, half an
    example when they get larger) and no other class covers as much; so 0.5x gives the four
    chips inside each example and 2x the chip containing it, as
    ``workers.fewshot.pipeline.rescale_support`` does, and any other size or offset follows
    the same rule. An example no target chip takes is not carried.
    """
    s, ox, oy, _, _ = _geometry(source)
    t, tx, ty, rows, cols = _geometry(target)
    area: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    homes: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for (r, c), k in labels.items():
        x0, y0 = ox + c * s, oy + r * s
        x1, y1 = x0 + s, y0 + s
        cells = []
        for tr in range(max(0, (y0 - ty) // t), min(rows, (y1 - 1 - ty) // t + 1)):
            for tc in range(max(0, (x0 - tx) // t), min(cols, (x1 - 1 - tx) // t + 1)):
                bx0, by0 = tx + tc * t, ty + tr * t
                w = min(x1, bx0 + t) - max(x0, bx0)
                h = min(y1, by0 + t) - max(y0, by0)
                if w > 0 and h > 0:
                    area[(tr, tc)][k] += w * h
                    cells.append((tr, tc))
        homes[(r, c)] = cells
    need = min(s, t) ** 2 / 2
    out: Labels = {}
    for chip, by_class in area.items():
        ranked = sorted(by_class.items(), key=lambda kv: -kv[1])
        best, cover = ranked[0]
        if cover >= need and (len(ranked) == 1 or ranked[1][1] < cover):
            out[chip] = best
    lost = sum(
        1 for rc, cells in homes.items() if not any(out.get(cell) == labels[rc] for cell in cells)
    )
    return dict(sorted(out.items())), lost


def labels_of_user(*, user, schema: LabelSchema, grid: Grid) -> Labels:
    """The user's current labels (class ids) on ``grid``."""
    state = consensus.fold(
        consensus.vote_rows(schema=schema, grids=[grid], users=[user.pk]),
        active=consensus.active_class_ids(schema),
    )
    me = str(user.pk)
    return {
        (row, col): ops[me].label
        for (_, row, col), ops in state.items()
        if me in ops and ops[me].label is not None
    }


@transaction.atomic
def votes_carry(*, user, source: Grid, target: Grid, schema: LabelSchema) -> dict:
    """Carry the user's example clicks on ``source`` to ``target`` (a grid of the same image).

    Only onto a grid where the user has no labels yet: one labelled there already keeps them
    (so a retried request, or going back to a grid, changes nothing). Returns what happened:
    ``{examples, carried, lost, reason, chips: [{row, col, class}]}`` where ``reason`` is ""
    when votes were stored, else ``no_examples``, ``target_labelled`` or ``too_many``.
    """
    require_role(user=user, lab_id=target.image.dataset.lab_id, role=Role.ANNOTATOR)
    if source.image_id != target.image_id:
        raise Invalid(
            "Examples are carried between grids of the same image only.",
            fields={"from_grid": ["another image's grid"]},
        )
    if source.pk == target.pk:
        raise Invalid("That is the same grid.", fields={"from_grid": ["same grid"]})
    if schema.dataset_id != target.image.dataset_id:
        raise Invalid(
            "That schema belongs to another dataset than this grid's image.",
            fields={"schema": ["other dataset"]},
        )
    # one carry at a time onto a grid: two concurrent requests must not both find it empty
    Grid.objects.select_for_update().filter(pk=target.pk).first()
    labels = labels_of_user(user=user, schema=schema, grid=source)
    answer = {
        "from_grid": str(source.pk),
        "from_chip_size": source.chip_size,
        "from_offset": [source.offset_x, source.offset_y],
        "examples": len(labels),
        "carried": 0,
        "lost": 0,
        "reason": "",
        "chips": [],
    }
    if not labels:
        return {**answer, "reason": "no_examples"}
    if labels_of_user(user=user, schema=schema, grid=target):
        return {**answer, "reason": "target_labelled"}
    moved, lost = carry_map(labels, source=source, target=target)
    if len(moved) > MAX_CARRIED:
        return {**answer, "reason": "too_many", "carried": len(moved)}
    tag = hashlib.sha1(f"{source.pk}:{target.pk}".encode()).hexdigest()[:20]
    votes = [
        {"row": r, "col": c, "class": k, "client_id": f"carry:{tag}:{r}:{c}"}
        for (r, c), k in moved.items()
    ]
    for start in range(0, len(votes), MAX_BATCH):
        votes_cast_many(
            user=user, grid=target, schema=schema, votes=votes[start : start + MAX_BATCH]
        )
    return {
        **answer,
        "carried": len(moved),
        "lost": lost,
        "chips": [{"row": r, "col": c, "class": k} for (r, c), k in moved.items()],
    }
