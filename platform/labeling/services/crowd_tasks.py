"""Crowd micro-tasks: issue a signed panel, record the answer as votes."""

import zlib

from django.db import IntegrityError, transaction

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Conflict, Invalid, NotFound

from .. import crowd
from ..models import Grid, LabelClass, LabelSchema, Vote, VoteSource
from ..selectors import grids_of_dataset


# --- crowd tasks -------------------------------------------------------------------
def crowd_answers_count(*, user, schema: LabelSchema) -> int:
    """How many crowd tasks ``user`` has answered in ``schema`` (each answer stores one vote per
    panel chip, all with client id ``task:<task id>:<row>:<col>``)."""
    ids = Vote.objects.filter(user=user, schema=schema, source=VoteSource.TASK).values_list(
        "client_id", flat=True
    )
    return len({cid.split(":")[1] for cid in ids if cid.startswith("task:")})


def crowd_task_next(
    *, user, schema: LabelSchema, grid: Grid | None = None, seed: int | None = None
) -> dict:
    """The next micro-task for ``user``: a panel of up to 9 chips and one class to find.

    Writes nothing (the panel is signed into the task token); deterministic given ``seed``
    (default: derived from the user and how many votes they have cast in the schema).
    """
    require_role(user=user, lab_id=schema.dataset.lab_id, role=Role.ANNOTATOR)
    if grid is not None and grid.image.dataset_id != schema.dataset_id:
        raise Invalid(
            "The grid's image is not in the schema's dataset.", fields={"grid": ["other dataset"]}
        )
    grids = [grid] if grid is not None else list(grids_of_dataset(schema.dataset))
    if not grids:
        raise Conflict(
            "This dataset has no grids yet; create one on an image first.", code="no_grids"
        )
    if not schema.classes.filter(removed_at=None).exists():
        raise Conflict("This schema has no classes yet.", code="no_classes")
    if seed is None:
        answered = Vote.objects.filter(user=user, schema=schema).count()
        seed = zlib.crc32(f"{user.pk}:{answered}".encode())
    picked = crowd.choose(user=user, schema=schema, grids=grids, seed=seed)
    if picked is None:
        raise Conflict(
            "You have answered every chip for every class here; thank you!", code="no_task"
        )
    grid, label_class = picked["grid"], schema.classes.get(pk=picked["class"])
    token = crowd.issue(
        user=user, schema=schema, grid=grid, label_class=label_class, chips=picked["chips"]
    )
    return {
        "task": token,
        "id": crowd.task_id(token),
        "schema": str(schema.pk),
        "grid": str(grid.pk),
        "image": str(grid.image_id),
        "seed": seed,
        "class": {
            "id": str(label_class.pk),
            "name": label_class.name,
            "colour": label_class.colour,
        },
        "question": f"Select every chip that shows {label_class.name}.",
        "chips": [crowd.chip_view(grid, row, col) for row, col in picked["chips"]],
        "signals": picked["signals"],
        "answered": crowd_answers_count(user=user, schema=schema),
    }


@transaction.atomic
def crowd_task_answer(*, user, task: str, selected: list) -> list[Vote]:
    """Record an answer: selected chips get the class, the rest of the panel a "not" vote."""
    data = crowd.read(task, user=user)
    grid = Grid.objects.select_related("image", "image__dataset").filter(pk=data["g"]).first()
    label_class = LabelClass.objects.select_related("schema").filter(pk=data["k"]).first()
    if grid is None or label_class is None:
        raise NotFound("Task not found.")
    require_role(user=user, lab_id=grid.image.dataset.lab_id, role=Role.ANNOTATOR)
    if label_class.removed_at is not None:
        raise Conflict(
            f"'{label_class.name}' was removed since this task was issued.", code="class_removed"
        )
    panel = [tuple(rc) for rc in data["c"]]
    try:
        chosen = [(int(rc[0]), int(rc[1])) for rc in selected]
    except (TypeError, ValueError, IndexError) as err:
        raise Invalid(
            "selected must be a list of [row, col] pairs.",
            fields={"selected": ["[row, col] pairs"]},
        ) from err
    strangers = [rc for rc in chosen if rc not in panel]
    if strangers:
        raise Invalid(
            f"Chip {strangers[0]} is not in this task's panel.",
            code="not_in_panel",
            fields={"selected": ["not in the panel"]},
        )
    if len(set(chosen)) != len(chosen):
        raise Invalid("A chip is selected twice.", fields={"selected": ["duplicate"]})
    tid = crowd.task_id(task)
    votes = [
        Vote(
            user=user,
            grid=grid,
            schema=label_class.schema,
            row=r,
            col=c,
            label_class=label_class,
            negative=(r, c) not in chosen,
            source=VoteSource.TASK,
            client_id=f"task:{tid}:{r}:{c}",
        )
        for r, c in panel
    ]
    try:
        with transaction.atomic():
            return Vote.objects.bulk_create(votes)
    except IntegrityError as err:
        raise Conflict("This task was already answered.", code="already_answered") from err
