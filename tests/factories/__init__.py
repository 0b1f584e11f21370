"""factory_boy factories, one module per app; every name is also importable from here."""

from tests.factories.accounts import LabFactory, MembershipFactory, UserFactory
from tests.factories.analysis import SegmentationJobFactory, SegmentationResultFactory
from tests.factories.catalog import DatasetFactory, ReadyImageFactory, UnreadableImageFactory
from tests.factories.labeling import (
    GridFactory,
    LabelClassFactory,
    LabelSchemaFactory,
    SupportSetVersionFactory,
    VoteFactory,
)
from tests.factories.publishing import DatasetArchiveImportFactory
from tests.factories.registry import fourier_champion
from tests.factories.webhooks import WebhookFactory

__all__ = [
    "DatasetArchiveImportFactory",
    "DatasetFactory",
    "GridFactory",
    "LabFactory",
    "LabelClassFactory",
    "LabelSchemaFactory",
    "MembershipFactory",
    "ReadyImageFactory",
    "SegmentationJobFactory",
    "SegmentationResultFactory",
    "SupportSetVersionFactory",
    "UnreadableImageFactory",
    "UserFactory",
    "VoteFactory",
    "WebhookFactory",
    "fourier_champion",
]
