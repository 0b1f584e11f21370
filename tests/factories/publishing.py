"""Factories of publishing: imports of dataset packages (rows only: no package is stored)."""

import factory

from publishing.models import DatasetArchiveImport
from tests.factories.accounts import LabFactory, UserFactory


class DatasetArchiveImportFactory(factory.django.DjangoModelFactory):
    """A queued import into a lab; its ``package_key`` names no object unless the test puts one."""

    class Meta:
        model = DatasetArchiveImport

    lab = factory.SubFactory(LabFactory)
    created_by = factory.SubFactory(UserFactory)
    package_key = factory.Sequence(lambda n: f"labs/test/archive-imports/{n}/package.zip")
    package_bytes = 1
