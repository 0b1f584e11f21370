"""Crowd micro-tasks: "select every chip of this panel that shows <class>".

Tasks are stateless: the issued panel travels in a token signed with Django's signing (salted,
timestamped, bound to the user), so issuing one writes nothing. Answers are validated against
the signed panel and stored as votes whose ``client_id`` is ``task:<task id>:<row>:<col>``;
the per-user unique client id makes every task answerable exactly once, also under races.
The token is signed, not encrypted: it names nothing an annotator may not know (which chips
are gold is looked up again when scoring, never written into it).

Which chips to ask about: each chip scores ``disagreement + coverage (+ model uncertainty)``
where disagreement = 1 - top share of the current labels, coverage = 1 / (1 + voices), and the
model term = 1 - confidence of the latest segmentation result when an app above labeling
registers where it comes from (``confidence_source``: analysis does). For a class k the chip's
priority adds the share of voices that labelled it k (a question about k is most useful where
someone already sees k). The (grid, class) with the highest total priority over its best nine
unanswered chips wins; ties are broken by a seeded RNG, so the choice is deterministic given
the seed and the votes. A grid is only asked about the classes
of its image (``labeling.image_classes``).

Gold honeypots: chips with a curator's gold answer are never chosen for their priority; instead
about one panel chip in nine (0, 1 or 2 per panel, seeded) is an unanswered gold chip of the
same grid, placed among the others in row order and shown exactly like them. An annotator's
answers there give their gold accuracy (``consensus.gold_answers``).

Bounded work: the scores are numpy arrays per grid (one pass per class, no Python loop over
chips), over at most ``MAX_GRIDS`` grids and ``MAX_CELLS`` chip x class cells per request (a
seeded sample of grids beyond that: another seed looks at others).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable

import numpy as np
from django.core import signing

from common.errors import Invalid, NotFound

from . import consensus
from .image_classes import classes_of_images
from .models import GoldChip, Grid, LabelClass, LabelSchema, Vote

SALT = "labeling.crowd-task"
MAX_AGE = 24 * 3600  # seconds a task may stay unanswered
PANEL = 9
MAX_GRIDS = 64  # grids scored per request (a seeded sample beyond)
MAX_CELLS = 4_000_000  # chips x classes scored per request
GOLD_PER_PANEL = (0, 1, 1, 1, 2)  # drawn per panel: one chip in nine is gold on average


#: Where the per-chip model confidence of a grid comes from: ``grid -> array | None``, set by
#: an app above labeling (analysis registers its newest result's confidence in its
#: ``AppConfig.ready``), so labeling never imports analysis. None: votes alone.
_confidence_source: Callable[[Grid], object] | None = None


def confidence_source(source: Callable[[Grid], object] | None) -> None:
    """Register where model confidence comes from (``analysis.apps``); None clears it."""
    global _confidence_source
    _confidence_source = source


def _confidence(grid: Grid):
    """Per-chip model confidence (rows x cols, in [0, 1]) of the grid's latest result, or None
    (no source registered, or no result on the grid yet): tasks then use votes alone."""
    if _confidence_source is None:
        return None
    conf = _confidence_source(grid)
    if conf is None:
        return None
    conf = np.asarray(conf, dtype=np.float64)
    if conf.shape != (grid.rows, grid.cols):
        return None  # a result on another geometry says nothing about these chips
    return conf


def _bounded(grids: list[Grid], classes: dict[str, list[str]], rng: random.Random) -> list[Grid]:
    """The grids to score: all when within the bounds, else a seeded sample that fits."""
    if (
        len(grids) <= MAX_GRIDS
        and sum(g.rows * g.cols * len(classes[str(g.image_id)]) for g in grids) <= MAX_CELLS
    ):
        return grids
    out, cells = [], 0
    for g in rng.sample(grids, len(grids)):
        n = g.rows * g.cols * len(classes[str(g.image_id)])
        if len(out) < MAX_GRIDS and cells + n <= MAX_CELLS:
            out.append(g)
            cells += n
    return out


def _grid_arrays(grid: Grid, items: list, classes: list[str]):
    """(base priority per chip, labels per class per chip, voices per chip) as flat arrays;
    ``items``: the grid's ``((grid, row, col), opinions)`` of the current state."""
    n = grid.rows * grid.cols
    index = {k: i for i, k in enumerate(classes)}
    counts = np.zeros((len(classes), n))
    voices = np.zeros(n)
    top = np.zeros(n)
    total = np.zeros(n)
    for (_, row, col), ops in items:
        if not grid.contains(row, col):
            continue
        i = row * grid.cols + col
        labels: dict[str, int] = {}
        for op in ops.values():
            if not op.empty:
                voices[i] += 1
            if op.label is not None:
                labels[op.label] = labels.get(op.label, 0) + 1
                if op.label in index:
                    counts[index[op.label], i] += 1
        if labels:
            top[i], total[i] = max(labels.values()), sum(labels.values())
    disagreement = np.where(total > 0, 1 - top / np.maximum(total, 1), 0.0)
    return disagreement + 1 / (1 + voices), counts, voices


