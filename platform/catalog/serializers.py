from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.orcid import normalise_orcid

from .licences import LICENCES
from .links import persistent_url, version_persistent_url
from .models import Dataset, DatasetVersion, DirectUpload, Image, Visibility


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


class FundingSerializer(serializers.Serializer):
    """One funding reference (DataCite ``fundingReference``)."""

    funder_name = serializers.CharField(max_length=300)
    funder_identifier = serializers.CharField(
        max_length=300, required=False, allow_blank=True, help_text="e.g. a ROR id URL"
    )
    funder_identifier_type = serializers.ChoiceField(
        choices=["ROR", "Crossref Funder ID", "GRID", "ISNI", "Other"], required=False
    )
    award_number = serializers.CharField(max_length=100, required=False, allow_blank=True)
    award_title = serializers.CharField(max_length=300, required=False, allow_blank=True)
    award_uri = serializers.URLField(max_length=500, required=False, allow_blank=True)


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
            "funding",
            "created",
            "modified",
            "image_count",
            "persistent_url",
        ]

    def get_persistent_url(self, dataset) -> str:
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
    funding = FundingSerializer(many=True, required=False, max_length=20)


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


# --- dataset versions ------------------------------------------------------------------
class DatasetVersionCreateSerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, help_text="what this version is"
    )
    support_sets = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=50,
        help_text="frozen support-set versions of the dataset to include",
    )
    results = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=200,
        help_text="segmentation results to include (their support sets come with them)",
    )


class VersionImageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    frames = serializers.IntegerField()
    pixel_size = serializers.FloatField(allow_null=True)
    pixel_unit = serializers.CharField(allow_blank=True)


class VersionSupportSetSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    n_chips = serializers.IntegerField()
    classes = serializers.ListField(child=serializers.CharField())


class VersionResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    image = serializers.UUIDField()
    frame = serializers.IntegerField()
    support_set = serializers.UUIDField()
    code_version = serializers.CharField(allow_blank=True)
    files = serializers.ListField(child=serializers.CharField())


class DatasetVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.UUIDField(source="dataset_id", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    persistent_url = serializers.SerializerMethodField()
    images = serializers.SerializerMethodField()
    support_sets = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "number",
            "note",
            "title",
            "description",
            "keywords",
            "licence",
            "creators",
            "funding",
            "doi",
            "doi_state",
            "doi_registered",
            "created",
            "created_by",
            "persistent_url",
            "images",
            "support_sets",
            "results",
            "links",
        ]

    def get_persistent_url(self, version) -> str:
        return version_persistent_url(version, self.context.get("request"))

    @extend_schema_field(VersionImageSerializer(many=True))
    def get_images(self, version):
        return VersionImageSerializer(version.manifest.get("images", []), many=True).data

    @extend_schema_field(VersionSupportSetSerializer(many=True))
    def get_support_sets(self, version):
        return VersionSupportSetSerializer(version.manifest.get("support_sets", []), many=True).data

    @extend_schema_field(VersionResultSerializer(many=True))
    def get_results(self, version):
        results = [
            {**r, "files": [f["name"] for f in r["files"]]}
            for r in version.manifest.get("results", [])
        ]
        return VersionResultSerializer(results, many=True).data

    def get_links(self, version) -> dict[str, str]:
        return {
            "self": reverse("dataset-version-detail", args=[version.pk]),
            "landing": reverse("dataset-version-landing", args=[version.pk]),
            "crate": reverse("dataset-version-crate", args=[version.pk]),
            "jsonld": reverse("dataset-version-jsonld", args=[version.pk]),
            "datacite": reverse("dataset-version-datacite", args=[version.pk]),
            "citation_bibtex": reverse("dataset-version-citation-bibtex", args=[version.pk]),
            "citation_csl": reverse("dataset-version-citation-csl", args=[version.pk]),
        }


# --- direct upload and import in place (catalog.direct) ------------------------------------
class DirectUploadCreateSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=255)
    size = serializers.IntegerField(min_value=1, help_text="bytes of the file")
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$", help_text="of the whole file, checked at commit"
    )


class DirectUploadPartSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="1-based part number")
    size = serializers.IntegerField(help_text="bytes of this part: PUT exactly these")
    url = serializers.CharField(help_text="presigned PUT URL; the ETag header of its answer")


class DirectUploadSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="upload.id")
    dataset = serializers.UUIDField(source="upload.dataset_id")
    filename = serializers.CharField(source="upload.filename")
    size_bytes = serializers.IntegerField(source="upload.size_bytes")
    sha256 = serializers.CharField(source="upload.sha256")
    status = serializers.CharField(
        source="upload.status",
        help_text="uploading, committing (a worker checks the bytes), committed, failed, aborted",
    )
    error = serializers.CharField(source="upload.error")
    error_code = serializers.CharField(source="upload.error_code")
    checked_bytes = serializers.IntegerField(
        source="upload.checked_bytes", help_text="bytes the commit has hashed so far"
    )
    part_size = serializers.IntegerField(source="upload.part_size")
    part_count = serializers.IntegerField(source="upload.part_count")
    image = serializers.UUIDField(source="upload.image_id", allow_null=True)
    created = serializers.DateTimeField(source="upload.created")
    expires = serializers.DateTimeField(source="upload.expires")
    received = serializers.ListField(
        child=serializers.IntegerField(), help_text="parts the object store holds"
    )
    parts = DirectUploadPartSerializer(
        many=True, help_text="parts still to send, with their presigned URLs"
    )


class DirectUploadListSerializer(serializers.ModelSerializer):
    dataset = serializers.UUIDField(source="dataset_id", read_only=True)

    class Meta:
        model = DirectUpload
        fields = [
            "id",
            "dataset",
            "filename",
            "size_bytes",
            "sha256",
            "status",
            "error",
            "error_code",
            "checked_bytes",
            "part_size",
            "part_count",
            "image",
            "created",
            "expires",
        ]


class DatasetImportSerializer(serializers.Serializer):
    bucket = serializers.CharField(
        max_length=63, required=False, allow_blank=True, help_text="default: the platform's"
    )
    prefix = serializers.CharField(max_length=1024, help_text="e.g. imports/<lab id>/run-7/")


class ImportErrorSerializer(serializers.Serializer):
    key = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class DatasetImportResultSerializer(serializers.Serializer):
    images = ImageSerializer(many=True)
    errors = ImportErrorSerializer(many=True)


class TileLevelSerializer(serializers.Serializer):
    z = serializers.IntegerField(help_text="downscaled by 2^z (0: full resolution)")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    rows = serializers.IntegerField()
    cols = serializers.IntegerField()


class TilesIndexSerializer(serializers.Serializer):
    tile_size = serializers.IntegerField()
    preview_max_side = serializers.IntegerField()
    levels = TileLevelSerializer(many=True)
