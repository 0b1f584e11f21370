"""Deleting datasets and images: the rows in one transaction, their stored files after commit."""

import logging

from django.db import transaction

from accounts.models import Role
from accounts.selectors import require_role
from common import storage
from common.errors import Conflict, NotFound

from ..models import Dataset, Image
from .keys import _image_keys, embeddings_prefixes, image_prefix

log = logging.getLogger(__name__)


@transaction.atomic
def dataset_delete(*, user, dataset: Dataset) -> None:
    """Delete a dataset with its images, grids, schemas, votes, results and stored files.

    Refused (409) while any of its schemas has a frozen support-set version, like an image's.
    """
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    dataset = _lock_for_delete(dataset.pk)
    if n := dataset.versions.count():
        raise Conflict(
            f"The dataset has {n} published version(s), which are citable records; it cannot "
            "be deleted (make it private instead).",
            code="published",
        )
    frozen = dataset.schemas.filter(versions__isnull=False).values("versions").distinct()
    if n := frozen.count():
        raise Conflict(
            f"The dataset has {n} frozen support-set version(s), which jobs and trained models "
            "refer to; it cannot be deleted without breaking them (make it private instead).",
            code="in_use",
        )
    images = list(dataset.images.all())
    keys = [k for image in images for k in _stored_keys(image)]
    shas = {image.sha256 for image in images}
    lab_id = dataset.lab_id
    for schema in dataset.schemas.all():  # votes and gold answers protect their classes
        schema.votes.all().delete()
        schema.gold.all().delete()
    folder = f"labs/{lab_id}/datasets/{dataset.pk}"
    dataset.delete()
    transaction.on_commit(lambda: _stored_delete(keys, lab_id=lab_id, shas=shas, folders=[folder]))


@transaction.atomic
def image_delete(*, user, image: Image) -> None:
    """Delete an image with its grids, votes, results and every stored file derived from it.

    Refused (409) while chips of the image belong to a frozen support-set version: versions are
    immutable records that jobs re-run and models were trained on.
    """
    require_role(user=user, lab_id=image.dataset.lab_id, role=Role.CURATOR)
    _lock_for_delete(image.dataset_id)
    image = Image.objects.filter(pk=image.pk).select_related("dataset").first()
    if image is None:
        raise NotFound("Image not found (deleted meanwhile).")
    if numbers := list(image.dataset_versions.values_list("number", flat=True)):
        raise Conflict(
            f"The image is in published version(s) {', '.join(map(str, sorted(numbers)))} of "
            "the dataset, which never change; it cannot be deleted.",
            code="published",
        )
    frozen = image.grids.filter(support_sets__isnull=False).values("support_sets").distinct()
    if n := frozen.count():
        raise Conflict(
            f"Chips of this image are in {n} frozen support-set version(s), which jobs and "
            "trained models refer to; the image cannot be deleted without breaking them.",
            code="in_use",
        )
    keys = _stored_keys(image)
    lab_id, shas = image.dataset.lab_id, {image.sha256}
    folder = image_prefix(image.dataset, image.pk)  # previews, tiles: whatever is under it
    image.delete()
    transaction.on_commit(lambda: _stored_delete(keys, lab_id=lab_id, shas=shas, folders=[folder]))


def _lock_for_delete(dataset_id) -> Dataset:
    """Lock a dataset's row and its label schemas' rows before deleting from it.

    Publishing a dataset version locks the dataset (``publishing.versions``) and freezing a
    support-set version locks its schema (``labeling``): a delete waits for a freeze under way
    and then sees the version it made (409), and a freeze that comes second sees the image gone.
    """
    dataset = Dataset.objects.select_for_update().get(pk=dataset_id)
    list(dataset.schemas.select_for_update().order_by("pk").values_list("pk", flat=True))
    return dataset


def _stored_keys(image: Image) -> list[str]:
    """Every stored file derived from ``image``: original, previews, its results' exports
    (overlays show the micrograph)."""
    keys = _image_keys(image)
    for result in image.segmentation_results.all():
        keys += [result.arrays_key, *result.artefacts.values()]
    return keys


def _stored_delete(keys: list[str], *, lab_id, shas: set[str], folders=()) -> None:
    """After a delete committed: its images' stored files (``keys``, and every object under
    ``folders``), and their embeddings unless another image of the lab has the same bytes.
    Never raises: the rows are gone whatever happens, and a store that is down leaves files
    behind (logged, by key)."""
    for key in keys:
        try:
            storage.delete(key)
        except Exception:
            log.exception("could not delete %s of a deleted image: left in storage", key)
    for folder in folders:
        try:
            storage.delete_under(folder)
        except Exception:
            log.exception("could not delete the objects under %s: left in storage", folder)
    for sha in shas:
        try:
            if Image.objects.filter(dataset__lab_id=lab_id, sha256=sha).exists():
                continue  # the same file in another dataset of the lab uses them
            for prefix in embeddings_prefixes(lab_id, sha):
                storage.delete_under(prefix)
        except Exception:
            log.exception("could not delete the embeddings of image bytes %s: left", sha)
