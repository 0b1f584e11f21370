"""factory_boy factories, one module per app; every name is also importable from here."""

from tests.factories.accounts import LabFactory, MembershipFactory, UserFactory
from tests.factories.catalog import DatasetFactory, ReadyImageFactory
from tests.factories.registry import fourier_champion

__all__ = [
    "DatasetFactory",
    "LabFactory",
    "MembershipFactory",
    "ReadyImageFactory",
    "UserFactory",
    "fourier_champion",
]
