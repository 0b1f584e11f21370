"""Rows of the publishing app: imports of dataset packages, run by a worker."""

from django.conf import settings
from django.db import models

from catalog.models import Dataset, DatasetVersion, Visibility
from common.jobs import Job


class ArchiveImportStage(models.TextChoices):
    QUEUED = "queued"  # waiting for a worker
    CHECKING = "checking"  # unpacking: every file's size and sha256 against the crate's
    RESTORING = "restoring"  # one transaction: the dataset, images, support sets, results
    DONE = "done"


class DatasetArchiveImport(Job):
    """One import of a dataset package (a version's RO-Crate zip) as a new dataset of a lab
    (``publishing.archive``). The package waits at ``package_key`` until the worker has
    checked and restored it; the new dataset's id is the import's own, so that a delivery
    lost with its worker is redone under the same keys."""

    lab = models.ForeignKey("accounts.Lab", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    filename = models.CharField(max_length=255, blank=True)
    package_key = models.CharField(max_length=512)
    package_bytes = models.BigIntegerField()
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.LAB)
    with_results = models.BooleanField(default=True)
    stage = models.CharField(
        max_length=10, choices=ArchiveImportStage.choices, default=ArchiveImportStage.QUEUED
    )
    done_bytes = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: what the import made: counts of images, support sets and results, and the source
    summary = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"
