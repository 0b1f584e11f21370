"""Serializers of the registry API."""

from django.conf import settings
from rest_framework import serializers

from .models import AliasEvent, ModelVersion, TrainingJob
from .services.imports import IMPORT_ARCHS


class ModelVersionSerializer(serializers.ModelSerializer):
    lab_slug = serializers.SlugRelatedField(
        source="lab", slug_field="slug", read_only=True, allow_null=True
    )
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    # plain strings: enum components named "visibility"/"source" already exist in the schema
    visibility = serializers.CharField(read_only=True, help_text="lab | public")
    source = serializers.CharField(read_only=True, help_text="builtin | trained | imported")

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "version",
            "encoder_kind",
            "source",
            "lab",
            "lab_slug",
            "visibility",
            "dim",
            "aliases",
            "metrics",
            "weights_sha256",
            "mlflow_run_id",
            "card",  # small: summary, intended use, limitations, licences
            "created_by",
            "created",
        ]
        read_only_fields = fields


class ModelVersionDetailSerializer(ModelVersionSerializer):
    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "config", "lineage"]
        read_only_fields = fields


class AliasEventSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(
        source="version.version", read_only=True, allow_null=True, default=None
    )
    previous = serializers.IntegerField(
        source="previous.version", read_only=True, allow_null=True, default=None
    )
    previous_name = serializers.CharField(
        source="previous.name", read_only=True, allow_null=True, default=None
    )
    user = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = AliasEvent
        fields = [
            "id",
            "name",
            "alias",
            "action",
            "version",
            "previous",
            "previous_name",
            "note",
            "user",
            "created",
        ]
        read_only_fields = fields


class ModelSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    lab = serializers.UUIDField(allow_null=True)
    lab_slug = serializers.CharField(allow_null=True)
    encoder_kind = serializers.CharField()
    visibility = serializers.CharField()
    aliases = serializers.DictField(child=serializers.IntegerField())
    latest_version = serializers.IntegerField()
    versions = serializers.IntegerField()


class ModelDetailSerializer(ModelSummarySerializer):
    version_list = ModelVersionSerializer(many=True)
    alias_history = AliasEventSerializer(many=True)


class PromoteSerializer(serializers.Serializer):
    alias = serializers.ChoiceField(choices=["champion", "challenger"], default="champion")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class RollbackSerializer(serializers.Serializer):
    alias = serializers.ChoiceField(choices=["champion", "challenger"], default="champion")
    version = serializers.IntegerField(required=False, min_value=1, allow_null=True, default=None)


class RollbackResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    alias = serializers.CharField()
    version = ModelVersionSerializer(allow_null=True)


class ImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    arch = serializers.ChoiceField(choices=list(IMPORT_ARCHS))
    name = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_-]{0,79}$", required=False, allow_blank=True, default=""
    )
    input_size = serializers.IntegerField(min_value=16, max_value=256, default=64)
    layer = serializers.ChoiceField(
        choices=["layer1", "layer2", "layer3", "layer4"], default="layer4"
    )
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=4000, default=""
    )


class TrainingParamsSerializer(serializers.Serializer):
    epochs = serializers.IntegerField(min_value=1, default=10)
    episodes_per_epoch = serializers.IntegerField(min_value=1, max_value=1000, default=16)
    lr = serializers.FloatField(min_value=1e-7, max_value=0.1, default=3e-4)
    weight_decay = serializers.FloatField(min_value=0, max_value=1, default=1e-4)
    k_shot = serializers.IntegerField(min_value=1, max_value=50, default=3)
    n_query = serializers.IntegerField(min_value=1, max_value=200, default=12)
    holdout_fraction = serializers.FloatField(
        min_value=0.1,
        max_value=0.5,
        default=0.25,
        help_text="Share of images (>= 3 per support-set version) or of each class's chips held "
        "out to select the epoch. Per class at least 2 chips are held out and 2 kept for "
        "training, so small sets hold out more than asked (4 chips split 2/2); the job's "
        "metrics report the share actually held out.",
    )
    holdout_episodes = serializers.IntegerField(min_value=1, max_value=500, default=16)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    def validate_epochs(self, value):
        if value > settings.CHIPLAB_TRAIN_MAX_EPOCHS:
            raise serializers.ValidationError(f"at most {settings.CHIPLAB_TRAIN_MAX_EPOCHS} epochs")
        return value


class TrainingJobCreateSerializer(serializers.Serializer):
    support_set_versions = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=200
    )
    base_version = serializers.UUIDField(required=False, allow_null=True, default=None)
    include_public = serializers.BooleanField(default=False)
    name = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_-]{0,79}$", required=False, allow_blank=True, default=""
    )
    params = TrainingParamsSerializer(required=False)


class TrainingJobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    base_version = ModelVersionSerializer(read_only=True)
    result_version = ModelVersionSerializer(read_only=True, allow_null=True)

    class Meta:
        model = TrainingJob
        fields = [
            "id",
            "lab",
            "created_by",
            "model_name",
            "base_version",
            "support_set_versions",
            "include_public",
            "params",
            "status",
            "progress",
            "metrics",
            "history",
            "lineage",
            "error",
            "result_version",
            "mlflow_run_id",
            "timings",
            "created",
            "started",
            "finished",
        ]
        read_only_fields = fields
