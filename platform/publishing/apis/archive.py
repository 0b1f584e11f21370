"""API of dataset packages: import a version's RO-Crate zip as a new dataset (``archive``);
a worker checks and restores it, the import's status is what the client polls."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import lab_get
from catalog.models import Visibility
from catalog.serializers import DatasetSerializer, DatasetVersionSerializer
from common.apis import valid
from common.errors import Invalid

from .. import archive
from ..models import DatasetArchiveImport


class DatasetArchiveImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="a dataset version's ro-crate.zip")
    lab = serializers.UUIDField(help_text="the lab the new dataset belongs to")
    visibility = serializers.ChoiceField(
        choices=Visibility.choices, required=False, default=Visibility.LAB
    )
    with_results = serializers.BooleanField(
        required=False,
        default=True,
        help_text="false: leave the results out (a server without their model versions)",
    )


class ArchiveSourceSerializer(serializers.Serializer):
    version = serializers.CharField(help_text="the source version's id")
    number = serializers.IntegerField(allow_null=True)
    persistent_url = serializers.CharField()
    doi = serializers.CharField(allow_blank=True)
    dataset = serializers.CharField()
    lab = serializers.CharField()
    imported = serializers.DateTimeField()


class DatasetArchiveImportStateSerializer(serializers.ModelSerializer):
    lab = serializers.UUIDField(source="lab_id", read_only=True)
    dataset = DatasetSerializer(allow_null=True, read_only=True)
    version = DatasetVersionSerializer(
        allow_null=True, read_only=True, help_text="version 1: the package as imported"
    )
    done_bytes = serializers.IntegerField(help_text="of the package's files, checked so far")
    images = serializers.SerializerMethodField()
    support_sets = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()
    source = serializers.SerializerMethodField()

    class Meta:
        model = DatasetArchiveImport
        fields = [
            "id",
            "lab",
            "filename",
            "package_bytes",
            "visibility",
            "with_results",
            "status",
            "stage",
            "done_bytes",
            "total_bytes",
            "error",
            "error_code",
            "dataset",
            "version",
            "images",
            "support_sets",
            "results",
            "source",
            "created",
            "started",
            "finished",
        ]

    def get_images(self, job) -> int | None:
        return job.summary.get("images")

    def get_support_sets(self, job) -> int | None:
        return job.summary.get("support_sets")

    def get_results(self, job) -> int | None:
        return job.summary.get("results")

    @extend_schema_field(ArchiveSourceSerializer(allow_null=True))
    def get_source(self, job):
        return job.summary.get("source")


class DatasetArchiveImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="dataset_archives_create",
        request={"multipart/form-data": DatasetArchiveImportSerializer},
        responses={202: DatasetArchiveImportStateSerializer},
        description="Import a dataset version's package (its ro-crate.zip, from this or another "
        "Chiplab) as a new dataset of a lab (curators): originals bit-exact, image metadata, "
        "tags and key-value pairs, classes, frozen support sets and results, all with new ids, "
        "and version 1 naming the source version. The package is stored and a worker imports "
        "it: poll GET /api/dataset-archives/<id>/ until `status` is `succeeded` (then "
        "`dataset` and `version` are set) or `failed` (`error`, `error_code`: `not_a_zip`, "
        "`checksum_mismatch`, `missing_file`, `archive_too_large`, `model_unavailable`, …), "
        "which stores nothing. 413 here above CHIPLAB_ARCHIVE_MAX_BYTES.",
    )
    def post(self, request):
        if request.FILES.get("file") is None:
            raise Invalid(
                "Send the package as a multipart field named 'file'.",
                code="no_file",
                fields={"file": ["required"]},
            )
        data = valid(DatasetArchiveImportSerializer, request.data)
        lab = lab_get(user=request.user, lab_id=data["lab"])
        job = archive.dataset_archive_import_start(
            user=request.user,
            lab=lab,
            upload=data["file"],
            visibility=data["visibility"],
            with_results=data["with_results"],
        )
        job.refresh_from_db()  # an embedded server may have run it already (eager tasks)
        body = DatasetArchiveImportStateSerializer(job, context={"request": request}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class DatasetArchiveImportDetailApi(APIView):
    @extend_schema(
        operation_id="dataset_archives_retrieve",
        responses=DatasetArchiveImportStateSerializer,
        description="An import of a dataset package (curators of its lab): its stage, the "
        "bytes checked, then the new dataset and version, or the error.",
    )
    def get(self, request, import_id):
        job = archive.dataset_archive_import_get(user=request.user, import_id=import_id)
        return Response(DatasetArchiveImportStateSerializer(job, context={"request": request}).data)
