"""Serializers of label schemas, their classes and the classes of an image."""

from rest_framework import serializers

from ..models import MAX_CLASS_ORDER, ClassKind, LabelClass, LabelSchema
from .fields import MembersSeeCreator


class LabelClassSerializer(serializers.ModelSerializer):
    schema = serializers.UUIDField(source="schema_id", read_only=True)
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = LabelClass
        fields = [
            "id",
            "schema",
            "name",
            "colour",
            "kind",
            "order",
            "active",
            "removed_at",
            "created",
        ]


class LabelSchemaSerializer(MembersSeeCreator, serializers.ModelSerializer):
    dataset = serializers.UUIDField(source="dataset_id", read_only=True)
    created_by = serializers.UUIDField(
        source="created_by_id",
        read_only=True,
        allow_null=True,
        help_text="null when you are not a member of the dataset's lab",
    )
    classes = LabelClassSerializer(many=True, read_only=True)

    class Meta:
        model = LabelSchema
        fields = ["id", "dataset", "name", "is_default", "created_by", "created", "classes"]


class SchemaCreateSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Omit for the dataset's default schema (any "
        "annotator); a name creates a new one (curators).",
    )


class ClassWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    colour = serializers.RegexField(
        r"^#[0-9a-fA-F]{6}$",
        required=False,
        help_text="#rrggbb; a free palette colour when omitted",
    )
    order = serializers.IntegerField(
        min_value=0,
        max_value=MAX_CLASS_ORDER,
        required=False,
        help_text=f"Sort position, 0 to {MAX_CLASS_ORDER}; after the others when omitted",
    )
    kind = serializers.ChoiceField(
        choices=ClassKind.choices,
        required=False,
        help_text="region (default) or objects: particles, precipitates, voids… whose results "
        "also give instances, counts and a size distribution",
    )


class ClassUpdateSerializer(ClassWriteSerializer):
    active = serializers.BooleanField(
        required=False,
        help_text="true restores a removed class with its votes (undo), false removes it",
    )


class SchemaQuerySerializer(serializers.Serializer):
    schema = serializers.UUIDField(
        required=False, help_text="Label schema id (default: the dataset's default schema)"
    )


class ImageClassesSerializer(serializers.Serializer):
    image = serializers.UUIDField()
    schema = serializers.UUIDField()
    mode = serializers.ChoiceField(
        choices=["chosen", "labels", "all"],
        help_text="chosen: ticked by the image's annotators; labels: the classes its labels "
        "use; all: every class (an image nobody has labelled)",
    )
    classes = serializers.ListField(
        child=serializers.UUIDField(), help_text="The classes that apply, in schema order"
    )


class ImageClassesSetSerializer(serializers.Serializer):
    schema = serializers.UUIDField(required=False, help_text="Default: the dataset's default")
    classes = serializers.ListField(
        child=serializers.UUIDField(),
        allow_null=True,
        max_length=500,
        help_text="The classes that apply to this image; null: back to the default",
    )
