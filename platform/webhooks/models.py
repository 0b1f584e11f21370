"""Webhooks: URLs a lab registers for events, and the log of every delivery and attempt."""

import uuid

from django.conf import settings
from django.db import models

from accounts.models import Lab


class Event(models.TextChoices):
    """What a hook can subscribe to (``ping`` is only sent by "send test")."""

    IMAGE_READY = "image.ready"
    IMAGE_FAILED = "image.failed"
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    TRAINING_FINISHED = "training.finished"
    MODEL_PROMOTED = "model.promoted"
    SUPPORT_SET_FROZEN = "support_set.frozen"


PING = "ping"


class Webhook(models.Model):
    """A URL of a lab that receives signed POSTs for the events it subscribes to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="webhooks")
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list, help_text="event types, e.g. ['job.succeeded']")
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    # HMAC key: kept as is (it signs every delivery), shown to people once
    secret = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created"]

    def __str__(self) -> str:
        return f"webhook {self.url} ({self.lab_id})"

    @property
    def secret_prefix(self) -> str:
        return self.secret[:10]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Delivery(models.Model):
    """One event sent to one hook: the exact body, and where its attempts stand."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    event_id = models.UUIDField(help_text="the same for every hook and attempt of one event")
    body = models.TextField(help_text="the JSON body, byte for byte as signed")
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # an attempt in flight holds the delivery until then (a redelivered message waits)
    locked_until = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["webhook", "-created"])]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One POST of a delivery: what came back (status, a short excerpt) or what went wrong."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    started = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=512, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
