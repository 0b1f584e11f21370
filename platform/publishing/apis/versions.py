"""Dataset versions: snapshots, JSON-LD, RO-Crate, DataCite metadata, DOIs and citations."""

import json

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import selectors
from catalog.serializers import DatasetVersionCreateSerializer, DatasetVersionSerializer
from common.apis import LimitOffsetPagination, paginated, valid
from common.errors import NotFound

from .. import citation, datacite, doi, rocrate, rocrate_zip, versions
from ..fair import dataset_jsonld, version_jsonld


class DatasetJsonLdApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiResponse(description="schema.org Dataset JSON-LD")})
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        return Response(dataset_jsonld(dataset, request), content_type="application/ld+json")


class DatasetVersionListApi(APIView):
    pagination_class = LimitOffsetPagination  # GET pages via common.apis.paginated

    permission_classes = [AllowAny]

    @extend_schema(responses=DatasetVersionSerializer(many=True))
    def get(self, request, dataset_id):
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        found = selectors.dataset_versions_visible_to(user=request.user).filter(dataset=dataset)
        return paginated(request, self, found, DatasetVersionSerializer)

    @extend_schema(
        request=DatasetVersionCreateSerializer,
        responses={201: DatasetVersionSerializer},
        description="Publish the next version (curators): the dataset's metadata, licence and "
        "ready images as they are now, with the chosen frozen support sets and results. A "
        "version never changes; a correction is a new version.",
    )
    def post(self, request, dataset_id):
        if not request.user.is_authenticated:
            raise NotFound("Dataset not found.")
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
        data = valid(DatasetVersionCreateSerializer, request.data)
        version = versions.dataset_version_create(user=request.user, dataset=dataset, **data)
        return Response(
            DatasetVersionSerializer(version, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class DatasetVersionLatestApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=DatasetVersionSerializer, description="The latest version.")
    def get(self, request, dataset_id):
        version = selectors.dataset_version_latest(user=request.user, dataset_id=dataset_id)
        return Response(DatasetVersionSerializer(version, context={"request": request}).data)


class DatasetVersionDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=DatasetVersionSerializer)
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(DatasetVersionSerializer(version, context={"request": request}).data)


class DatasetVersionJsonLdApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiResponse(description="schema.org Dataset JSON-LD")})
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(version_jsonld(version, request), content_type="application/ld+json")


class DatasetVersionCrateMetadataApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="dataset_versions_crate_metadata_retrieve",
        responses={200: OpenApiResponse(description="The crate's ro-crate-metadata.json")},
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(rocrate.metadata(version, request), content_type="application/ld+json")


class DatasetVersionCrateApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="dataset_versions_crate_retrieve",
        responses={200: OpenApiResponse(description="The RO-Crate 1.2 package (zip, streamed)")},
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        response = StreamingHttpResponse(
            rocrate_zip.zip_stream(version, request), content_type="application/zip"
        )
        stem = "".join(c if c.isalnum() else "-" for c in version.title)[:60].strip("-")
        name = f"{stem or 'dataset'}-v{version.number}.crate.zip"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Content-Size-Hint"] = str(rocrate_zip.zip_size_hint(version))
        return response


class BibTeXRenderer(BaseRenderer):
    media_type = "application/x-bibtex"
    format = "bib"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        # errors reach here as the API's error body when a client asked for BibTeX only
        return data if isinstance(data, str) else json.dumps(data)


class DatasetVersionDataCiteApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="dataset_versions_datacite_retrieve",
        responses={
            200: OpenApiResponse(
                description="DataCite metadata (the REST API's JSON attributes, kernel-4)"
            )
        },
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(datacite.version_datacite(version, request))


class DatasetVersionDoiApi(APIView):
    @extend_schema(
        operation_id="dataset_versions_doi_create",
        request=None,
        responses={200: DatasetVersionSerializer},
        description="Register the version's DOI with DataCite and make it findable "
        "(curators; versions of public datasets). 409 `doi_not_configured` when the server "
        "has no DataCite account, 409 `has_doi` when it has one, 502 when DataCite refuses "
        "(a retry registers the same DOI).",
    )
    def post(self, request, version_id):
        if not request.user.is_authenticated:
            raise NotFound("Dataset version not found.")
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        version = doi.dataset_version_doi_mint(user=request.user, version=version, request=request)
        return Response(DatasetVersionSerializer(version, context={"request": request}).data)


class DatasetVersionCitationCslApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="dataset_versions_citation_csl_retrieve",
        responses={200: OpenApiResponse(description="CSL-JSON (a list of one item)")},
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return Response(
            [citation.version_csl(version, request)],
            content_type="application/vnd.citationstyles.csl+json",
        )


class DatasetVersionCitationBibTeXApi(APIView):
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, BibTeXRenderer]

    @extend_schema(
        operation_id="dataset_versions_citation_bibtex_retrieve",
        responses={(200, "application/x-bibtex"): OpenApiTypes.STR},
    )
    def get(self, request, version_id):
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
        return HttpResponse(
            citation.version_bibtex(version, request),
            content_type="application/x-bibtex; charset=utf-8",
        )
