from django.urls import path

from . import apis

urlpatterns = [
    path("labs/<uuid:lab_id>/webhooks/", apis.LabWebhookListApi.as_view(), name="lab-webhooks"),
    path("webhooks/<uuid:webhook_id>/", apis.WebhookDetailApi.as_view(), name="webhook-detail"),
    path(
        "webhooks/<uuid:webhook_id>/rotate-secret",
        apis.WebhookSecretApi.as_view(),
        name="webhook-rotate-secret",
    ),
    path("webhooks/<uuid:webhook_id>/test", apis.WebhookTestApi.as_view(), name="webhook-test"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/",
        apis.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
