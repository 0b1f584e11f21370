from rest_framework import serializers

from .models import (
    MAX_CLASS_ORDER,
    ClassKind,
    ConsensusRule,
    GoldChip,
    Grid,
    LabelClass,
    LabelSchema,
    SupportSetVersion,
    Vote,
)


class _WithClassField:
    # exposes a field declared as ``class_`` under its JSON name ``class`` (a Python keyword);
    # a comment, not a docstring, so that it does not become the schema components' description
    def get_fields(self):
        fields = super().get_fields()
        if "class_" in fields:
            fields["class"] = fields.pop("class_")
        return fields


# --- schemas and classes -----------------------------------------------------------
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


class _MembersSeeCreator:
    """``created_by`` only for members of the dataset's lab: the view passes
    ``context={"identities": True}`` when the reader is one (null otherwise)."""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not self.context.get("identities", False):
            data["created_by"] = None
        return data


class LabelSchemaSerializer(_MembersSeeCreator, serializers.ModelSerializer):
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


# --- grids -------------------------------------------------------------------------
class MarginsSerializer(serializers.Serializer):
    top = serializers.IntegerField()
    left = serializers.IntegerField()
    bottom = serializers.IntegerField()
    right = serializers.IntegerField()


class GridSerializer(_MembersSeeCreator, serializers.ModelSerializer):
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
    method = serializers.CharField(help_text="periodicity | feature_scale")
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


# --- votes -------------------------------------------------------------------------
class VoteInSerializer(_WithClassField, serializers.Serializer):
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


class VoteCastSerializer(_WithClassField, serializers.Serializer):
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


class SchemaQuerySerializer(serializers.Serializer):
    schema = serializers.UUIDField(
        required=False, help_text="Label schema id (default: the dataset's default schema)"
    )


# --- gold --------------------------------------------------------------------------
class GoldInSerializer(_WithClassField, serializers.Serializer):
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


# --- annotation import -------------------------------------------------------------
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


# --- support sets ------------------------------------------------------------------
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


class SupportChipSerializer(_WithClassField, serializers.Serializer):
    grid = serializers.UUIDField()
    image = serializers.UUIDField()
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    class_ = serializers.UUIDField()
    supporters = serializers.IntegerField(required=False)


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


class SupportSetVersionSerializer(_MembersSeeCreator, serializers.ModelSerializer):
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
        data = super().to_representation(instance)  # created_by: see _MembersSeeCreator
        if not self.context.get("identities", False):
            data["contributors"] = [
                {"id": None, "username": None, "votes": c["votes"]} for c in data["contributors"]
            ]
            if "owner" in data["params"]:
                data["params"] = {**data["params"], "owner": None}
        return data


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


# --- crowd tasks -------------------------------------------------------------------
class CrowdTaskQuerySerializer(serializers.Serializer):
    grid = serializers.UUIDField(required=False)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)


class BoxSerializer(serializers.Serializer):
    x = serializers.FloatField()
    y = serializers.FloatField()
    width = serializers.FloatField()
    height = serializers.FloatField()


class PanelChipSerializer(serializers.Serializer):
    image = serializers.UUIDField()
    row = serializers.IntegerField()
    col = serializers.IntegerField()
    box = BoxSerializer(help_text="Crop in original image pixels")
    fraction = BoxSerializer(help_text="Crop as fractions of the image (scale to the preview)")


class CrowdTaskSerializer(_WithClassField, serializers.Serializer):
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


class CarrySerializer(serializers.Serializer):
    from_grid = serializers.UUIDField(help_text="The grid (of the same image) to carry from")
    schema = serializers.UUIDField(required=False)


class CarriedChipSerializer(_WithClassField, serializers.Serializer):
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


# --- classes per image -------------------------------------------------------------
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


# --- curator review ----------------------------------------------------------------
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


class ReviewUserSerializer(_WithClassField, serializers.Serializer):
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


class ReviewDecisionSerializer(_WithClassField, serializers.Serializer):
    grid = serializers.UUIDField()
    row = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    col = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    action = serializers.ChoiceField(choices=["accept", "reject"])
    class_ = serializers.UUIDField(help_text="accept: the chip is this class; reject: it is not")
