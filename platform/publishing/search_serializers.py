"""Serializers of search: query parameters, results and facets."""

from django.urls import reverse
from rest_framework import serializers

from catalog import annotations
from catalog.models import Image

from . import search


def _names(max_length: int, help_text: str):
    return serializers.ListField(
        child=serializers.CharField(max_length=max_length),
        required=False,
        max_length=search.MAX_FILTER_VALUES,
        help_text=f"{help_text} Repeat the parameter for several values (any of them matches).",
    )


def _range(help_text: str):
    return serializers.FloatField(required=False, min_value=0, max_value=1e12, help_text=help_text)


class SearchQuerySerializer(serializers.Serializer):
    """The query parameters of ``GET /api/search/``."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=search.MAX_QUERY_LENGTH,
        help_text="Words to find (all of them) in titles, descriptions, keywords, licences, "
        "file names, instruments, tags, key-value pairs and class names.",
    )
    instrument = _names(200, "Microscope name (the instrument facet's values).")
    licence = _names(64, "SPDX licence id.")
    class_name = _names(100, "Label class name.")
    tag = _names(annotations.MAX_TAG_LENGTH, "Tag.")
    kv = serializers.ListField(
        child=serializers.CharField(max_length=annotations.MAX_KEY_LENGTH + 1 + 1024),
        required=False,
        max_length=5,
        help_text="A key-value annotation as key=value (exact); several must all match.",
    )
    dataset = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=search.MAX_FILTER_VALUES
    )
    lab = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=search.MAX_FILTER_VALUES
    )
    voltage_min = _range("Accelerating voltage, kV, at least.")
    voltage_max = _range("Accelerating voltage, kV, at most.")
    magnification_min = _range("Magnification, at least.")
    magnification_max = _range("Magnification, at most.")
    pixel_size_min = _range("Pixel size, nm, at least (calibrated images only).")
    pixel_size_max = _range("Pixel size, nm, at most (calibrated images only).")
    acquired_from = serializers.DateField(required=False, help_text="Acquired on or after.")
    acquired_to = serializers.DateField(required=False, help_text="Acquired on or before.")
    facets = serializers.BooleanField(
        required=False, default=True, help_text="Count the facets (default true)."
    )

    def validate_q(self, value: str) -> str:
        if len(search.words(value)) > search.MAX_WORDS:
            raise serializers.ValidationError(f"Use at most {search.MAX_WORDS} words.")
        return value

    def validate_kv(self, value: list[str]) -> list[tuple[str, str]]:
        pairs = []
        for item in value:
            key, sep, val = item.partition("=")
            if not sep or not key.strip():
                raise serializers.ValidationError(f"{item[:40]!r} is not key=value.")
            pairs.append((key.strip(), val.strip()))
        return pairs

    def validate(self, attrs):
        for low, high in (
            ("voltage_min", "voltage_max"),
            ("magnification_min", "magnification_max"),
            ("pixel_size_min", "pixel_size_max"),
            ("acquired_from", "acquired_to"),
        ):
            if (
                attrs.get(low) is not None
                and attrs.get(high) is not None
                and attrs[low] > attrs[high]
            ):
                raise serializers.ValidationError({low: f"{low} is above {high}."})
        return attrs

    def params(self) -> search.SearchParams:
        data = dict(self.validated_data)
        data.pop("facets", None)
        data["label_class"] = data.pop("class_name", [])
        return search.SearchParams(**data)


class SearchDatasetSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    licence = serializers.CharField()
    visibility = serializers.CharField()
    lab = serializers.UUIDField(source="lab_id")
    lab_name = serializers.CharField(source="lab.name")


class SearchImageSerializer(serializers.ModelSerializer):
    dataset = SearchDatasetSerializer()
    tags = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "dataset",
            "original_filename",
            "width",
            "height",
            "frames",
            "pixel_size",
            "pixel_unit",
            "instrument",
            "tags",
            "links",
        ]

    def get_tags(self, image) -> list[str]:
        return [t.name for t in image.tags.all()]  # prefetched

    def get_links(self, image) -> dict:
        links = {"image": reverse("image-detail", args=[image.pk])}
        if image.thumbnail_key:
            links["thumbnail"] = reverse("image-thumbnail", args=[image.pk])
        return links


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()
    label = serializers.CharField(required=False, help_text="the dataset facet: its title")


class FacetsSerializer(serializers.Serializer):
    instrument = FacetValueSerializer(many=True)
    licence = FacetValueSerializer(many=True)
    class_name = FacetValueSerializer(many=True)
    tag = FacetValueSerializer(many=True)
    dataset = FacetValueSerializer(many=True)


class SearchResultsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SearchImageSerializer(many=True)
    facets = FacetsSerializer(required=False, help_text="absent with facets=false")
