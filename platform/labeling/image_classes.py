"""Which classes of a schema apply to an image (several materials in one dataset).

An image's classes are, in this order of precedence:
- ``chosen``: the classes its annotators ticked (an ``ImageClasses`` row);
- ``labels``: without a row, the classes its positive votes use (a new image of another material
  starts with the classes its labels use, not with every class of the dataset); answers to
  crowd tasks do not count (they answer a question about a class, they do not choose it);
- ``all``: an image nobody has labelled has every active class of the schema (existing data
  keeps its meaning: nothing was ever restricted).

Crowd tasks, guidance and "label these next" only ask about an image's classes. No access
checks here: callers (selectors, services) do them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from .models import ImageClasses, LabelSchema, Vote, VoteSource

CHOSEN, LABELS, ALL = "chosen", "labels", "all"


def active_classes(schema: LabelSchema) -> list[str]:
    """The schema's active class ids in display order."""
    return [str(pk) for pk in schema.classes.filter(removed_at=None).values_list("pk", flat=True)]


def classes_of_images(
    schema: LabelSchema, image_ids: Iterable, *, active: list[str] | None = None
) -> dict[str, tuple[str, list[str]]]:
    """``{image id: (mode, [class ids in schema order])}`` for every image named."""
    ids = list(dict.fromkeys(str(i) for i in image_ids))
    active = active_classes(schema) if active is None else active
    order = {k: i for i, k in enumerate(active)}
    chosen: dict[str, set[str]] = defaultdict(set)
    rows = set()
    for image_id, class_id in ImageClasses.objects.filter(
        schema=schema, image_id__in=ids
    ).values_list("image_id", "classes"):
        rows.add(str(image_id))
        if class_id is not None:
            chosen[str(image_id)].add(str(class_id))
    # a choice whose classes were all removed since is no choice: back to the default
    rows = {i for i in rows if chosen[i] & order.keys()}
    used: dict[str, set[str]] = defaultdict(set)
    rest = [i for i in ids if i not in rows]
    if rest:
        for image_id, class_id in (
            Vote.objects.filter(
                schema=schema,
                grid__image_id__in=rest,
                negative=False,
                label_class__isnull=False,
                label_class__removed_at=None,
            )
            .exclude(source=VoteSource.TASK)
            .values_list("grid__image_id", "label_class_id")
            .distinct()
        ):
            used[str(image_id)].add(str(class_id))
    out = {}
    for i in ids:
        if i in rows:
            mode, keep = CHOSEN, chosen[i]
        elif used[i]:
            mode, keep = LABELS, used[i]
        else:
            mode, keep = ALL, set(active)
        out[i] = (mode, sorted((k for k in keep if k in order), key=order.__getitem__))
    return out
