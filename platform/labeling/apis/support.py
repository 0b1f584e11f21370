"""Frozen support-set versions."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import valid

from .. import selectors, services
from ..serializers.support import FreezeSerializer, SupportSetVersionSerializer
from .shared import TAG, identities


class SchemaVersionListApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]  # frozen versions are published

    @extend_schema(
        tags=TAG,
        responses=SupportSetVersionSerializer(many=True),
        description="The frozen versions, oldest first; anonymised for readers outside the "
        "dataset's lab (see SupportSetVersion).",
    )
    def get(self, request, schema_id):
        versions = list(selectors.versions_of_schema(user=request.user, schema_id=schema_id))
        context = identities(request, versions[0].schema.dataset if versions else None)
        return Response(SupportSetVersionSerializer(versions, many=True, context=context).data)

    @extend_schema(
        tags=TAG,
        request=FreezeSerializer,
        responses={201: SupportSetVersionSerializer, 200: SupportSetVersionSerializer},
        description="Freeze the current support set into the next immutable version (201); "
        "with `reuse: true` an unchanged support set returns its newest version (200).",
    )
    def post(self, request, schema_id):
        data = valid(FreezeSerializer, request.data)
        schema = selectors.schema_get(user=request.user, schema_id=schema_id)
        grids = (
            selectors.grids_get_many(user=request.user, grid_ids=data["grids"])
            if "grids" in data
            else None
        )
        version = services.support_set_freeze(
            user=request.user,
            schema=schema,
            rule=data["rule"],
            owner=data.get("owner"),
            min_votes=data["min_votes"],
            grids=grids,
            reuse=data["reuse"],
        )
        created = not getattr(version, "reused", False)
        return Response(
            SupportSetVersionSerializer(version, context={"identities": True}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SupportSetDetailApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        tags=TAG,
        responses=SupportSetVersionSerializer,
        description="One frozen version; anonymised for readers outside the dataset's lab "
        "(see SupportSetVersion).",
    )
    def get(self, request, version_id):
        version = selectors.support_set_get(user=request.user, version_id=version_id)
        context = identities(request, version.schema.dataset)
        return Response(SupportSetVersionSerializer(version, context=context).data)
