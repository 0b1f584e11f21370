"""factory_boy factories shared by the test suite."""

import factory

from accounts.models import Lab, Membership, Role, User
from catalog.models import Dataset


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class LabFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lab

    name = factory.Sequence(lambda n: f"Lab {n}")
    slug = factory.Sequence(lambda n: f"lab-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    lab = factory.SubFactory(LabFactory)
    role = Role.VIEWER


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


def fourier_champion():
    """The training-free built-in encoder registered as the public champion (no MLflow)."""
    from registry.models import ModelAlias, ModelVersion, ModelVisibility, Source

    version = ModelVersion.objects.create(
        name="chiplab-fourier",
        version=1,
        encoder_kind="fourier",
        source=Source.BUILTIN,
        visibility=ModelVisibility.PUBLIC,
        mlflow_run_id="run-test",
    )
    ModelAlias.objects.create(name="chiplab-fourier", alias="champion", version=version)
    return version
