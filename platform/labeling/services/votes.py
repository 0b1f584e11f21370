"""Append-only votes and curator gold answers."""

from collections.abc import Callable, Iterable

from django.db import IntegrityError, transaction

from accounts.models import Role
from accounts.selectors import require_role, role_check
from common.errors import Conflict, Invalid

from ..models import GoldChip, Grid, LabelClass, LabelSchema, Vote, VoteSource

MAX_BATCH = 1000

#: called as ``(user=, grid=, schema=)`` once a user's clicks on a grid are committed; an app
#: above labeling registers it in its ``AppConfig.ready`` (analysis: a re-run made ahead of
#: its click), so labeling never imports it. None: nothing more happens.
_after_clicks: Callable[..., None] | None = None


def after_clicks(callback: Callable[..., None] | None) -> None:
    """Register what follows a user's committed clicks (``analysis.apps``); None clears it."""
    global _after_clicks
    _after_clicks = callback


# --- votes -------------------------------------------------------------------------


def _check_batch(grid, items: list[dict], *, field: str) -> None:
    """Refuse an empty or oversized batch of chips and chips outside ``grid``, naming ``field``."""
    if not items:
        raise Invalid(f"No {field} given.", fields={field: ["empty"]})
    if len(items) > MAX_BATCH:
        raise Invalid(f"At most {MAX_BATCH} {field} per request.", fields={field: ["too many"]})
    outside = [(i["row"], i["col"]) for i in items if not grid.contains(i["row"], i["col"])]
    if outside:
        raise Invalid(
            f"Chip {outside[0]} is outside this {grid.rows}x{grid.cols} grid.",
            code="outside_grid",
            fields={field: ["row/col out of range"]},
        )


def _resolve_classes(*, grid: Grid, schema: LabelSchema | None, wanted: Iterable) -> tuple:
    """(schema, {class id: LabelClass}) for the class ids or objects voted for."""
    ids = {_class_id(k) for k in wanted if k is not None}
    found = {
        str(c.pk): c
        for c in LabelClass.objects.filter(pk__in=ids).select_related("schema")
        if schema is None or c.schema_id == schema.pk
    }
    unknown = ids - set(found)
    if unknown:
        raise Invalid(
            f"Unknown class {sorted(unknown)[0]} for this schema.",
            fields={"class": ["not in this schema"]},
        )
    schemas = {c.schema for c in found.values()} | ({schema} if schema else set())
    if len(schemas) != 1:
        raise Invalid(
            "Name the schema: votes need a schema (retractions) and one batch holds one schema.",
            fields={"schema": ["required" if not schemas else "one per batch"]},
        )
    schema = schemas.pop()
    if schema.dataset_id != grid.image.dataset_id:
        raise Invalid(
            "The class belongs to a schema of another dataset.", fields={"class": ["other dataset"]}
        )
    removed = [c.name for c in found.values() if c.removed_at is not None]
    if removed:
        raise Invalid(
            f"The class '{removed[0]}' was removed and takes no new votes.",
            code="class_removed",
            fields={"class": ["removed"]},
        )
    return schema, found


def _class_id(k) -> str:
    """The id of a class given as a LabelClass or an id."""
    return str(getattr(k, "pk", k))


def _require_annotator(*, user, grid: Grid) -> None:
    """Annotator or above in the grid's lab; with the role ``selectors.grid_for_voting`` read
    in the grid's own query, without a query of its own."""
    known = getattr(grid, "voter_role", None)
    if known is not None and known[0] == user.pk:
        role_check(current=known[1], role=Role.ANNOTATOR)
    else:
        require_role(user=user, lab_id=grid.image.dataset.lab_id, role=Role.ANNOTATOR)


def _store(vote: Vote) -> Vote:
    """Insert; with a client id a replay returns the stored vote (race-free via the unique
    constraint), unless the replay says something else."""
    if not vote.client_id:
        vote.save()
        return vote
    try:
        with transaction.atomic():
            vote.save()
            return vote
    except IntegrityError:
        stored = Vote.objects.get(user=vote.user_id, client_id=vote.client_id)
    same = (
        stored.grid_id,
        stored.schema_id,
        stored.row,
        stored.col,
        stored.label_class_id,
        stored.negative,
    ) == (vote.grid_id, vote.schema_id, vote.row, vote.col, vote.label_class_id, vote.negative)
    if not same:
        raise Conflict(
            f"client_id '{vote.client_id}' was already used for another vote.",
            fields={"client_id": ["reused"]},
        )
    return stored


