"""A labelled world: a dataset with a ready 256x256 image, the default schema with two classes
(STO, Ge) and a 64 px grid (4 x 4 chips)."""

from types import SimpleNamespace

import pytest

from accounts.models import Role
from labeling import services
from tests.factories import MembershipFactory, ReadyImageFactory


@pytest.fixture
def lab(world):
    dataset = world.dataset()
    image = ReadyImageFactory(dataset=dataset)
    schema, _ = services.schema_get_or_create_default(user=world.curator, dataset=dataset)
    sto = services.class_create(user=world.curator, schema=schema, name="STO")
    ge = services.class_create(user=world.curator, schema=schema, name="Ge")
    grid, _ = services.grid_create(user=world.annotator, image=image, chip_size=64)
    second = MembershipFactory(lab=world.lab, role=Role.ANNOTATOR).user
    return SimpleNamespace(
        dataset=dataset, image=image, schema=schema, sto=sto, ge=ge, grid=grid, second=second
    )
