"""Model versions mirrored from the MLflow registry, their aliases, and training jobs.

MLflow holds runs, artifacts and registered versions; Postgres mirrors every registered
version (``ModelVersion``) so that permissions, listing and lineage stay in Django. A lab's
private versions are invisible to other labs (404). Aliases (``champion``, ``challenger``)
are set in MLflow and mirrored in ``ModelAlias`` (current state) and ``AliasEvent`` (history).
"""

import uuid

from django.conf import settings
from django.db import models

from accounts.models import Lab
from common.jobs import FINISHED, Job, JobStatus  # noqa: F401 - re-exported for the app


class Source(models.TextChoices):
    BUILTIN = "builtin", "Built into the engine"
    TRAINED = "trained", "Fine-tuned on the platform"
    IMPORTED = "imported", "Imported state dict"


class ModelVisibility(models.TextChoices):
    LAB = "lab", "Lab members"
    PUBLIC = "public", "Public"


class ModelVersion(models.Model):
    """One registered MLflow model version (``name``, ``version``) and who may use it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, help_text="MLflow registered model name")
    version = models.PositiveIntegerField()
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    encoder_kind = models.CharField(max_length=32, help_text="default | fourier | resnet | …")
    source = models.CharField(max_length=8, choices=Source.choices)
    lab = models.ForeignKey(
        Lab,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="model_versions",
        help_text="owning lab; null for platform-wide (public) models",
    )
    visibility = models.CharField(
        max_length=8, choices=ModelVisibility.choices, default=ModelVisibility.LAB
    )
    config = models.JSONField(default=dict, blank=True, help_text="encoder builder options")
    dim = models.PositiveIntegerField(default=0, help_text="embedding size")
    metrics = models.JSONField(default=dict, blank=True)
    aliases = models.JSONField(default=list, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    card = models.JSONField(default=dict, blank=True)
    artifact_uri = models.CharField(max_length=1000, blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_model_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_public(self) -> bool:
        return self.lab_id is None or self.visibility == ModelVisibility.PUBLIC


class ModelAlias(models.Model):
    """Current holder of an alias of a registered model (mirror of the MLflow alias)."""

    name = models.CharField(max_length=200)
    alias = models.CharField(max_length=32)
    lab = models.ForeignKey(Lab, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "alias"], name="unique_model_alias")]

    def __str__(self) -> str:
        return f"{self.name}@{self.alias} -> v{self.version.version}"


class AliasEvent(models.Model):
    """Append-only history of alias moves (promotion, roll-back, registration)."""

    class Action(models.TextChoices):
        SET = "set"
        PROMOTE = "promote"
        AUTO_PROMOTE = "auto_promote"
        ROLLBACK = "rollback"
        CLEAR = "clear"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    alias = models.CharField(max_length=32)
    lab = models.ForeignKey(Lab, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    previous = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    note = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name}@{self.alias} {self.action}"


class TrainingJob(Job):
    """Episodic fine-tuning of an encoder on frozen support-set versions (gpu queue)."""

    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="training_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    base_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    model_name = models.CharField(max_length=200, help_text="registered model to add to")
    support_set_versions = models.JSONField(default=list, help_text="SupportSetVersion ids")
    include_public = models.BooleanField(default=False)
    params = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0)
    metrics = models.JSONField(default=dict, blank=True)
    history = models.JSONField(default=list, blank=True)
    lineage = models.JSONField(default=dict, blank=True)
    result_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    timings = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        pass

    def __str__(self) -> str:
        return f"training {self.id} ({self.status})"
