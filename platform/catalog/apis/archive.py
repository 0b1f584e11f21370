"""API of dataset packages: import a version's RO-Crate zip as a new dataset (``archive``)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import lab_get
from common.apis import valid
from common.errors import Invalid

from .. import archive
from ..models import Visibility
from ..serializers import DatasetSerializer, DatasetVersionSerializer


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


class DatasetArchiveImportResultSerializer(serializers.Serializer):
    dataset = DatasetSerializer()
    version = DatasetVersionSerializer(help_text="version 1: the package as imported")
    images = serializers.IntegerField()
    support_sets = serializers.IntegerField()
    results = serializers.IntegerField()
    source = ArchiveSourceSerializer()


class DatasetArchiveImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="dataset_archives_create",
        request={"multipart/form-data": DatasetArchiveImportSerializer},
        responses={201: DatasetArchiveImportResultSerializer},
        description="Import a dataset version's package (its ro-crate.zip, from this or another "
        "Chiplab) as a new dataset of a lab (curators): originals bit-exact, image metadata, "
        "classes, frozen support sets and results, all with new ids, and version 1 naming the "
        "source version. Every file is checked against its sha256 first; a bad package is a "
        "400 (`not_a_zip`, `checksum_mismatch`, `missing_file`, …) or a 413 "
        "(CHIPLAB_ARCHIVE_MAX_BYTES, CHIPLAB_ARCHIVE_MAX_UNPACKED_BYTES) and stores nothing. "
        "409 `model_unavailable` when this server lacks a result's model version.",
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
        done = archive.dataset_archive_import(
            user=request.user,
            lab=lab,
            upload=data["file"],
            visibility=data["visibility"],
            with_results=data["with_results"],
        )
        context = {"request": request}
        body = {
            "dataset": DatasetSerializer(done.dataset, context=context).data,
            "version": DatasetVersionSerializer(done.version, context=context).data,
            "images": done.images,
            "support_sets": done.support_sets,
            "results": done.results,
            "source": done.source,
        }
        return Response(body, status=status.HTTP_201_CREATED)
