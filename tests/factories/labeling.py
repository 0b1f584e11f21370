"""Factories of labeling: schemas, classes, grids, votes and frozen support sets.

They write rows directly (no role check, no validation, no enqueued work): for tests whose
subject is something else. The services' own rules are tested through the services.
"""

import factory
from django.db.models import Max

from labeling.consensus import class_snapshot
from labeling.models import ConsensusRule, Grid, LabelClass, LabelSchema, SupportSetVersion, Vote
from tests.factories.catalog import DatasetFactory, ReadyImageFactory
from workers.fewshot.chipping import ChipGrid

# distinct, readable colours in turn (the service picks far-apart ones; tests need only valid ones)
PALETTE = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf")


class LabelSchemaFactory(factory.django.DjangoModelFactory):
    """A schema of a dataset; pass ``is_default=True`` for the dataset's default one."""

    class Meta:
        model = LabelSchema

    dataset = factory.SubFactory(DatasetFactory)
    name = factory.Sequence(lambda n: f"Schema {n}")
    created_by = factory.LazyAttribute(lambda s: s.dataset.created_by)


class LabelClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabelClass

    schema = factory.SubFactory(LabelSchemaFactory)
    name = factory.Sequence(lambda n: f"class {n}")
    colour = factory.Sequence(lambda n: PALETTE[n % len(PALETTE)])
    order = factory.Sequence(lambda n: n + 1)  # increasing, as the service orders new classes


def _margins(chips: ChipGrid) -> dict:
    return dict(zip(("top", "left", "bottom", "right"), chips.margins, strict=True))


class GridFactory(factory.django.DjangoModelFactory):
    """A chip grid whose rows, cols and margins follow from its image, chip size and offset;
    asking for a grid the image already has returns it (as the service does)."""

    class Meta:
        model = Grid
        django_get_or_create = ("image", "chip_size", "offset_x", "offset_y")

    class Params:
        chips = factory.LazyAttribute(
            lambda g: ChipGrid(g.image.height, g.image.width, g.chip_size, (g.offset_y, g.offset_x))
        )

    image = factory.SubFactory(ReadyImageFactory)
    chip_size = 64
    offset_x = 0
    offset_y = 0
    rows = factory.LazyAttribute(lambda g: g.chips.rows)
    cols = factory.LazyAttribute(lambda g: g.chips.cols)
    margins = factory.LazyAttribute(lambda g: _margins(g.chips))
    created_by = factory.LazyAttribute(lambda g: g.image.uploaded_by)


class VoteFactory(factory.django.DjangoModelFactory):
    """One vote on chip (0, 0) of a grid, for a class of a schema of the grid's dataset."""

    class Meta:
        model = Vote

    grid = factory.SubFactory(GridFactory)
    schema = factory.SubFactory(
        LabelSchemaFactory, dataset=factory.SelfAttribute("..grid.image.dataset")
    )
    label_class = factory.SubFactory(LabelClassFactory, schema=factory.SelfAttribute("..schema"))
    user = factory.LazyAttribute(lambda v: v.grid.created_by)
    row = 0
    col = 0


class SupportSetVersionFactory(factory.django.DjangoModelFactory):
    """The schema's next frozen support set: by default no chips and a snapshot of its classes."""

    class Meta:
        model = SupportSetVersion

    schema = factory.SubFactory(LabelSchemaFactory)
    number = factory.LazyAttribute(
        lambda v: (v.schema.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    )
    rule = ConsensusRule.CURATOR
    chip_size = 64
    classes = factory.LazyAttribute(lambda v: class_snapshot(v.schema))
    created_by = factory.LazyAttribute(lambda v: v.schema.created_by)
