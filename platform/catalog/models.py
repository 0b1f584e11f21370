"""Datasets and images: originals stored untouched, metadata extracted, FAIR from the start."""

import uuid

from django.conf import settings
from django.db import models

from accounts.models import Lab


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private (creator and lab curators)"
    LAB = "lab", "Lab members"
    PUBLIC = "public", "Public"


class Dataset(models.Model):
    """A collection of micrographs; its UUID is its persistent identifier."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="datasets")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    keywords = models.JSONField(default=list, blank=True)
    licence = models.CharField(max_length=64, default="CC-BY-4.0")
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.LAB)
    creators = models.JSONField(
        default=list, blank=True, help_text='[{"name": ..., "orcid": ..., "affiliation": ...}]'
    )
    doi = models.CharField(max_length=200, blank=True)
    funding = models.JSONField(
        default=list,
        blank=True,
        help_text='[{"funder_name": ..., "funder_identifier": ..., "funder_identifier_type": ..., '
        '"award_number": ..., "award_title": ..., "award_uri": ...}] (DataCite fundingReference)',
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.title


class ImageStatus(models.TextChoices):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class Image(models.Model):
    """One uploaded micrograph (or frame stack); the original bytes are never modified."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="images")
    original_filename = models.CharField(max_length=255)
    original_key = models.CharField(max_length=512)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    format = models.CharField(max_length=8)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    frames = models.PositiveIntegerField(default=1)
    channels = models.PositiveSmallIntegerField(default=1)
    dtype = models.CharField(max_length=16)
    pixel_size = models.FloatField(null=True, blank=True)
    pixel_unit = models.CharField(max_length=8, blank=True)
    calibration = models.JSONField(default=dict, blank=True)
    instrument = models.JSONField(default=dict, blank=True)
    metadata_raw = models.JSONField(default=dict, blank=True)
    preview_key = models.CharField(max_length=512, blank=True)
    preview_frames = models.PositiveIntegerField(
        default=0,
        help_text="leading frames with a preview (0: preview_key, others: frame_preview_key)",
    )
    thumbnail_key = models.CharField(max_length=512, blank=True)
    status = models.CharField(
        max_length=8, choices=ImageStatus.choices, default=ImageStatus.PENDING
    )
    error = models.TextField(blank=True)
    # deliveries of the ingest task and the process running it (common.jobs.delivery_begin)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    ingested = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "sha256"], name="unique_image_bytes")
        ]

    def __str__(self) -> str:
        return self.original_filename

    @property
    def lab_id(self):
        return self.dataset.lab_id


class DoiState(models.TextChoices):
    DRAFT = "draft"  # registered with DataCite, not yet resolvable
    FINDABLE = "findable"  # published: resolves and is indexed


class DatasetVersion(models.Model):
    """An immutable, numbered snapshot of a dataset: its metadata, licence and creators as they
    were, its ready images by sha256, the frozen support sets and the results a curator chose
    (result files copied to the version's own keys). Its UUID is its persistent identifier.

    Never updated: corrections make a new version (``publishing.versions``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    note = models.TextField(blank=True, help_text="what this version is, or what it corrects")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    keywords = models.JSONField(default=list, blank=True)
    licence = models.CharField(max_length=64)
    creators = models.JSONField(default=list, blank=True)
    funding = models.JSONField(default=list, blank=True)
    # The version's own DOI, minted through DataCite (``publishing.doi``); registering it is
    # the one write a published version takes (its content never changes).
    doi = models.CharField(max_length=200, blank=True)
    doi_state = models.CharField(max_length=10, choices=DoiState.choices, blank=True)
    doi_registered = models.DateTimeField(null=True, blank=True)
    images = models.ManyToManyField(Image, related_name="dataset_versions")
    support_sets = models.ManyToManyField(
        "labeling.SupportSetVersion", blank=True, related_name="dataset_versions"
    )
    results = models.ManyToManyField(
        "analysis.SegmentationResult", blank=True, related_name="dataset_versions"
    )
    manifest = models.JSONField(
        default=dict,
        help_text="the frozen files: images, support sets and results, with sha256 and sizes",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="unique_dataset_version")
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.number}"


class DirectUploadStatus(models.TextChoices):
    UPLOADING = "uploading"  # parts may be PUT to their presigned URLs
    COMMITTING = "committing"  # the commit checks the bytes (one at a time)
    COMMITTED = "committed"  # an image was made of it
    FAILED = "failed"  # the commit refused the bytes; nothing of them is kept
    ABORTED = "aborted"  # cancelled or expired; the parts are deleted


class DirectUpload(models.Model):
    """A file a client sends straight to the object store in parts (presigned multipart
    upload), made an image by its commit (``catalog.direct``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="direct_uploads")
    filename = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    staging_key = models.CharField(max_length=512)
    s3_upload_id = models.CharField(max_length=1024)
    part_size = models.BigIntegerField()
    part_count = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=DirectUploadStatus.choices, default=DirectUploadStatus.UPLOADING
    )
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    # the commit runs in a worker: bytes hashed so far, and its deliveries (common.jobs)
    checked_bytes = models.BigIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"


# --- annotations: tags and key-value pairs on images (catalog.annotations) ------------------
class ImageTag(models.Model):
    """A short free-text label on an image (OMERO's tag annotation), searchable and faceted."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["image", "name"], name="unique_image_tag")]
        indexes = [models.Index(fields=["name"], name="catalog_image_tag_name")]

    def __str__(self) -> str:
        return self.name


class ImageKeyValue(models.Model):
    """One key-value pair of an image's map annotation (OMERO's ``MapAnnotation``), in order."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="key_values")
    key = models.CharField(max_length=128)
    value = models.CharField(max_length=1024, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["image", "key"], name="unique_image_annotation_key")
        ]
        indexes = [models.Index(fields=["key"], name="catalog_image_kv_key")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
