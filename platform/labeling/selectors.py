"""Reads of schemas, grids, votes, support sets and agreement.

Everything here hangs off an image and is visible exactly when its image (dataset) is
(``catalog.selectors``). Who labelled what is the lab's own business: individual votes, the live
support set derived from them, agreement reports and gold answers need lab membership (a
visible dataset of another lab, i.e. a public one, gets 403 ``members_only``; an invisible one
404 as everywhere), and frozen versions show non-members their contributors anonymised.
Within the lab, users below curator do not see other users' votes on chips with a gold answer
(setting gold records it as the curator's vote: it would give away the answers annotators are
scored against); those chips are left out of everything derived for them, as if only they had
voted there.
"""

import functools
from collections import Counter

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet

from accounts.models import ROLE_RANK, Membership, Role
from accounts.selectors import require_role, role_in_lab
from catalog.models import Dataset, Image, ImageStatus
from catalog.selectors import (
    dataset_get,
    dataset_visible,
    datasets_visible_to,
    image_get,
    images_visible_to,
)
from common import storage
from common.errors import Forbidden, Invalid, NotFound

from . import consensus, crowd
from .image_classes import classes_of_images
from .models import ConsensusRule, GoldChip, Grid, LabelClass, LabelSchema, SupportSetVersion


# --- who may see whose votes ------------------------------------------------------
def _require_member(*, user, dataset: Dataset, message: str) -> str:
    """The user's role in the dataset's lab; for non-members NotFound when they cannot see the
    dataset and Forbidden ``members_only`` when they can (a public dataset: nothing leaks)."""
    role = role_in_lab(user=user, lab_id=dataset.lab_id)
    if role is None:
        dataset_get(user=user, dataset_id=dataset.pk)
        raise Forbidden(message, code="members_only")
    return role


def identities_visible(*, user, lab_id) -> bool:
    """Whether ``user`` may see who labelled what in the lab (user ids, usernames)."""
    return role_in_lab(user=user, lab_id=lab_id) is not None


def gold_hidden(*, user, role: str, schema: LabelSchema, grids) -> frozenset:
    """The chips (grid id, row, col) on which ``user`` may see only their own votes: below
    curator, every chip with a gold answer; curators and owners see everything."""
    if ROLE_RANK[Role(role)] >= ROLE_RANK[Role.CURATOR]:
        return frozenset()
    return frozenset(
        (str(g), r, c)
        for g, r, c in GoldChip.objects.filter(schema=schema, grid__in=list(grids)).values_list(
            "grid_id", "row", "col"
        )
    )


# --- schemas and classes -----------------------------------------------------------
def schemas_visible_to(*, user) -> QuerySet[LabelSchema]:
    return LabelSchema.objects.filter(
        dataset__in=datasets_visible_to(user=user).values("pk")
    ).select_related("dataset", "dataset__lab")


def schemas_of_dataset(*, user, dataset_id) -> QuerySet[LabelSchema]:
    dataset = dataset_get(user=user, dataset_id=dataset_id)
    return dataset.schemas.prefetch_related("classes").select_related("dataset")


def schema_get(*, user, schema_id) -> LabelSchema:
    schema = schemas_visible_to(user=user).filter(pk=schema_id).first()
    if schema is None:
        raise NotFound("Label schema not found.")
    return schema


def class_get(*, user, class_id) -> LabelClass:
    label_class = (
        LabelClass.objects.filter(
            pk=class_id, schema__in=schemas_visible_to(user=user).values("pk")
        )
        .select_related("schema", "schema__dataset")
        .first()
    )
    if label_class is None:
        raise NotFound("Class not found.")
    return label_class


def schema_for_grid(*, user, grid: Grid, schema_id=None) -> LabelSchema:
    """The schema named by ``schema_id``, else the dataset's default (or only) schema."""
    if schema_id:
        schema = schema_get(user=user, schema_id=schema_id)
        if schema.dataset_id != grid.image.dataset_id:
            raise Invalid(
                "That schema belongs to another dataset than this grid's image.",
                fields={"schema": ["other dataset"]},
            )
        return schema
    schemas = list(LabelSchema.objects.filter(dataset_id=grid.image.dataset_id))
    default = [s for s in schemas if s.is_default] or (schemas if len(schemas) == 1 else [])
    if not default:
        raise Invalid(
            "Name the label schema (?schema=<id>): this dataset has "
            f"{len(schemas)} schemas and no default.",
            fields={"schema": ["required"]},
        )
    return default[0]


