"""Serializers of live support sets and their frozen versions."""

from rest_framework import serializers

from ..models import ConsensusRule, SupportSetVersion
from .fields import ClassCountSerializer, MembersSeeCreator, WithClassField


class SupportQuerySerializer(serializers.Serializer):
    schema = serializers.UUIDField(required=False)
    rule = serializers.ChoiceField(
        choices=ConsensusRule.choices, default=ConsensusRule.SINGLE_OWNER
    )
    owner = serializers.UUIDField(required=False, help_text="single_owner: default you")
    min_votes = serializers.IntegerField(min_value=1, default=2)


class FreezeSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(choices=ConsensusRule.choices)
    owner = serializers.UUIDField(required=False, help_text="single_owner: default you")
    min_votes = serializers.IntegerField(min_value=1, default=2)
    grids = serializers.ListField(
        child=serializers.UUIDField(), required=False, allow_empty=False, max_length=1000
    )
    reuse = serializers.BooleanField(
        default=False,
        help_text="true: when the newest version already holds exactly this support set, "
        "return it (200) instead of freezing an identical new one",
    )


class SupportChipSerializer(WithClassField, serializers.Serializer):
    grid = serializers.UUIDField()
    image = serializers.UUIDField()
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    class_ = serializers.UUIDField()
    supporters = serializers.IntegerField(required=False)


class ContributorSerializer(serializers.Serializer):
    id = serializers.UUIDField(
        allow_null=True, help_text="null when you are not a member of the dataset's lab"
    )
    username = serializers.CharField(
        allow_null=True, help_text="null when you are not a member of the dataset's lab"
    )
    votes = serializers.IntegerField(help_text="Support chips this contributor's votes back")


class SupportStateSerializer(serializers.Serializer):
    rule = serializers.CharField()
    params = serializers.DictField()
    chips = SupportChipSerializer(many=True)
    classes = ClassCountSerializer(many=True)
    contributors = ContributorSerializer(many=True)
    agreement = serializers.DictField()
    warnings = serializers.ListField(child=serializers.CharField())


class SupportSetVersionSerializer(MembersSeeCreator, serializers.ModelSerializer):
    """A frozen, immutable support set: which chips, which class, the consensus rule, per-chip
    agreement and who contributed.

    Members of the dataset's lab see who contributed. Anyone else (a public dataset) sees the
    same version anonymised: every contributor is listed (most backed chips first) with their
    vote count but with ``id`` and ``username`` null, and ``created_by`` and the single-owner
    rule's ``params.owner`` are null.
    """

    schema = serializers.UUIDField(source="schema_id", read_only=True)
    created_by = serializers.UUIDField(
        source="created_by_id",
        read_only=True,
        allow_null=True,
        help_text="Who froze it; null when you are not a member of the dataset's lab",
    )
    params = serializers.DictField(
        read_only=True,
        help_text="The rule's parameters: {min_votes} (majority), {owner} (single_owner; "
        "null when you are not a member of the dataset's lab) or {} (curator)",
    )
    chips = SupportChipSerializer(many=True, read_only=True)
    classes = ClassCountSerializer(many=True, read_only=True)
    contributors = ContributorSerializer(many=True, read_only=True)

    class Meta:
        model = SupportSetVersion
        fields = [
            "id",
            "schema",
            "number",
            "rule",
            "params",
            "chips",
            "classes",
            "chip_size",
            "offset_x",
            "offset_y",
            "contributors",
            "agreement",
            "warnings",
            "created_by",
            "created",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)  # created_by: see MembersSeeCreator
        if not self.context.get("identities", False):
            data["contributors"] = [
                {"id": None, "username": None, "votes": c["votes"]} for c in data["contributors"]
            ]
            if "owner" in data["params"]:
                data["params"] = {**data["params"], "owner": None}
        return data
