"""Factories of catalog: datasets and (ready, file-less) images."""

import factory

from catalog.models import Dataset
from tests.factories.accounts import LabFactory, UserFactory


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    lab = factory.SubFactory(LabFactory)
    title = factory.Sequence(lambda n: f"Dataset {n}")
    created_by = factory.SubFactory(UserFactory)
    creators = factory.LazyAttribute(lambda d: [{"name": d.created_by.username}])


class ReadyImageFactory(factory.django.DjangoModelFactory):
    """A ready catalog.Image row without a stored file (for grid and labeling tests)."""

    class Meta:
        model = "catalog.Image"

    dataset = factory.SubFactory(DatasetFactory)
    original_filename = factory.Sequence(lambda n: f"micrograph{n}.tif")
    original_key = factory.LazyAttribute(lambda i: f"labs/test/{i.original_filename}")
    size_bytes = 1024
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    format = "tiff"
    width = 256
    height = 256
    dtype = "uint8"
    status = "ready"
    uploaded_by = factory.LazyAttribute(lambda i: i.dataset.created_by)


class UnreadableImageFactory(ReadyImageFactory):
    """A pending image whose stored original is no image: its ingest, once run, ends "failed"."""

    class Meta:
        skip_postgeneration_save = True  # the hook stores a file; the row is as created

    original_key = factory.LazyAttribute(
        lambda i: f"labs/{i.dataset.lab_id}/datasets/{i.dataset.pk}/{i.original_filename}"
    )
    size_bytes = 4
    width = 8
    height = 8
    status = "pending"

    @factory.post_generation
    def stored(image, create, extracted, **kwargs):
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        if create:
            default_storage.save(image.original_key, ContentFile(b"II*\x00garbage"))
