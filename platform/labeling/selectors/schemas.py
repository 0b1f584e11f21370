"""Reads of label schemas and classes, and the classes that apply to an image."""

from django.db.models import QuerySet

from catalog.selectors import dataset_get, datasets_visible_to, image_get
from common.errors import Invalid, NotFound

from ..image_classes import classes_of_images
from ..models import Grid, LabelClass, LabelSchema


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
