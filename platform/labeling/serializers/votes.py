"""Serializers of votes, gold answers and annotation imports."""

from rest_framework import serializers

from ..models import GoldChip, Vote
from .fields import WithClassField


class VoteInSerializer(WithClassField, serializers.Serializer):
    row = serializers.IntegerField(min_value=0)
    col = serializers.IntegerField(min_value=0)
    class_ = serializers.UUIDField(
        allow_null=True, help_text="The class, or null to retract the chip's label"
    )
    client_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Optional idempotency key, unique per user",
    )


class VoteCastSerializer(WithClassField, serializers.Serializer):
    """One vote (row, col, class) or a batch ``{"votes": [...]}``."""

    schema = serializers.UUIDField(required=False, help_text="Needed for retractions")
    row = serializers.IntegerField(min_value=0, required=False)
    col = serializers.IntegerField(min_value=0, required=False)
    class_ = serializers.UUIDField(allow_null=True, required=False)
    client_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    votes = VoteInSerializer(many=True, required=False, max_length=1000)

    def validate(self, attrs):
        if "votes" in attrs:
            if {"row", "col", "class"} & set(attrs):
                raise serializers.ValidationError("Send either one vote or a 'votes' list.")
            return attrs
        missing = [k for k in ("row", "col", "class") if k not in attrs]
        if missing:
            raise serializers.ValidationError({k: ["This field is required."] for k in missing})
        return attrs


class VoteSerializer(serializers.ModelSerializer):
    user = serializers.UUIDField(source="user_id", read_only=True)
    grid = serializers.UUIDField(source="grid_id", read_only=True)
    schema = serializers.UUIDField(source="schema_id", read_only=True)

    class Meta:
        model = Vote
        fields = [
            "id",
            "user",
            "grid",
            "schema",
            "row",
            "col",
            "negative",
            "source",
            "client_id",
            "created",
        ]

    def get_fields(self):
        fields = super().get_fields()
        fields["class"] = serializers.UUIDField(
            source="label_class_id", read_only=True, allow_null=True
        )
        return fields


class VoteBatchResultSerializer(serializers.Serializer):
    votes = VoteSerializer(many=True)


class VotesQuerySerializer(serializers.Serializer):
    user = serializers.ChoiceField(choices=["me", "all"], default="me")
    schema = serializers.UUIDField(required=False)


class GoldInSerializer(WithClassField, serializers.Serializer):
    row = serializers.IntegerField(min_value=0)
    col = serializers.IntegerField(min_value=0)
    class_ = serializers.UUIDField(allow_null=True, help_text="null clears the gold answer")


class GoldSetSerializer(serializers.Serializer):
    schema = serializers.UUIDField(required=False)
    chips = GoldInSerializer(many=True, min_length=1, max_length=1000)


class GoldChipSerializer(serializers.ModelSerializer):
    grid = serializers.UUIDField(source="grid_id", read_only=True)
    schema = serializers.UUIDField(source="schema_id", read_only=True)
    set_by = serializers.UUIDField(source="set_by_id", read_only=True)

    class Meta:
        model = GoldChip
        fields = ["grid", "schema", "row", "col", "set_by", "modified"]

    def get_fields(self):
        fields = super().get_fields()
        fields["class"] = serializers.UUIDField(source="label_class_id", read_only=True)
        return fields


class AnnotationImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="A label mask (PNG or TIFF of the image's size: one integer per class, or "
        "RGB with a colour table) or a CSV of chips (row,col,class; header optional)."
    )
    classes = serializers.JSONField(
        required=False,
        binary=True,
        help_text="JSON: mask value or colour -> class name or id, null for background: "
        '{"1": "STO", "2": "Ge", "0": null} or {"#ff0000": "STO"}. Required for masks; for a '
        "CSV it maps its class cells (default: they are class names or ids).",
    )
    schema = serializers.UUIDField(required=False, help_text="Default: the dataset's default")
    target = serializers.ChoiceField(
        choices=["votes", "gold"],
        default="votes",
        help_text="votes: your votes (annotators and up); gold: reference answers (curators).",
    )
    threshold = serializers.FloatField(
        default=0.75,
        min_value=0.5,
        max_value=1.0,
        help_text="A mask's chip gets the class covering at least this share of it; "
        "other chips are skipped.",
    )


class ImportedClassSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    chips = serializers.IntegerField()


class AnnotationImportResultSerializer(serializers.Serializer):
    import_ = serializers.CharField(help_text="Id of the import (votes' client_id import:<id>:…)")
    grid = serializers.UUIDField()
    schema = serializers.UUIDField()
    target = serializers.ChoiceField(choices=["votes", "gold"])
    format = serializers.ChoiceField(choices=["mask", "csv"])
    threshold = serializers.FloatField(allow_null=True)
    chips = serializers.IntegerField(help_text="Chips of the grid")
    labelled = serializers.IntegerField()
    skipped = serializers.IntegerField()
    skipped_reasons = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="mask: mixed | unlabelled; csv: not_listed | unlabelled",
    )
    classes = ImportedClassSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["import"] = fields.pop("import_")
        return fields
