"""Segmentation jobs (a support-set version + a model version applied to images) and results.

A job is the unit of work and of provenance: it names the frozen support set, the model
version, the images (in order) and the parameters. Each (image, frame) it segments gives one
``SegmentationResult``, whose arrays (labels, probabilities, confidence) live in an .npz
object under a deterministic key and whose statistics are kept as JSON for quick reads.
"""

import uuid

from django.conf import settings
from django.db import models

from accounts.models import Lab
from catalog.models import Image
from common.jobs import FINISHED, Job, JobStatus  # noqa: F401 - re-exported for the app
from labeling.models import Grid, SupportSetVersion
from registry.models import ModelVersion


class SegmentationJob(Job):
    """Segment images with a frozen support set and a model version (runs on the gpu queue)."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="segmentation_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    support_set = models.ForeignKey(
        SupportSetVersion, on_delete=models.PROTECT, related_name="segmentation_jobs"
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    images = models.ManyToManyField(Image, through="JobImage", related_name="segmentation_jobs")
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    params = models.JSONField(
        default=dict, blank=True, help_text="chip_size, offset, temperature, bootstrap, seed, …"
    )
    progress_done = models.PositiveBigIntegerField(default=0, help_text="chips classified")
    progress_total = models.PositiveBigIntegerField(default=0, help_text="chips to classify")
    stage = models.CharField(
        max_length=80, blank=True, help_text="what the worker is doing now (empty when idle)"
    )
    timings = models.JSONField(default=dict, blank=True, help_text="seconds per stage")
    maps_saved = models.DateTimeField(
        null=True, blank=True, help_text="when the job's task saved its last map (downloads follow)"
    )
    code_version = models.CharField(max_length=100, blank=True)

    class Meta(Job.Meta):
        pass

    def __str__(self) -> str:
        return f"segmentation {self.id} ({self.status})"


class JobImage(models.Model):
    """An image of a job, in request order, with the grid its results are addressed on."""

    job = models.ForeignKey(SegmentationJob, on_delete=models.CASCADE, related_name="job_images")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    grid = models.ForeignKey(Grid, on_delete=models.CASCADE, related_name="+")
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["job", "order"]
        constraints = [
            models.UniqueConstraint(fields=["job", "image"], name="one_job_image"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.order}: {self.image_id}"


class SegmentationResult(models.Model):
    """The segmentation of one frame of one image by one job."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(SegmentationJob, on_delete=models.CASCADE, related_name="results")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="segmentation_results")
    frame = models.PositiveIntegerField(default=0)
    grid = models.ForeignKey(Grid, on_delete=models.CASCADE, related_name="segmentation_results")
    rows = models.PositiveIntegerField()
    cols = models.PositiveIntegerField()
    arrays_key = models.CharField(
        max_length=512, help_text="npz: labels, probs, confidence, class_ids"
    )
    classes = models.JSONField(default=list, help_text='[{"index", "id", "name", "colour"}]')
    counts = models.JSONField(default=list)
    fractions = models.JSONField(default=list)
    fraction_std = models.JSONField(default=list, help_text="bootstrap over support chips")
    areas = models.JSONField(null=True, blank=True, help_text="physical areas when calibrated")
    area_unit = models.CharField(max_length=16, blank=True)
    mean_confidence = models.FloatField(default=0.0)
    stats = models.JSONField(default=dict, help_text="everything workers.fewshot.stats gives")
    artefacts = models.JSONField(default=dict, help_text="export kind -> storage key")
    downloads_claimed = models.DateTimeField(
        null=True,
        blank=True,
        help_text="when a worker began writing the downloads its pixel outputs wait for "
        "(analysis.runner.downloads.claim)",
    )
    provenance = models.JSONField(default=dict)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "image", "frame"]
        constraints = [
            models.UniqueConstraint(fields=["job", "image", "frame"], name="one_result_per_frame"),
        ]
        indexes = [models.Index(fields=["grid", "-created"], name="result_latest_on_grid")]

    def __str__(self) -> str:
        return f"result {self.id} ({self.image_id} frame {self.frame})"
