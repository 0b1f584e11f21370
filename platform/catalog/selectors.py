"""Reads of datasets and images; who may see what is decided here and only here."""

from django.db.models import Q, QuerySet

from accounts.models import Membership, Role
from common.errors import NotFound

from .models import Dataset, DatasetVersion, Image, Visibility

_CURATING = [Role.CURATOR, Role.OWNER]


def datasets_visible_to(*, user) -> QuerySet[Dataset]:
    """Public datasets, plus lab datasets of the user's labs, plus private ones they may see."""
    public = Q(visibility=Visibility.PUBLIC)
    if not user.is_authenticated:
        return Dataset.objects.filter(public)
    member_labs = Membership.objects.filter(user=user).values("lab_id")
    curated_labs = Membership.objects.filter(user=user, role__in=_CURATING).values("lab_id")
    return Dataset.objects.filter(
        public
        | Q(lab_id__in=member_labs, visibility=Visibility.LAB)
        | Q(lab_id__in=member_labs, visibility=Visibility.PRIVATE, created_by=user)
        | Q(lab_id__in=curated_labs, visibility=Visibility.PRIVATE)
    ).select_related("lab")


def dataset_visible(*, user, dataset: Dataset, role: str | None) -> bool:
    """``datasets_visible_to``'s rule for one dataset already read, given the user's ``role``
    in its lab (None: not a member), for hot paths that fetch both in one query."""
    if dataset.visibility == Visibility.PUBLIC:
        return True
    if role is None or not user.is_authenticated:
        return False
    if dataset.visibility == Visibility.LAB:
        return True
    return dataset.created_by_id == user.pk or role in _CURATING


def dataset_get(*, user, dataset_id) -> Dataset:
    dataset = datasets_visible_to(user=user).filter(pk=dataset_id).first()
    if dataset is None:
        raise NotFound("Dataset not found.")
    return dataset


def images_visible_to(*, user) -> QuerySet[Image]:
    return Image.objects.filter(dataset__in=datasets_visible_to(user=user).values("pk"))


def image_get(*, user, image_id) -> Image:
    image = (
        images_visible_to(user=user)
        .select_related("dataset", "dataset__lab")
        .filter(pk=image_id)
        .first()
    )
    if image is None:
        raise NotFound("Image not found.")
    return image


# --- dataset versions: visible exactly when their dataset is -------------------------
def dataset_versions_visible_to(*, user) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(
        dataset__in=datasets_visible_to(user=user).values("pk")
    ).select_related("dataset", "dataset__lab", "created_by")


def dataset_version_get(*, user, version_id) -> DatasetVersion:
    version = dataset_versions_visible_to(user=user).filter(pk=version_id).first()
    if version is None:
        raise NotFound("Dataset version not found.")
    return version


def dataset_version_latest(*, user, dataset_id) -> DatasetVersion:
    """The highest-numbered version of a dataset (the "latest" alias)."""
    dataset = dataset_get(user=user, dataset_id=dataset_id)
    version = dataset_versions_visible_to(user=user).filter(dataset=dataset).first()
    if version is None:
        raise NotFound("The dataset has no published version yet.", code="no_version")
    return version
