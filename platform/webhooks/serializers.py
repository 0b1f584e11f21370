from rest_framework import serializers

from .addresses import MAX_URL_LENGTH
from .models import Delivery, DeliveryAttempt, Event, Webhook
from .services import MAX_DESCRIPTION


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices))
    secret_prefix = serializers.CharField(
        read_only=True, help_text="The secret's first characters, to tell secrets apart."
    )

    class Meta:
        model = Webhook
        fields = [
            "id",
            "lab",
            "url",
            "events",
            "description",
            "active",
            "secret_prefix",
            "created",
            "updated",
        ]


class WebhookSecretSerializer(WebhookSerializer):
    secret = serializers.CharField(
        help_text="Shown once: the HMAC-SHA256 key that signs deliveries. Store it now."
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH, help_text="http(s) URL to POST to")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices),
        min_length=1,
        max_length=len(Event.choices),
    )
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION, required=False, allow_blank=True
    )
    active = serializers.BooleanField(required=False, default=True)


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices),
        min_length=1,
        max_length=len(Event.choices),
        required=False,
    )
    description = serializers.CharField(
        max_length=MAX_DESCRIPTION, required=False, allow_blank=True
    )
    active = serializers.BooleanField(required=False)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started", "duration_ms", "status_code", "error", "response_excerpt"]


class DeliverySerializer(serializers.ModelSerializer):
    log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "webhook",
            "event",
            "event_id",
            "status",
            "attempts",
            "next_attempt_at",
            "created",
            "finished",
            "log",
        ]