# --- grids -------------------------------------------------------------------------
def grids_visible_to(*, user) -> QuerySet[Grid]:
    return Grid.objects.filter(image__in=images_visible_to(user=user).values("pk"))


def grids_of_image(*, user, image_id) -> QuerySet[Grid]:
    image = image_get(user=user, image_id=image_id)
    return image.grids.all()


def grid_get(*, user, grid_id) -> Grid:
    grid = (
        grids_visible_to(user=user)
        .select_related("image", "image__dataset", "image__dataset__lab")
        .filter(pk=grid_id)
        .first()
    )
    if grid is None:
        raise NotFound("Grid not found.")
    return grid


def grid_for_voting(*, user, grid_id) -> Grid:
    """``grid_get`` for the vote path (the hottest request), in one query: the grid with what
    casting a vote reads (its size, its image's dataset and lab) and the user's role in that
    lab, kept as ``grid.voter_role`` = (user id, role or None) for ``votes_cast_many``.

    Written in SQL because composing it with the ORM cost more CPU than the rest of a vote
    (profiled); visibility is ``catalog.selectors.dataset_visible``, the same rule as
    ``datasets_visible_to``. The instances carry only these fields (others load on access).
    """
    try:
        grid_id_db = _db_value(Grid, "id", grid_id)
    except ValidationError:
        raise NotFound("Grid not found.") from None
    with connection.cursor() as cursor:
        cursor.execute(_voting_sql(), [_db_value(Membership, "user_id", user.pk), grid_id_db])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Grid not found.")
    grid_pk, rows, cols, image_id, dataset_id, lab_id, visibility, created_by_id, role = row
    dataset = _partial(
        Dataset,
        id=dataset_id,
        lab_id=lab_id,
        visibility=visibility,
        created_by_id=created_by_id,
    )
    if not dataset_visible(user=user, dataset=dataset, role=role):
        raise NotFound("Grid not found.")
    image = _partial(Image, id=image_id, dataset_id=dataset_id)
    image.dataset = dataset
    grid = _partial(Grid, id=grid_pk, image_id=image_id, rows=rows, cols=cols)
    grid.image = image
    grid.voter_role = (user.pk, role)
    return grid


@functools.cache
def _voting_sql() -> str:
    def table(model):
        return connection.ops.quote_name(model._meta.db_table)

    return (
        'SELECT g.id, g."rows", g.cols, g.image_id, i.dataset_id, d.lab_id, d.visibility, '
        "d.created_by_id, (SELECT m.role FROM "
        f"{table(Membership)} m WHERE m.lab_id = d.lab_id AND m.user_id = %s) "
        f"FROM {table(Grid)} g JOIN {table(Image)} i ON i.id = g.image_id "
        f"JOIN {table(Dataset)} d ON d.id = i.dataset_id WHERE g.id = %s"
    )


def _db_value(model, attname: str, value):
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    return None if value is None else field.get_db_prep_value(field.to_python(value), connection)


