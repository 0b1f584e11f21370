"""Which classes of a schema apply to an image: ticked on and off by its annotators."""

from django.db import IntegrityError, transaction

from accounts.models import Role
from accounts.selectors import require_role
from catalog.models import Image
from common.errors import Invalid

from ..image_classes import classes_of_images
from ..models import ImageClasses, LabelSchema

MAX_CLASSES = 500  # ids per request (a schema has far fewer)


@transaction.atomic
def image_classes_set(
    *, user, image: Image, schema: LabelSchema, classes: list | None
) -> tuple[str, list[str]]:
    """Set the classes of ``schema`` that apply to ``image`` (``None``: back to the default,
    the classes its labels use or all). Returns (mode, class ids) as now in effect."""
    require_role(user=user, lab_id=image.dataset.lab_id, role=Role.ANNOTATOR)
    if schema.dataset_id != image.dataset_id:
        raise Invalid(
            "That schema belongs to another dataset than this image.",
            fields={"schema": ["other dataset"]},
        )
    if classes is None:
        ImageClasses.objects.filter(image=image, schema=schema).delete()
        return classes_of_images(schema, [image.pk])[str(image.pk)]
    if len(classes) > MAX_CLASSES:
        raise Invalid(f"At most {MAX_CLASSES} classes.", fields={"classes": ["too many"]})
    wanted = {str(k) for k in classes}
    if not wanted:
        raise Invalid(
            "An image has at least one class; send null to go back to the default.",
            fields={"classes": ["empty"]},
        )
    found = {str(c.pk): c for c in schema.classes.filter(pk__in=wanted, removed_at=None)}
    unknown = sorted(wanted - set(found))
    if unknown:
        raise Invalid(
            f"Unknown or removed class {unknown[0]} for this schema.",
            fields={"classes": ["not an active class of this schema"]},
        )
    try:
        with transaction.atomic():
            row, _ = ImageClasses.objects.get_or_create(
                image=image, schema=schema, defaults={"set_by": user}
            )
    except IntegrityError:  # a concurrent first tick created it
        row = ImageClasses.objects.get(image=image, schema=schema)
    ImageClasses.objects.select_for_update().filter(pk=row.pk).first()
    row.set_by = user
    row.save(update_fields=["set_by", "modified"])
    row.classes.set(found.values())
    return classes_of_images(schema, [image.pk])[str(image.pk)]
