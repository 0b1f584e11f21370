"""Factories of analysis: segmentation jobs and their results (rows only: no arrays stored)."""

import factory

from analysis.models import SegmentationJob, SegmentationResult
from tests.factories.labeling import GridFactory, SupportSetVersionFactory
from tests.factories.registry import fourier_champion


class SegmentationJobFactory(factory.django.DjangoModelFactory):
    """A queued job of the support set's creator, in its lab, with the built-in champion."""

    class Meta:
        model = SegmentationJob

    support_set = factory.SubFactory(SupportSetVersionFactory)
    lab = factory.LazyAttribute(lambda j: j.support_set.schema.dataset.lab)
    created_by = factory.LazyAttribute(lambda j: j.support_set.created_by)
    model_version = factory.LazyFunction(fourier_champion)


class SegmentationResultFactory(factory.django.DjangoModelFactory):
    """Frame 0 of a grid's image by a job; classes are the job's support-set classes, indexed.

    ``arrays_key`` names no stored object unless the test puts one there."""

    class Meta:
        model = SegmentationResult

    job = factory.SubFactory(SegmentationJobFactory)
    grid = factory.SubFactory(GridFactory)
    image = factory.LazyAttribute(lambda r: r.grid.image)
    rows = factory.LazyAttribute(lambda r: r.grid.rows)
    cols = factory.LazyAttribute(lambda r: r.grid.cols)
    arrays_key = factory.Sequence(lambda n: f"labs/test/results/{n}.npz")
    classes = factory.LazyAttribute(
        lambda r: [{"index": i, **c} for i, c in enumerate(r.job.support_set.classes)]
    )
