"""Reads of datasets and images; who may see what is decided here and only here."""

from django.db.models import Q, QuerySet

from accounts.models import Membership, Role
from common.errors import NotFound

from .models import Dataset, Image, Visibility

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
