from django.urls import reverse
from rest_framework import serializers

from common.orcid import normalise_orcid

from .licences import LICENCES
from .models import Dataset, Image, Visibility


class LicenceSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="SPDX identifier")
    name = serializers.CharField()


class CreatorSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    orcid = serializers.CharField(max_length=64, required=False, allow_blank=True)
    affiliation = serializers.CharField(max_length=300, required=False, allow_blank=True)

    def validate_orcid(self, value: str) -> str:
        try:
            return normalise_orcid(value)
        except ValueError as err:
            raise serializers.ValidationError(str(err)) from None


class DatasetSerializer(serializers.ModelSerializer):
    lab = serializers.UUIDField(source="lab_id", read_only=True)
    lab_name = serializers.CharField(source="lab.name", read_only=True)
    image_count = serializers.SerializerMethodField()
    persistent_url = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "lab",
            "lab_name",
            "title",
            "description",
            "keywords",
            "licence",
            "visibility",
            "creators",
            "doi",
            "created",
            "modified",
            "image_count",
            "persistent_url",
        ]

    def get_persistent_url(self, dataset) -> str:
        from .fair import persistent_url

        return persistent_url(dataset, self.context.get("request"))

    def get_image_count(self, dataset) -> int:
        """Annotated by lists (``n_images``: one query for the page), else counted."""
        n = getattr(dataset, "n_images", None)
        return dataset.images.count() if n is None else n


class DatasetWriteSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True)
    keywords = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    licence = serializers.ChoiceField(choices=sorted(LICENCES), required=False)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    creators = CreatorSerializer(many=True, required=False)
    doi = serializers.RegexField(r"^10\.\d{4,9}/\S+$", required=False, allow_blank=True)


class DatasetCreateSerializer(DatasetWriteSerializer):
    lab = serializers.UUIDField()


class ImageSerializer(serializers.ModelSerializer):
    dataset = serializers.UUIDField(source="dataset_id", read_only=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id",
            "dataset",
            "original_filename",
            "size_bytes",
            "sha256",
            "format",
            "width",
            "height",
            "frames",
            "preview_frames",
            "channels",
            "dtype",
            "pixel_size",
            "pixel_unit",
            "calibration",
            "instrument",
            "status",
            "error",
            "uploaded_by",
            "created",
            "ingested",
            "links",
        ]

    def get_links(self, image) -> dict:
        links = {"original": reverse("image-original", args=[image.pk])}
        if image.preview_key:
            links["preview"] = reverse("image-preview", args=[image.pk])
            links["thumbnail"] = reverse("image-thumbnail", args=[image.pk])
        return links


class ImageDetailSerializer(ImageSerializer):
    class Meta(ImageSerializer.Meta):
        fields = [*ImageSerializer.Meta.fields, "metadata_raw"]


class ImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="jpg, png, tiff (8/16-bit, float, stacks), dm3, dm4")


class ImageCalibrationSerializer(serializers.Serializer):
    pixel_size = serializers.FloatField(
        allow_null=True,
        min_value=1e-6,
        max_value=1e9,
        help_text="Real-space length of one pixel, in pixel_unit; null goes back to the "
        "calibration read from the file (or none).",
    )
    pixel_unit = serializers.ChoiceField(
        choices=["pm", "Å", "nm", "µm", "mm"],
        default="nm",
        help_text="Stored normalised to nm.",
    )

    def validate(self, attrs):
        if "pixel_unit" in attrs and "pixel_size" not in attrs:
            raise serializers.ValidationError(
                {"pixel_size": "Send pixel_size with its pixel_unit."}
            )
        return attrs