@transaction.atomic
def votes_cast_many(
    *,
    user,
    grid: Grid,
    votes: list[dict],
    schema: LabelSchema | None = None,
    source: str = VoteSource.CLICK,
) -> list[Vote]:
    """Append votes ``[{"row", "col", "class": LabelClass | id | None, "client_id"?}]``.

    ``class`` None retracts the user's label of the chip (needs ``schema``). Votes are only
    ever inserted; with ``client_id`` a retried request stores nothing twice.
    """
    _require_annotator(user=user, grid=grid)
    if source not in VoteSource.values:
        raise Invalid(f"Unknown vote source '{source}'.", fields={"source": ["unknown"]})
    _check_batch(grid, votes, field="votes")
    client_ids = [v["client_id"] for v in votes if v.get("client_id")]
    if len(set(client_ids)) != len(client_ids):
        raise Invalid(
            "A client_id appears twice in one request.", fields={"client_id": ["duplicate"]}
        )
    schema, classes = _resolve_classes(
        grid=grid, schema=schema, wanted=[v.get("class") for v in votes]
    )
    rows = [
        Vote(
            user=user,
            grid=grid,
            schema=schema,
            row=v["row"],
            col=v["col"],
            label_class=None if v.get("class") is None else classes[_class_id(v["class"])],
            negative=False,
            source=source,
            client_id=v.get("client_id") or "",
        )
        for v in votes
    ]
    if source == VoteSource.CLICK and _after_clicks is not None:
        follow = _after_clicks

        def after_clicks_committed() -> None:  # a named function: Django logs its failure by name
            follow(user=user, grid=grid, schema=schema)

        # robust: what follows is extra (logged if it fails); the votes are stored either way
        transaction.on_commit(after_clicks_committed, robust=True)
    if any(vote.client_id for vote in rows):
        return [_store(vote) for vote in rows]  # one by one, in order: replays are looked up
    return Vote.objects.bulk_create(rows)  # nothing can collide: one INSERT, ids in order


def vote_cast(
    *,
    user,
    grid: Grid,
    row: int,
    col: int,
    label_class: LabelClass | None,
    schema: LabelSchema | None = None,
    source: str = VoteSource.CLICK,
    client_id: str = "",
) -> Vote:
    """One click: label chip (row, col) as ``label_class`` (None: retract)."""
    return votes_cast_many(
        user=user,
        grid=grid,
        schema=schema,
        source=source,
        votes=[{"row": row, "col": col, "class": label_class, "client_id": client_id}],
    )[0]


# --- gold --------------------------------------------------------------------------
@transaction.atomic
def gold_set(
    *, user, grid: Grid, chips: list[dict], schema: LabelSchema | None = None
) -> list[GoldChip]:
    """Curator reference answers ``[{"row", "col", "class": LabelClass | id | None}]``.

    Setting gold also records it as the curator's vote (source "gold"), which replaces their
    own current label of that chip; ``class`` None clears the gold answer (votes stay).
    """
    require_role(user=user, lab_id=grid.image.dataset.lab_id, role=Role.CURATOR)
    # checked before the votes are cast, so that errors name this request's field
    _check_batch(grid, chips, field="chips")
    setting = [c for c in chips if c.get("class") is not None]
    if setting:
        votes_cast_many(
            user=user,
            grid=grid,
            schema=schema,
            source=VoteSource.GOLD,
            votes=[{"row": c["row"], "col": c["col"], "class": c["class"]} for c in setting],
        )
    schema, classes = _resolve_classes(
        grid=grid, schema=schema, wanted=[c.get("class") for c in chips]
    )
    out = []
    for c in chips:
        key = {"grid": grid, "schema": schema, "row": c["row"], "col": c["col"]}
        if c.get("class") is None:
            GoldChip.objects.filter(**key).delete()
            continue
        gold, _ = GoldChip.objects.update_or_create(
            **key,
            defaults={
                "label_class": classes[str(getattr(c["class"], "pk", c["class"]))],
                "set_by": user,
            },
        )
        out.append(gold)
    return out
