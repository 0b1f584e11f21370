"""Serializers of chip grids, chip-size suggestions, carried examples and next chips."""

from rest_framework import serializers

from ..models import Grid
from .fields import MembersSeeCreator, WithClassField


class MarginsSerializer(serializers.Serializer):
    top = serializers.IntegerField()
    left = serializers.IntegerField()
    bottom = serializers.IntegerField()
    right = serializers.IntegerField()


class GridSerializer(MembersSeeCreator, serializers.ModelSerializer):
    image = serializers.UUIDField(source="image_id", read_only=True)
    created_by = serializers.UUIDField(
        source="created_by_id",
        read_only=True,
        allow_null=True,
        help_text="null when you are not a member of the dataset's lab",
    )
    margins = MarginsSerializer(read_only=True)

    class Meta:
        model = Grid
        fields = [
            "id",
            "image",
            "chip_size",
            "offset_x",
            "offset_y",
            "rows",
            "cols",
            "margins",
            "created_by",
            "created",
        ]


class GridCreateSerializer(serializers.Serializer):
    chip_size = serializers.IntegerField(
        help_text="chip edge in px: from 8 (or the image's smaller side, if smaller) to "
        "min(width, height); a grid has at most CHIPLAB_MAX_CHIPS_PER_GRID chips"
    )
    offset_x = serializers.IntegerField(default=0)
    offset_y = serializers.IntegerField(default=0)


class ChipSizeSuggestionSerializer(serializers.Serializer):
    chip_size = serializers.IntegerField(help_text="Suggested chip size in original pixels")
    method = serializers.CharField(help_text="periodicity | feature_scale | texture")
    period_px = serializers.FloatField(allow_null=True)
    peak_prominence = serializers.FloatField()
    correlation_length_px = serializers.FloatField()
    reason = serializers.CharField()
    computed_on = serializers.CharField()
    preview_scale = serializers.FloatField(help_text="original px per preview px")
    max_chip_size = serializers.IntegerField()
    grid = serializers.ListField(
        child=serializers.IntegerField(), help_text="[rows, cols] of chips at offset 0"
    )
    uncovered_fraction = serializers.FloatField(
        help_text="share of the image that grid leaves out (right and bottom margins)"
    )


class CarrySerializer(serializers.Serializer):
    from_grid = serializers.UUIDField(help_text="The grid (of the same image) to carry from")
    schema = serializers.UUIDField(required=False)


class CarriedChipSerializer(WithClassField, serializers.Serializer):
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    class_ = serializers.UUIDField()


class CarryResultSerializer(serializers.Serializer):
    from_grid = serializers.UUIDField()
    from_chip_size = serializers.IntegerField()
    from_offset = serializers.ListField(child=serializers.IntegerField(), help_text="[x, y]")
    examples = serializers.IntegerField(help_text="your labelled chips on the old grid")
    carried = serializers.IntegerField(help_text="chips labelled on this grid")
    lost = serializers.IntegerField(help_text="examples that no chip of this grid took")
    reason = serializers.ChoiceField(
        choices=["", "no_examples", "target_labelled", "too_many"],
        allow_blank=True,
        help_text="why nothing was carried ('' when votes were stored)",
    )
    chips = CarriedChipSerializer(many=True)


class NextChipsQuerySerializer(serializers.Serializer):
    schema = serializers.UUIDField(required=False)
    n = serializers.IntegerField(min_value=1, max_value=32, default=8)


class NextChipSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    score = serializers.FloatField(help_text="higher: more useful to label")
    reason = serializers.CharField()


class NextChipsSerializer(serializers.Serializer):
    grid = serializers.UUIDField()
    result = serializers.UUIDField(help_text="the result the suggestions come from")
    strategy = serializers.ChoiceField(choices=["mixed", "margin"])
    chips = NextChipSerializer(many=True)
