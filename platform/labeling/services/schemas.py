"""Label schemas and their classes (curators manage them; removal is soft)."""

import re

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import require_role
from catalog.models import Dataset
from common.errors import Conflict, Invalid

from ..models import MAX_CLASS_ORDER, MAX_SCHEMA_CLASSES, ClassKind, LabelClass, LabelSchema

DEFAULT_SCHEMA_NAME = "Default"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Colour-blind-safe qualitative colours (Okabe & Ito 2008; Paul Tol's "bright" and "muted"),
# without black, greys and the darkest ones (they vanish on a dark micrograph). A new class
# takes the one farthest (``delta_e``) from the colours its schema already uses.
PALETTE = [
    "#0072b2",  # Okabe-Ito blue
    "#e69f00",  # orange
    "#009e73",  # bluish green
    "#cc79a7",  # reddish purple
    "#f0e442",  # yellow
    "#56b4e9",  # sky blue
    "#d55e00",  # vermilion
    "#4477aa",  # Tol bright
    "#ee6677",
    "#228833",
    "#ccbb44",
    "#66ccee",
    "#aa3377",
    "#88ccee",  # Tol muted
    "#44aa99",
    "#999933",
]


def lab_of(colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) of a ``#rrggbb`` sRGB colour."""

    def linear(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    xyz = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )
    fx, fy, fz = (t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116 for t in xyz)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def delta_e(a, b) -> float:
    """Colour difference of two CIELAB colours with lightness at half weight (as CMC 2:1):
    a light and a dark blue are the same colour on an overlay, so they count as close."""
    return (((a[0] - b[0]) / 2) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2) ** 0.5


def distinct_colour(used) -> str:
    """The palette colour farthest from every colour in ``used`` (the first one when none)."""
    seen = [lab_of(c) for c in {c.lower() for c in used} if _COLOUR.match(c)]
    if not seen:
        return PALETTE[0]
    return max(PALETTE, key=lambda c: min(delta_e(lab_of(c), u) for u in seen))


# --- schemas and classes -----------------------------------------------------------
@transaction.atomic
def schema_get_or_create_default(*, user, dataset: Dataset) -> tuple[LabelSchema, bool]:
    """The dataset's default schema, created on first use by any annotator."""
    require_role(user=user, lab_id=dataset.lab_id, role=Role.ANNOTATOR)
    existing = dataset.schemas.filter(is_default=True).first()
    if existing is not None:
        return existing, False
    name = DEFAULT_SCHEMA_NAME
    if dataset.schemas.filter(name=name).exists():
        name = f"{DEFAULT_SCHEMA_NAME} ({timezone.now():%Y-%m-%d %H:%M:%S})"
    try:
        with transaction.atomic():
            return LabelSchema.objects.create(
                dataset=dataset, name=name, is_default=True, created_by=user
            ), True
    except IntegrityError:  # another request created it just now
        return dataset.schemas.get(is_default=True), False


@transaction.atomic
def schema_create(*, user, dataset: Dataset, name: str) -> LabelSchema:
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    name = (name or "").strip()
    if not name:
        raise Invalid("A schema needs a name.", fields={"name": ["required"]})
    if dataset.schemas.filter(name__iexact=name).exists():
        raise Conflict(f"This dataset already has a schema named '{name}'.")
    is_default = not dataset.schemas.exists()
    try:
        with transaction.atomic():
            return LabelSchema.objects.create(
                dataset=dataset, name=name, is_default=is_default, created_by=user
            )
    except IntegrityError as err:
        raise Conflict(f"This dataset already has a schema named '{name}'.") from err


def _clean_class_fields(
    schema: LabelSchema, *, name=None, colour=None, order=None, kind=None, exclude=None
) -> dict:
    fields = {}
    if kind is not None:
        if kind not in ClassKind.values:
            raise Invalid(
                f"kind must be one of {', '.join(ClassKind.values)}, not '{kind}'.",
                fields={"kind": ["region or objects"]},
            )
        fields["kind"] = kind
    if name is not None:
        name = name.strip()
        if not name:
            raise Invalid("A class needs a name.", fields={"name": ["required"]})
        clash = schema.classes.filter(removed_at=None, name__iexact=name)
        if exclude is not None:
            clash = clash.exclude(pk=exclude.pk)
        if clash.exists():
            raise Conflict(
                f"'{name}' is already a class of this schema.", fields={"name": ["taken"]}
            )
        fields["name"] = name
    if colour is not None:
        if not _COLOUR.match(colour):
            raise Invalid(
                f"Colour '{colour}' is not of the form #rrggbb.", fields={"colour": ["#rrggbb"]}
            )
        fields["colour"] = colour.lower()
    if order is not None:
        # beyond 2**31 - 1 some databases refuse the row: a 500 instead of the user's error
        if not 0 <= order <= MAX_CLASS_ORDER:
            raise Invalid(
                f"order must be a whole number from 0 to {MAX_CLASS_ORDER}.",
                fields={"order": [f"0 to {MAX_CLASS_ORDER}"]},
            )
        fields["order"] = order
    return fields


def class_room_check(schema: LabelSchema) -> None:
    """Refuse (400) a class more where a schema has :data:`MAX_SCHEMA_CLASSES` active; the row
    is locked first, so two requests at once cannot both take the last place (inside a
    transaction)."""
    LabelSchema.objects.select_for_update().filter(pk=schema.pk).first()
    active = schema.classes.filter(removed_at=None).count()
    if active >= MAX_SCHEMA_CLASSES:
        raise Invalid(
            f"A schema holds at most {MAX_SCHEMA_CLASSES} active classes; '{schema.name}' has "
            f"{active}. Remove a class first.",
            code="too_many_classes",
            fields={"name": [f"at most {MAX_SCHEMA_CLASSES} classes"]},
        )


@transaction.atomic
def class_create(
    *,
    user,
    schema: LabelSchema,
    name: str,
    colour: str | None = None,
    order: int | None = None,
    kind: str | None = None,
) -> LabelClass:
    require_role(user=user, lab_id=schema.dataset.lab_id, role=Role.CURATOR)
    fields = _clean_class_fields(schema, name=name, colour=colour, order=order, kind=kind)
    class_room_check(schema)
    active = schema.classes.filter(removed_at=None)
    if colour is None:
        fields["colour"] = distinct_colour(active.values_list("colour", flat=True))
    if order is None:
        last = schema.classes.aggregate(m=Max("order"))["m"] or 0
        fields["order"] = min(last + 1, MAX_CLASS_ORDER)
    try:
        with transaction.atomic():
            return LabelClass.objects.create(schema=schema, **fields)
    except IntegrityError as err:
        raise Conflict(f"'{name}' is already a class of this schema.") from err


@transaction.atomic
def class_update(
    *,
    user,
    label_class: LabelClass,
    name: str | None = None,
    colour: str | None = None,
    order: int | None = None,
    kind: str | None = None,
    active: bool | None = None,
) -> LabelClass:
    """Rename, recolour, reorder or re-kind a class (history keeps pointing at the same class).

    ``active=True`` restores a removed class with its votes (undo of a removal); refused while
    an active class has its name. ``active=False`` removes it like :func:`class_remove`.
    """
    schema = label_class.schema
    require_role(user=user, lab_id=schema.dataset.lab_id, role=Role.CURATOR)
    if active is False:
        return class_remove(user=user, label_class=label_class)
    restore = active is True and label_class.removed_at is not None
    if label_class.removed_at is not None and not restore:
        raise Conflict(
            f"'{label_class.name}' was removed; restore it (active: true) before changing it."
        )
    fields = _clean_class_fields(
        schema, name=name, colour=colour, order=order, kind=kind, exclude=label_class
    )
    if restore:
        class_room_check(schema)
        taken = schema.classes.filter(
            removed_at=None, name__iexact=fields.get("name", label_class.name)
        )
        if taken.exclude(pk=label_class.pk).exists():
            raise Conflict(
                f"'{fields.get('name', label_class.name)}' is already an active class of this "
                "schema; rename one of them to restore this one.",
                code="name_taken",
            )
        fields["removed_at"] = None
    for key, value in fields.items():
        setattr(label_class, key, value)
    try:
        with transaction.atomic():
            # Only the fields sent: two concurrent edits (rename, recolour) must not undo
            # each other with a stale copy of the row.
            if fields:
                label_class.save(update_fields=list(fields))
    except IntegrityError as err:
        raise Conflict(f"'{name}' is already a class of this schema.") from err
    return label_class


@transaction.atomic
def class_remove(*, user, label_class: LabelClass) -> LabelClass:
    """Soft removal: votes and frozen versions keep it; it takes no new votes."""
    require_role(user=user, lab_id=label_class.schema.dataset.lab_id, role=Role.CURATOR)
    if label_class.removed_at is None:
        label_class.removed_at = timezone.now()
        label_class.save(update_fields=["removed_at"])
    return label_class
