"""What the labeling API modules share: the OpenAPI tag, the schema parameter, who sees creators."""

from drf_spectacular.utils import OpenApiParameter

from .. import selectors

TAG = ["labeling"]


def schema_param(required=False):
    return OpenApiParameter(
        "schema",
        str,
        required=required,
        description="Label schema id (default: the dataset's default schema)",
    )


def identities(request, dataset) -> dict:
    """Serializer context: may the reader see who created things (a member of the lab)?"""
    shown = dataset is not None and selectors.identities_visible(
        user=request.user, lab_id=dataset.lab_id
    )
    return {"identities": shown}
