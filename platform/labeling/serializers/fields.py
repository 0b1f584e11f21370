"""Shared serializer pieces: the ``class`` field name and who may see creators."""

from rest_framework import serializers


class WithClassField:
    # exposes a field declared as ``class_`` under its JSON name ``class`` (a Python keyword);
    # a comment, not a docstring, so that it does not become the schema components' description
    def get_fields(self):
        fields = super().get_fields()
        if "class_" in fields:
            fields["class"] = fields.pop("class_")
        return fields


class MembersSeeCreator:
    """``created_by`` only for members of the dataset's lab: the view passes
    ``context={"identities": True}`` when the reader is one (null otherwise)."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("identities", False):
            data["created_by"] = None
        return data


class ClassCountSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    colour = serializers.CharField()
    kind = serializers.CharField(default="region", help_text="region or objects")
    count = serializers.IntegerField(required=False)
    applies = serializers.BooleanField(
        required=False,
        help_text="The class applies to the image(s) concerned (labeling.image_classes); a "
        "class that does not and has no chips draws no guidance warning",
    )


class BoxSerializer(serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()
    width = serializers.FloatField()
    height = serializers.FloatField()
