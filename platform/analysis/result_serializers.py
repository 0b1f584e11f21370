"""Serializers of segmentation results and of re-deriving a published one.

Split from :mod:`analysis.serializers` (which re-exports them) to keep modules short.
"""

import numpy as np
from django.urls import reverse
from rest_framework import serializers

from .artefacts import EXPORT_KINDS
from .models import SegmentationResult


def _links_of_result(result) -> dict:
    """The result and the exports it has (series.csv only for time series)."""
    return {
        "self": reverse("segmentation-result-detail", args=[result.pk]),
        **{
            kind: reverse("segmentation-result-export", args=[result.pk, kind])
            for kind in EXPORT_KINDS
            if kind in result.artefacts
        },
    }


class ResultModelSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class ResultSerializer(serializers.ModelSerializer):
    job = serializers.UUIDField(source="job_id", read_only=True)
    image = serializers.UUIDField(source="image_id", read_only=True)
    grid = serializers.UUIDField(source="grid_id", read_only=True)
    model = ResultModelSerializer(
        source="job.model_version", read_only=True, help_text="the model version of its job"
    )
    links = serializers.SerializerMethodField()

    class Meta:
        model = SegmentationResult
        fields = [
            "id",
            "job",
            "image",
            "frame",
            "grid",
            "rows",
            "cols",
            "classes",
            "counts",
            "fractions",
            "fraction_std",
            "areas",
            "area_unit",
            "mean_confidence",
            "created",
            "model",
            "links",
        ]

    def get_links(self, result) -> dict:
        return _links_of_result(result)


class DisagreementSerializer(serializers.Serializer):
    image = serializers.CharField(help_text="id of the image the example was clicked on")
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    class_index = serializers.IntegerField(source="class", help_text="the class it was clicked as")
    predicted_index = serializers.IntegerField(
        source="predicted", help_text="the class the model gives it, held out"
    )
    probability = serializers.FloatField(help_text="held-out probability of predicted_index")


class SupportCheckSerializer(serializers.Serializer):
    method = serializers.CharField()
    n_checked = serializers.IntegerField()
    n_examples = serializers.IntegerField()
    disagree = DisagreementSerializer(many=True)


class PixelMapSerializer(serializers.Serializer):
    n_pixels = serializers.IntegerField(help_text="pixels the map covers")
    counts = serializers.ListField(child=serializers.IntegerField(), help_text="pixels per class")
    fractions = serializers.ListField(child=serializers.FloatField())
    areas = serializers.ListField(
        child=serializers.FloatField(), required=False, help_text="when the image is calibrated"
    )
    area_unit = serializers.CharField(required=False)
    mean_confidence = serializers.FloatField()
    uncertain_fraction = serializers.FloatField(
        help_text="share of pixels whose confidence is below uncertain_below"
    )
    uncertain_below = serializers.FloatField()
    method = serializers.CharField()


class ResultDetailSerializer(ResultSerializer):
    pixel_map = PixelMapSerializer(
        source="stats.pixels",
        read_only=True,
        allow_null=True,
        help_text="statistics of the full-resolution map (exports mask.png, confidence.png); "
        "null for results from before pixel maps",
    )
    objects = serializers.DictField(
        source="stats.objects",
        child=serializers.JSONField(),
        read_only=True,
        allow_null=True,
        help_text="per class marked as objects (by name): count, number density and the "
        "equivalent-diameter distribution with bootstrap intervals "
        "(workers.fewshot.objects.size_distribution); the particles are in particles.csv",
    )
    support_check = SupportCheckSerializer(
        source="stats.support_check",
        read_only=True,
        allow_null=True,
        help_text="every support chip classified leave-one-out (without itself); the examples "
        "the model would label as another class (null for results from before the check)",
    )
    labels = serializers.SerializerMethodField(help_text="class index per chip (rows x cols)")
    confidence = serializers.SerializerMethodField(help_text="max probability per chip")
    job_status = serializers.CharField(source="job.status", read_only=True)

    class Meta(ResultSerializer.Meta):
        fields = [
            *ResultSerializer.Meta.fields,
            "job_status",
            "pixel_map",
            "objects",
            "support_check",
            "labels",
            "confidence",
            "stats",
            "provenance",
        ]

    def get_labels(self, result) -> list[list[int]]:
        return self.context["arrays"]["labels"].astype(int).tolist()

    def get_confidence(self, result) -> list[list[float]]:
        # rounded in numpy: a Python round per chip took 8 ms of each request at 128 x 128 chips
        return np.round(self.context["arrays"]["confidence"].astype(np.float64), 5).tolist()


class _MatchSerializer(serializers.Serializer):
    identical = serializers.BooleanField()
    differing = serializers.IntegerField(allow_null=True, help_text="null: shapes differ")
    total = serializers.IntegerField()


class RederiveReportSerializer(serializers.Serializer):
    """What re-running a published result from its version's provenance gave."""

    version = serializers.UUIDField()
    result = serializers.UUIDField()
    identical = serializers.BooleanField(
        help_text="chip labels, pixel mask and fractions all bit-identical to the published ones"
    )
    chip_labels = _MatchSerializer()
    pixel_mask = _MatchSerializer()
    fractions = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="published and rederived class fractions",
    )
    model_version = serializers.DictField()
    code_version = serializers.DictField(
        child=serializers.CharField(allow_null=True), help_text="published and now"
    )
    seconds = serializers.FloatField()