def choose(*, user, schema: LabelSchema, grids: list[Grid], seed: int) -> dict | None:
    """The most useful panel for ``user``: ``{grid, class, chips, scores, signals}`` or None."""
    rng = random.Random(seed)
    classes = classes_of_images(schema, {g.image_id for g in grids})
    classes = {image: keep for image, (_, keep) in classes.items()}
    grids = _bounded(list(grids), classes, rng)
    state: dict[str, list] = {}
    for chip, ops in consensus.opinions(schema=schema, grids=grids).items():
        state.setdefault(chip[0], []).append((chip, ops))
    answered: dict[tuple[str, str], list[int]] = {}
    by_id = {str(g.pk): g for g in grids}
    for g, r, c, k in Vote.objects.filter(
        user=user, schema=schema, grid__in=grids, label_class__isnull=False
    ).values_list("grid_id", "row", "col", "label_class_id"):
        grid = by_id[str(g)]
        if grid.contains(r, c):
            answered.setdefault((str(g), str(k)), []).append(r * grid.cols + c)
    gold: dict[str, dict[int, str]] = {}  # grid -> {chip index: gold class}
    for g, r, c, k in GoldChip.objects.filter(
        schema=schema, grid__in=grids, label_class__removed_at=None
    ).values_list("grid_id", "row", "col", "label_class_id"):
        grid = by_id[str(g)]
        if grid.contains(r, c):
            gold.setdefault(str(g), {})[r * grid.cols + c] = str(k)
    best, signals = None, {"disagreement": True, "coverage": True, "model": False}
    for grid in grids:
        gid, conf, mine = str(grid.pk), _confidence(grid), classes[str(grid.image_id)]
        signals["model"] |= conf is not None
        if not mine or not grid.rows * grid.cols:
            continue
        base, counts, voices = _grid_arrays(grid, state.get(gid, []), mine)
        if conf is not None:
            base = base + 1 - conf.ravel()
        share = counts / np.maximum(voices, 1)
        # distinct priorities differ by >= 1e-9 after rounding: the seeded tie-break only
        # orders equal ones (the same order for the same seed and votes)
        ties = np.random.default_rng(rng.getrandbits(64)).random(base.size) * 1e-10
        for i, k in enumerate(mine):
            priority = np.round(base + share[i], 9)
            key = priority + ties
            key[list(gold.get(gid, {}))] = -np.inf
            key[answered.get((gid, k), [])] = -np.inf
            open_ = int(np.isfinite(key).sum())
            if not open_:
                continue
            top = np.argpartition(-key, min(PANEL, open_) - 1)[: min(PANEL, open_)]
            top = top[np.isfinite(key[top])]
            value = (round(float(priority[top].sum()), 9), rng.random())
            if best is None or value > best[0]:
                best = (value, grid, k, [(float(priority[j]), int(j)) for j in top])
    if best is None:
        return None
    _, grid, k, top = best
    top = sorted(top, key=lambda pj: -pj[0])
    honeypots = _honeypots(grid, k, gold, answered, rng)
    if honeypots:
        keep = len(top) - max(0, len(honeypots) - (PANEL - len(top)))
        top = top[:keep] + [(None, j) for j in honeypots]
    chips = sorted(divmod(j, grid.cols) for _, j in top)
    scores = {f"{j // grid.cols},{j % grid.cols}": p for p, j in top if p is not None}
    return {"grid": grid, "class": k, "chips": chips, "scores": scores, "signals": signals}


def _honeypots(grid: Grid, k: str, gold, answered, rng: random.Random) -> list[int]:
    """Up to a drawn number of gold chips of ``grid`` the user has not answered about ``k``;
    each one is, by a coin toss where both exist, a chip whose answer is ``k`` (to be selected:
    selecting nothing does not pass it) or one whose answer is another class."""
    wanted = rng.choice(GOLD_PER_PANEL)
    done = set(answered.get((str(grid.pk), k), []))
    chips = gold.get(str(grid.pk), {})
    yes = sorted(j for j, g in chips.items() if g == k and j not in done)
    no = sorted(j for j, g in chips.items() if g != k and j not in done)
    out = []
    for _ in range(wanted):
        pool = yes if (yes and (not no or rng.random() < 0.5)) else no
        if not pool:
            break
        out.append(pool.pop(rng.randrange(len(pool))))
    return out


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
    y0, x0, y1, x1 = grid.chip_grid.chip_box(row, col)
    x, y, w, h = x0, y0, x1 - x0, y1 - y0
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
