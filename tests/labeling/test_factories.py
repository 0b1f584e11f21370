"""The factories build the rows the services would: a grid's geometry is the service's, and the
chains of defaults hold together (one image, dataset and lab behind a result)."""

import pytest

from labeling import services
from tests.factories import (
    GridFactory,
    ReadyImageFactory,
    SegmentationResultFactory,
    SupportSetVersionFactory,
    VoteFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("chip, oy, ox", [(64, 0, 0), (48, 5, 17), (30, 29, 1)])
def test_a_factory_grid_is_the_grid_the_service_makes(world, chip, oy, ox):
    image = ReadyImageFactory(dataset=world.dataset(), width=300, height=200)
    made = GridFactory(image=image, chip_size=chip, offset_y=oy, offset_x=ox)
    again, created = services.grid_create(
        user=world.annotator, image=image, chip_size=chip, offset_y=oy, offset_x=ox
    )
    assert not created and again.pk == made.pk
    other = ReadyImageFactory(dataset=image.dataset, width=300, height=200)
    served, _ = services.grid_create(
        user=world.annotator, image=other, chip_size=chip, offset_y=oy, offset_x=ox
    )
    assert (made.rows, made.cols, made.margins) == (served.rows, served.cols, served.margins)


def test_defaults_hang_together():
    vote = VoteFactory()
    dataset = vote.grid.image.dataset_id
    assert vote.schema.dataset_id == vote.label_class.schema.dataset_id == dataset
    first = SupportSetVersionFactory(schema=vote.schema)
    second = SupportSetVersionFactory(schema=vote.schema)
    assert (first.number, second.number) == (1, 2)
    assert [c["id"] for c in first.classes] == [str(vote.label_class.pk)]
    result = SegmentationResultFactory(job__support_set=first, grid=vote.grid)
    assert result.job.lab_id == result.image.dataset.lab_id == vote.grid.image.dataset.lab_id
    assert result.classes == [{"index": 0, **first.classes[0]}]
    assert (result.rows, result.cols) == (vote.grid.rows, vote.grid.cols)
