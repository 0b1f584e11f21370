"""Registry API: models and versions (cards, lineage, download), import, promotion, training."""

import json
import tempfile
import zipfile

from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Role
from accounts.selectors import lab_get, require_role
from common.apis import LimitOffsetPagination, paginated, valid
from common.errors import Invalid

from . import selectors, services
from .serializers import (
    ImportSerializer,
    ModelDetailSerializer,
    ModelSummarySerializer,
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    PromoteSerializer,
    RollbackResultSerializer,
    RollbackSerializer,
    TrainingJobCreateSerializer,
    TrainingJobSerializer,
)

_LAB_FILTER = OpenApiParameter("lab", str, description="only models of this lab (uuid)")


class ModelListApi(APIView):
    @extend_schema(parameters=[_LAB_FILTER], responses=ModelSummarySerializer(many=True))
    def get(self, request):
        lab_id = request.query_params.get("lab") or None  # empty: no filter, as elsewhere
        if lab_id:
            lab_id = lab_get(user=request.user, lab_id=lab_id).pk
        models = selectors.models_visible_to(user=request.user, lab_id=lab_id)
        return Response(ModelSummarySerializer(models, many=True).data)


class ModelDetailApi(APIView):
    @extend_schema(responses=ModelDetailSerializer)
    def get(self, request, name):
        return Response(
            ModelDetailSerializer(selectors.model_detail(user=request.user, name=name)).data
        )


class ModelRollbackApi(APIView):
    @extend_schema(request=RollbackSerializer, responses=RollbackResultSerializer)
    def post(self, request, name):
        data = valid(RollbackSerializer, request.data)
        selectors.model_get(user=request.user, name=name)  # 404 unless visible
        version = services.model_rollback(
            user=request.user, name=name, alias=data["alias"], to_version=data["version"]
        )
        return Response(
            RollbackResultSerializer(
                {"name": name, "alias": data["alias"], "version": version}
            ).data
        )


class ModelVersionListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    @extend_schema(
        parameters=[_LAB_FILTER, OpenApiParameter("name", str, description="registered name")],
        responses=ModelVersionSerializer(many=True),
    )
    def get(self, request):
        qs = selectors.model_versions_visible_to(user=request.user).order_by("name", "-version")
        if lab_id := request.query_params.get("lab"):
            qs = qs.filter(lab_id=lab_get(user=request.user, lab_id=lab_id).pk)
        if name := request.query_params.get("name"):
            qs = qs.filter(name=name)
        return paginated(request, self, qs, ModelVersionSerializer)


class ModelVersionDetailApi(APIView):
    @extend_schema(responses=ModelVersionDetailSerializer)
    def get(self, request, version_id):
        version = selectors.model_version_get(user=request.user, version_id=version_id)
        return Response(ModelVersionDetailSerializer(version).data)


class ModelVersionPromoteApi(APIView):
    @extend_schema(request=PromoteSerializer, responses=ModelVersionDetailSerializer)
    def post(self, request, version_id):
        data = valid(PromoteSerializer, request.data)
        version = selectors.model_version_get(user=request.user, version_id=version_id)
        version = services.model_version_promote(
            user=request.user, version=version, alias=data["alias"], note=data["note"]
        )
        return Response(ModelVersionDetailSerializer(version).data)


class ModelVersionDownloadApi(APIView):
    @extend_schema(
        responses={
            200: OpenApiResponse(
                description="zip: encoder/config.json, encoder/weights.pt, card.json, lineage.json"
            )
        }
    )
    def get(self, request, version_id):
        version = selectors.model_version_get(user=request.user, version_id=version_id)
        folder = services.artifact_dir(version)
        # spills to disk past 16 MiB (a fine-tuned ResNet-50 is ~100 MB); closed by FileResponse
        buffer = tempfile.SpooledTemporaryFile(max_size=16 * 2**20)  # noqa: SIM115
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
            for path in sorted(folder.iterdir()):
                if path.is_file():
                    zf.write(path, f"encoder/{path.name}")
            zf.writestr("card.json", json.dumps(version.card, indent=2))
            zf.writestr("lineage.json", json.dumps(version.lineage, indent=2))
            zf.writestr(
                "version.json",
                json.dumps(ModelVersionSerializer(version).data, indent=2, default=str),
            )
        buffer.seek(0)
        return FileResponse(
            buffer,
            as_attachment=True,
            content_type="application/zip",
            filename=f"{version.name}-v{version.version}.zip",
        )


class LabChampionApi(APIView):
    @extend_schema(responses=ModelVersionDetailSerializer)
    def get(self, request, lab_id):
        lab = lab_get(user=request.user, lab_id=lab_id)
        version = selectors.model_version_resolve(user=request.user, lab=lab)
        return Response(ModelVersionDetailSerializer(version).data)


class ModelImportApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportSerializer},
        responses={201: ModelVersionDetailSerializer},
    )
    def post(self, request, lab_id):
        lab = lab_get(user=request.user, lab_id=lab_id)
        require_role(user=request.user, lab_id=lab.pk, role=Role.CURATOR)
        if "file" not in request.FILES:
            raise Invalid(
                "Send the state dict as a multipart field named 'file'.",
                code="no_file",
                fields={"file": ["required"]},
            )
        data = valid(ImportSerializer, request.data)
        version = services.model_version_import(
            user=request.user,
            lab=lab,
            upload=data["file"],
            arch=data["arch"],
            name=data["name"],
            input_size=data["input_size"],
            layer=data["layer"],
            description=data["description"],
        )
        return Response(ModelVersionDetailSerializer(version).data, status=status.HTTP_201_CREATED)


class TrainingJobListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    @extend_schema(responses=TrainingJobSerializer(many=True))
    def get(self, request, lab_id):
        lab = lab_get(user=request.user, lab_id=lab_id)
        jobs = selectors.training_jobs_of(user=request.user, lab_id=lab.pk)
        return paginated(request, self, jobs, TrainingJobSerializer)

    @extend_schema(request=TrainingJobCreateSerializer, responses={201: TrainingJobSerializer})
    def post(self, request, lab_id):
        lab = lab_get(user=request.user, lab_id=lab_id)
        data = valid(TrainingJobCreateSerializer, request.data)
        job = services.training_job_create(
            user=request.user,
            lab=lab,
            support_set_version_ids=data["support_set_versions"],
            base_version_id=data["base_version"],
            include_public=data["include_public"],
            name=data["name"],
            params=data.get("params") or {},
        )
        return Response(TrainingJobSerializer(job).data, status=status.HTTP_201_CREATED)


class TrainingJobDetailApi(APIView):
    @extend_schema(responses=TrainingJobSerializer)
    def get(self, request, job_id):
        job = selectors.training_job_get(user=request.user, job_id=job_id)
        return Response(TrainingJobSerializer(job).data)


class TrainingJobCancelApi(APIView):
    @extend_schema(request=None, responses=TrainingJobSerializer)
    def post(self, request, job_id):
        job = selectors.training_job_get(user=request.user, job_id=job_id)
        job = services.training_job_cancel(user=request.user, job=job)
        return Response(TrainingJobSerializer(job).data)
