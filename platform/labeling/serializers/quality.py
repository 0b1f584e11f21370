"""Serializers of crowd quality: agreement, crowd micro-tasks and curator review."""

from rest_framework import serializers

from .fields import BoxSerializer, ClassCountSerializer, WithClassField


class AgreementQuerySerializer(serializers.Serializer):
    grid = serializers.UUIDField(
        required=False, help_text="Only this grid (of the schema's dataset); default: all"
    )


class AnnotatorAgreementSerializer(serializers.Serializer):
    user = serializers.UUIDField()
    username = serializers.CharField()
    consensus_chips = serializers.IntegerField()
    consensus_agree = serializers.IntegerField()
    agreement_with_consensus = serializers.FloatField(allow_null=True)
    gold_chips = serializers.IntegerField()
    gold_agree = serializers.IntegerField()
    agreement_with_gold = serializers.FloatField(allow_null=True)


class ChipAgreementSerializer(serializers.Serializer):
    grid = serializers.UUIDField()
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    consensus = serializers.UUIDField(
        allow_null=True, help_text="The unique most-labelled class; null on a tie"
    )
    tied = serializers.BooleanField(help_text="Several classes share the most labels")
    agree = serializers.IntegerField()
    voters = serializers.IntegerField()
    agreement = serializers.FloatField(
        help_text="Share of the voters agreeing with the consensus (on a tie: with the "
        "tied class that agrees best, so at most 0.5)"
    )


class GoldScoringSerializer(serializers.Serializer):
    answers = serializers.CharField(help_text="Which answers count: the first per gold chip")
    shown = serializers.CharField(
        help_text="'everyone' for curators and owners; 'own, per batch' below curator"
    )
    batch = serializers.IntegerField(
        help_text="Your gold accuracy covers a multiple of this many gold answers (none before)"
    )


class AgreementSerializer(serializers.Serializer):
    schema = serializers.UUIDField()
    per_chip = ChipAgreementSerializer(many=True)
    overall = serializers.FloatField(
        allow_null=True,
        help_text="Mean per-chip agreement (chips with >= 2 voters, tied chips included)",
    )
    annotators = AnnotatorAgreementSerializer(many=True)
    gold_chips = serializers.IntegerField()
    gold_scoring = GoldScoringSerializer()


class CrowdTaskQuerySerializer(serializers.Serializer):
    grid = serializers.UUIDField(required=False)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)


class PanelChipSerializer(serializers.Serializer):
    image = serializers.UUIDField()
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    box = BoxSerializer(help_text="Crop in original image pixels")
    fraction = BoxSerializer(help_text="Crop as fractions of the image (scale to the preview)")


class CrowdTaskSerializer(WithClassField, serializers.Serializer):
    task = serializers.CharField(help_text="Signed token; send it back with the answer")
    id = serializers.CharField()
    schema = serializers.UUIDField()
    grid = serializers.UUIDField()
    image = serializers.UUIDField()
    seed = serializers.IntegerField()
    class_ = ClassCountSerializer()
    question = serializers.CharField()
    chips = PanelChipSerializer(many=True)
    signals = serializers.DictField(child=serializers.BooleanField())
    answered = serializers.IntegerField(help_text="Tasks you have answered in this schema")


class CrowdAnswerSerializer(serializers.Serializer):
    task = serializers.CharField(max_length=4000)
    selected = serializers.ListField(
        child=serializers.ListField(
            child=serializers.IntegerField(min_value=0), min_length=2, max_length=2
        ),
        allow_empty=True,
        max_length=9,
        help_text="[[row, col], …] of the chips that show it",
    )


class CrowdAnswerResultSerializer(serializers.Serializer):
    votes = serializers.IntegerField()
    selected = serializers.IntegerField()
    not_selected = serializers.IntegerField()
    answered = serializers.IntegerField(help_text="Tasks you have answered in this schema")


class ReviewQuerySerializer(serializers.Serializer):
    grid = serializers.UUIDField(required=False, help_text="Only this grid; default: all")
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=200)
    below = serializers.FloatField(
        required=False,
        default=1.0,
        min_value=0.01,
        max_value=1.0,
        help_text="Chips whose agreement is below this (default 1: any disagreement)",
    )


class ReviewUserSerializer(WithClassField, serializers.Serializer):
    user = serializers.UUIDField()
    username = serializers.CharField()
    class_ = serializers.UUIDField(allow_null=True)
    not_ = serializers.ListField(child=serializers.UUIDField())

    def get_fields(self):
        fields = super().get_fields()
        fields["not"] = fields.pop("not_")
        return fields


class ReviewChipSerializer(serializers.Serializer):
    grid = serializers.UUIDField()
    image = serializers.UUIDField()
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    box = BoxSerializer()
    fraction = BoxSerializer()
    leaders = serializers.ListField(
        child=serializers.UUIDField(), help_text="The most-labelled class(es); several on a tie"
    )
    tied = serializers.BooleanField()
    agreement = serializers.FloatField()
    voices = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    not_counts = serializers.DictField(child=serializers.IntegerField())
    gold = serializers.UUIDField(allow_null=True)
    users = ReviewUserSerializer(many=True)


class ReviewQueueSerializer(serializers.Serializer):
    schema = serializers.UUIDField()
    contested = serializers.IntegerField(help_text="Contested chips in all (chips: the first)")
    chips = ReviewChipSerializer(many=True)


class ReviewDecisionSerializer(WithClassField, serializers.Serializer):
    grid = serializers.UUIDField()
    row = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    col = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    action = serializers.ChoiceField(choices=["accept", "reject"])
    class_ = serializers.UUIDField(help_text="accept: the chip is this class; reject: it is not")
