"""Webhooks API: a lab's hooks (curators), their secret, delivery log and a test delivery."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import LimitOffsetPagination, paginated, valid

from . import selectors, services
from .serializers import (
    DeliverySerializer,
    WebhookCreateSerializer,
    WebhookSecretSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)

TAG = ["webhooks"]


def _with_secret(hook, secret: str) -> dict:
    return WebhookSerializer(hook).data | {"secret": secret}


class LabWebhookListApi(APIView):
    @extend_schema(tags=TAG, responses=WebhookSerializer(many=True))
    def get(self, request, lab_id):
        hooks = selectors.webhooks_of_lab(user=request.user, lab_id=lab_id)
        return Response(WebhookSerializer(hooks, many=True).data)

    @extend_schema(
        tags=TAG, request=WebhookCreateSerializer, responses={201: WebhookSecretSerializer}
    )
    def post(self, request, lab_id):
        data = valid(WebhookCreateSerializer, request.data)
        hook, secret = services.webhook_create(user=request.user, lab_id=lab_id, **data)
        return Response(_with_secret(hook, secret), status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    @extend_schema(tags=TAG, responses=WebhookSerializer)
    def get(self, request, webhook_id):
        hook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
        return Response(WebhookSerializer(hook).data)

    @extend_schema(tags=TAG, request=WebhookUpdateSerializer, responses=WebhookSerializer)
    def patch(self, request, webhook_id):
        hook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
        data = valid(WebhookUpdateSerializer, request.data)
        hook = services.webhook_update(user=request.user, webhook=hook, **data)
        return Response(WebhookSerializer(hook).data)

    @extend_schema(tags=TAG, responses={204: None})
    def delete(self, request, webhook_id):
        hook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
        services.webhook_delete(user=request.user, webhook=hook)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSecretApi(APIView):
    @extend_schema(tags=TAG, request=None, responses=WebhookSecretSerializer)
    def post(self, request, webhook_id):
        """Replace the secret; the new one is in this answer only."""
        hook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
        hook, secret = services.webhook_secret_rotate(user=request.user, webhook=hook)
        return Response(_with_secret(hook, secret))


class WebhookTestApi(APIView):
    @extend_schema(tags=TAG, request=None, responses={202: DeliverySerializer})
    def post(self, request, webhook_id):
        """Queue a ``ping`` delivery; follow it in the delivery log."""
        hook = selectors.webhook_get(user=request.user, webhook_id=webhook_id)
        delivery = services.webhook_test_send(user=request.user, webhook=hook)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(APIView):
    pagination_class = LimitOffsetPagination

    @extend_schema(tags=TAG, responses=DeliverySerializer(many=True))
    def get(self, request, webhook_id):
        """The delivery log, newest first: each delivery with every attempt."""
        deliveries = selectors.deliveries_of(user=request.user, webhook_id=webhook_id)
        return paginated(request, self, deliveries, DeliverySerializer)