def _partial(model, **values):
    """A ``model`` instance as loaded from the database with only ``values`` (by attname,
    raw from the cursor: converted here, e.g. SQLite's hex UUIDs)."""
    fields = [f for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(
        connection.alias,
        [f.attname for f in fields],
        [f.to_python(values[f.attname]) for f in fields],
    )


def grids_get_many(*, user, grid_ids) -> list[Grid]:
    """The grids named, in order; NotFound if any is not visible."""
    ids = list(dict.fromkeys(str(g) for g in grid_ids))
    found = {
        str(g.pk): g
        for g in grids_visible_to(user=user)
        .select_related("image", "image__dataset")
        .filter(pk__in=ids)
    }
    if len(found) != len(ids):
        raise NotFound("Grid not found.")
    return [found[g] for g in ids]


def grids_of_dataset(dataset: Dataset) -> QuerySet[Grid]:
    return Grid.objects.filter(image__dataset=dataset).select_related("image")


def chip_size_suggestion(*, user, image_id) -> dict:
    """The engine's chip-size suggestion, computed on the preview and scaled to the original."""
    image = image_get(user=user, image_id=image_id)
    if image.status != ImageStatus.READY or not image.preview_key:
        raise NotFound(f"No preview yet: the image is {image.status}.", code="not_ready")
    return _suggest_from_preview(image)


def _suggest_from_preview(image: Image) -> dict:
    import numpy as np
    from PIL import Image as PILImage

    from workers.fewshot.guidance import suggest_chip_size, uncovered_share

    with storage.open_(image.preview_key) as fh:
        preview = np.asarray(PILImage.open(fh).convert("L"), dtype=np.float32)
    scale = image.width / preview.shape[1]  # previews are downscaled, never upscaled
    suggestion = suggest_chip_size(preview).to_dict()
    limit = min(image.width, image.height)
    chip = int(min(max(round(suggestion["chip_size"] * scale), 1), limit))
    for key in ("period_px", "correlation_length_px"):
        if suggestion.get(key) is not None:
            suggestion[key] = round(suggestion[key] * scale, 2)
    if scale != 1:  # the engine's reason speaks of preview pixels
        suggestion["reason"] += (
            f" on the preview, downscaled {scale:.2f}x; in image pixels -> {chip} px"
        )
    elif chip != suggestion["chip_size"]:
        suggestion["reason"] += f"; at most the image's smaller side -> {chip} px"
    grid = [image.height // chip, image.width // chip]  # at offset 0, in image pixels
    return {
        **suggestion,
        "chip_size": chip,
        "computed_on": "preview",
        "preview_scale": round(scale, 4),
        "max_chip_size": limit,
        "grid": grid,
        "uncovered_fraction": round(uncovered_share(image.height, image.width, chip), 4),
    }


# --- votes -------------------------------------------------------------------------
def votes_current(*, user, grid: Grid, schema: LabelSchema, scope: str = "me") -> dict:
    """Current state per chip: the acting user's labels (``me``) or everyone's with counts.

    ``all`` is for lab members; below curator, chips with a gold answer show only your vote.
    """
    if scope not in ("me", "all"):
        raise Invalid("user must be 'me' or 'all'.", fields={"user": ["me or all"]})
    me = str(user.pk)
    state = consensus.opinions(schema=schema, grids=[grid])
    if scope == "all":
        role = _require_member(
            user=user,
            dataset=grid.image.dataset,
            message="Per-annotator votes (user=all) are visible to members of the dataset's "
            "lab only; user=me shows your own.",
        )
        hidden = gold_hidden(user=user, role=role, schema=schema, grids=[grid])
        state = consensus.redact(state, hidden=hidden, keep=me)
    chips = []
    for (_, row, col), ops in sorted(state.items()):
        if scope == "me":
            op = ops.get(me)
            if op is None or op.empty:
                continue
            chips.append({"row": row, "col": col, "class": op.label, "not": sorted(op.negatives)})
            continue
        labels = Counter(op.label for op in ops.values() if op.label is not None)
        negatives = Counter(k for op in ops.values() for k in op.negatives)
        if not labels and not negatives:
            continue
        mine = ops.get(me)
        chips.append(
            {
                "row": row,
                "col": col,
                "mine": mine.label if mine else None,
                "counts": dict(sorted(labels.items())),
                "not_counts": dict(sorted(negatives.items())),
                "users": [
                    {"user": u, "class": op.label}
                    for u, op in sorted(ops.items())
                    if op.label is not None
                ],
            }
        )
    return {"grid": str(grid.pk), "schema": str(schema.pk), "user": scope, "chips": chips}


def gold_of_grid(*, user, grid: Grid, schema: LabelSchema) -> QuerySet[GoldChip]:
    # annotators must not see the answers they are scored against
    _require_member(
        user=user,
        dataset=grid.image.dataset,
        message="Gold answers are visible to the curators of the dataset's lab only.",
    )
    require_role(user=user, lab_id=grid.image.dataset.lab_id, role=Role.CURATOR)
    return GoldChip.objects.filter(grid=grid, schema=schema).order_by("row", "col")


# --- support sets ------------------------------------------------------------------
def clean_rule(rule: str, min_votes: int) -> None:
    if rule not in ConsensusRule.values:
        raise Invalid(
            f"Unknown rule '{rule}'; use {', '.join(ConsensusRule.values)}.",
            fields={"rule": ["unknown"]},
        )
    if min_votes < 1:
        raise Invalid("min_votes must be at least 1.", fields={"min_votes": ["too small"]})


def support_state(
    *, user, schema: LabelSchema, grids: list[Grid], rule: str, owner=None, min_votes: int = 2
) -> dict:
    """The live support set ``rule`` derives from the votes on ``grids`` (before freezing).

    single_owner defaults to the acting user. See ``labeling.consensus`` for the rules. For lab
    members only (it is derived from individual votes; outsiders see frozen versions); below
    curator it is derived as if on chips with a gold answer only the acting user had voted.
    """
    role = _require_member(
        user=user,
        dataset=schema.dataset,
        message="The live support set is derived from individual votes and visible to "
        "members of the dataset's lab only; its frozen versions (schemas/<id>/versions/) "
        "are public.",
    )
    clean_rule(rule, min_votes)
    for grid in grids:
        if grid.image.dataset_id != schema.dataset_id:
            raise Invalid(
                "The grid's image is not in the schema's dataset.",
                fields={"schema": ["other dataset"]},
            )
    if rule == ConsensusRule.SINGLE_OWNER and owner is None:
        owner = user.pk
    return consensus.support_state(
        schema=schema,
        grids=grids,
        rule=rule,
        owner=owner,
        min_votes=min_votes,
        hidden=gold_hidden(user=user, role=role, schema=schema, grids=grids),
        keep=str(user.pk),
    )


def versions_of_schema(*, user, schema_id) -> QuerySet[SupportSetVersion]:
    """The schema's frozen versions (non-members of its lab see them anonymised)."""
    schema = schema_get(user=user, schema_id=schema_id)
    return schema.versions.select_related("schema__dataset").order_by("number")


def support_set_get(*, user, version_id) -> SupportSetVersion:
    """A frozen version (non-members of its lab see it anonymised:
    ``SupportSetVersionSerializer``)."""
    version = (
        SupportSetVersion.objects.filter(
            pk=version_id, schema__in=schemas_visible_to(user=user).values("pk")
        )
        .select_related("schema", "schema__dataset")
        .first()
    )
    if version is None:
        raise NotFound("Support set version not found.")
    return version


# --- agreement ---------------------------------------------------------------------
GOLD_BATCH = 10  # below curator, your gold accuracy moves only every this many gold answers


def agreement(*, user, schema: LabelSchema, grid: Grid | None = None) -> dict:
    """Per-chip agreement with the consensus; per-annotator agreement with it and gold accuracy.

    For lab members only. Gold accuracy counts each annotator's first answer on each gold chip
    (``consensus.gold_answers``). Curators and owners see everyone's. Below curator, chips with
    a gold answer are left out of the per-chip figures and of agreement with the consensus,
    nobody else's gold accuracy is shown, and your own only over your first ``GOLD_BATCH``,
    2 x ``GOLD_BATCH``… gold answers (none before the first ``GOLD_BATCH``): no per-chip
    feedback, so voting and re-reading the score gives no gold answer away.
    """
    role = _require_member(
        user=user,
        dataset=schema.dataset,
        message="Agreement reports rate individual annotators and are visible to members of "
        "the dataset's lab only; frozen versions (schemas/<id>/versions/) include per-chip "
        "agreement.",
    )
    if grid is not None and grid.image.dataset_id != schema.dataset_id:
        raise Invalid(
            "That grid is on an image of another dataset than this schema's.",
            fields={"grid": ["other dataset"]},
        )
    grids = [grid] if grid is not None else list(grids_of_dataset(schema.dataset))
    active = consensus.active_class_ids(schema)
    rows = list(consensus.vote_rows(schema=schema, grids=grids, source=True))
    state = consensus.fold((r[:6] for r in rows), active=active)
    gold = {
        (str(g), r, c): str(k)
        for g, r, c, k in GoldChip.objects.filter(
            schema=schema, grid__in=grids, label_class__removed_at=None
        ).values_list("grid_id", "row", "col", "label_class_id")
    }
    scores = consensus.gold_answers(rows, gold=gold, active=active)
    curator = ROLE_RANK[Role(role)] >= ROLE_RANK[Role.CURATOR]
    if not curator:
        me = str(user.pk)
        mine = scores.get(me, [])
        shown = len(mine) // GOLD_BATCH * GOLD_BATCH
        scores = {me: mine[:shown]} if shown else {}
    hidden = gold_hidden(user=user, role=role, schema=schema, grids=grids)
    report = consensus.agreement_report(state, gold_scores=scores, hidden=hidden)
    names = consensus.usernames(row["user"] for row in report["annotators"])
    for row in report["annotators"]:
        row["username"] = names.get(row["user"], "")
    report["gold_chips"] = len(gold)
    report["gold_scoring"] = {
        "answers": "first answer per gold chip",
        "shown": "everyone" if curator else "own, per batch",
        "batch": 1 if curator else GOLD_BATCH,
    }
    return {"schema": str(schema.pk), **report}


# --- classes per image -------------------------------------------------------------
def image_classes(*, user, image_id, schema_id=None) -> dict:
    """The classes of a schema that apply to an image: ``{image, schema, mode, classes}``
    (mode ``chosen``: ticked by its annotators; ``labels``: those its labels use; ``all``)."""
    image = image_get(user=user, image_id=image_id)
    if schema_id:
        schema = schema_get(user=user, schema_id=schema_id)
        if schema.dataset_id != image.dataset_id:
            raise Invalid(
                "That schema belongs to another dataset than this image.",
                fields={"schema": ["other dataset"]},
            )
    else:
        schemas = list(LabelSchema.objects.filter(dataset_id=image.dataset_id))
        default = [s for s in schemas if s.is_default] or (schemas if len(schemas) == 1 else [])
        if not default:
            raise NotFound("This dataset has no label schema yet.", code="no_schema")
        schema = default[0]
    mode, keep = classes_of_images(schema, [image.pk])[str(image.pk)]
    return {"image": str(image.pk), "schema": str(schema.pk), "mode": mode, "classes": keep}


# --- curator review ----------------------------------------------------------------
MAX_REVIEW = 200


def review_queue(
    *, user, schema: LabelSchema, grid: Grid | None = None, limit: int = 50, below: float = 1.0
) -> dict:
    """Contested chips for a curator to accept or reject, most contested first.

    A chip is contested when at least two people have an opinion on it and the agreement with
    its leading class is below ``below`` (a tie counts as 1/2 at most); it leaves the queue when
    the newest vote on it is a curator's review and comes back with the next vote.
    """
    require_role(user=user, lab_id=schema.dataset.lab_id, role=Role.CURATOR)
    if not 1 <= limit <= MAX_REVIEW:
        raise Invalid(f"limit must be 1 to {MAX_REVIEW}.", fields={"limit": ["out of range"]})
    if not 0 < below <= 1:
        raise Invalid("below must be in (0, 1].", fields={"below": ["out of range"]})
    if grid is not None and grid.image.dataset_id != schema.dataset_id:
        raise Invalid(
            "That grid is on an image of another dataset than this schema's.",
            fields={"grid": ["other dataset"]},
        )
    grids = [grid] if grid is not None else list(grids_of_dataset(schema.dataset))
    by_id = {str(g.pk): g for g in grids}
    active = consensus.active_class_ids(schema)
    rows = list(consensus.vote_rows(schema=schema, grids=grids, source=True))
    latest = {(str(r[0]), r[1], r[2]): r[6] for r in rows}
    state = consensus.fold((r[:6] for r in rows), active=active)
    gold = {
        (str(g), r, c): str(k)
        for g, r, c, k in GoldChip.objects.filter(schema=schema, grid__in=grids).values_list(
            "grid_id", "row", "col", "label_class_id"
        )
    }
    contested = []
    for chip, ops in state.items():
        if latest.get(chip) == "review":
            continue
        voices = sum(1 for op in ops.values() if not op.empty)
        leaders = consensus._leaders(ops)
        if voices < 2 or not leaders:
            continue
        agree, say = max(
            (consensus.chip_agreement(ops, k) for k in leaders), key=lambda a_s: a_s[0] / a_s[1]
        )
        if agree / say < below:
            contested.append((round(agree / say, 4), -voices, chip, leaders, ops))
    contested.sort(key=lambda c: (c[0], c[1], c[2]))
    names = consensus.usernames({u for *_, ops in contested[:limit] for u in ops})
    items = []
    for agreement_, minus_voices, chip, leaders, ops in contested[:limit]:
        grid_ = by_id[chip[0]]
        items.append(
            {
                **crowd.chip_view(grid_, chip[1], chip[2]),
                "grid": chip[0],
                "leaders": leaders,
                "tied": len(leaders) > 1,
                "agreement": agreement_,
                "voices": -minus_voices,
                "counts": dict(
                    sorted(Counter(op.label for op in ops.values() if op.label).items())
                ),
                "not_counts": dict(
                    sorted(Counter(k for op in ops.values() for k in op.negatives).items())
                ),
                "gold": gold.get(chip),
                "users": [
                    {
                        "user": u,
                        "username": names.get(u, ""),
                        "class": op.label,
                        "not": sorted(op.negatives),
                    }
                    for u, op in sorted(ops.items())
                    if not op.empty
                ],
            }
        )
    return {"schema": str(schema.pk), "contested": len(contested), "chips": items}
