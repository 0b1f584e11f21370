"""Label schemas and classes, chip grids, append-only votes, gold chips and immutable
support-set versions. Crowd tasks are stateless (signed tokens, see ``labeling.crowd``).

A vote belongs to a (grid, schema): the same grid can be labelled under several schemas
without one overriding the other. The *current* state of a chip for a user is derived from
that user's votes in id order (see ``labeling.consensus``); rows are never updated or deleted.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Dataset, Image
from workers.fewshot.chipping import ChipGrid


class LabelSchema(models.Model):
    """A named set of classes for a dataset; the dataset's first one is its default."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="schemas")
    name = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="unique_schema_name"),
            models.UniqueConstraint(
                fields=["dataset"], condition=Q(is_default=True), name="one_default_schema"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def lab_id(self):
        return self.dataset.lab_id


# the largest order every database takes in a PositiveIntegerField (Postgres: a 32-bit integer)
MAX_CLASS_ORDER = 2**31 - 1
# active classes per schema: result masks hold class indices in bytes (255: not covered), and a
# few-shot map of more classes than this is not one a user can label examples for
MAX_SCHEMA_CLASSES = 64


class ClassKind(models.TextChoices):
    """What a class is: an area (a phase, the support, vacuum) or countable objects (particles,
    precipitates, voids), whose results also give instances and a size distribution."""

    REGION = "region", "region"
    OBJECTS = "objects", "objects"


class LabelClass(models.Model):
    """A class of a schema (STO, Ge, vacuum…). Removal is soft: votes keep pointing at it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="classes")
    name = models.CharField(max_length=100)
    colour = models.CharField(max_length=7, help_text="#rrggbb")
    kind = models.CharField(max_length=10, choices=ClassKind.choices, default=ClassKind.REGION)
    order = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "created"]
        constraints = [
            models.UniqueConstraint(
                fields=["schema", "name"],
                condition=Q(removed_at=None),
                name="unique_active_class_name",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.removed_at is None


class Grid(models.Model):
    """A chip grid over an image: (chip size, offset) → rows x cols; edges are cropped."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="grids")
    chip_size = models.PositiveIntegerField()
    offset_x = models.PositiveIntegerField(default=0)
    offset_y = models.PositiveIntegerField(default=0)
    rows = models.PositiveIntegerField()
    cols = models.PositiveIntegerField()
    margins = models.JSONField(default=dict, help_text="Cropped px: {top, left, bottom, right}")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "chip_size", "offset_x", "offset_y"], name="unique_grid_geometry"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chip_size}px grid (+{self.offset_x},+{self.offset_y}) on {self.image_id}"

    @property
    def chip_grid(self) -> ChipGrid:
        """The engine's grid (the one chip arithmetic: boxes are (y0, x0, y1, x1))."""
        return ChipGrid(
            self.image.height, self.image.width, self.chip_size, (self.offset_y, self.offset_x)
        )

    def contains(self, row: int, col: int) -> bool:
        return 0 <= row < self.rows and 0 <= col < self.cols


class ImageClasses(models.Model):
    """The classes of a schema that apply to one image, ticked by its annotators (several
    materials in one dataset). Without a row an image has the classes its labels use, or every
    class while it has none (``labeling.image_classes``)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="label_classes")
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="image_classes")
    classes = models.ManyToManyField(LabelClass, related_name="+", blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "schema"], name="one_class_set_per_image"),
        ]

    def __str__(self) -> str:
        return f"classes of {self.image_id} in {self.schema_id}"


class VoteSource(models.TextChoices):
    CLICK = "click"
    TASK = "task"
    GOLD = "gold"
    # a curator's decision on a contested chip (review queue): accepted class or "not" a class
    REVIEW = "review"


class Vote(models.Model):
    """One click: append-only, never updated or deleted.

    ``label_class`` null is a retraction ("none"). ``negative`` True records an explicit
    "this chip is *not* ``label_class``" (an unselected chip of a crowd-task panel): it never
    puts a chip into a support set but counts against that class in agreement and majority.
    ``client_id`` is an optional client-chosen idempotency key, unique per user; answers to
    crowd tasks use ``task:<task id>:<row>:<col>``, so a task can be answered only once.
    """

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="votes"
    )
    grid = models.ForeignKey(Grid, on_delete=models.CASCADE, related_name="votes")
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="votes")
    row = models.PositiveIntegerField()
    col = models.PositiveIntegerField()
    label_class = models.ForeignKey(
        LabelClass, on_delete=models.PROTECT, null=True, blank=True, related_name="votes"
    )
    negative = models.BooleanField(default=False)
    source = models.CharField(max_length=8, choices=VoteSource.choices, default=VoteSource.CLICK)
    client_id = models.CharField(max_length=64, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # current state per (user, grid, row, col): the latest rows of one user on a grid
            models.Index(
                fields=["grid", "schema", "user", "row", "col", "id"], name="vote_current_state"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "client_id"],
                condition=~Q(client_id=""),
                name="unique_vote_client_id",
            ),
            models.CheckConstraint(
                condition=Q(negative=False) | Q(label_class__isnull=False),
                name="negative_vote_names_a_class",
            ),
        ]

    def __str__(self) -> str:
        what = "none" if self.label_class_id is None else self.label_class_id
        return f"{self.user_id} {'not ' if self.negative else ''}{what} @ ({self.row},{self.col})"


class GoldChip(models.Model):
    """A curator's reference answer for a chip (one per grid, schema and chip)."""

    grid = models.ForeignKey(Grid, on_delete=models.CASCADE, related_name="gold")
    schema = models.ForeignKey(LabelSchema, on_delete=models.CASCADE, related_name="gold")
    row = models.PositiveIntegerField()
    col = models.PositiveIntegerField()
    label_class = models.ForeignKey(LabelClass, on_delete=models.PROTECT, related_name="gold")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["grid", "row", "col"]
        constraints = [
            models.UniqueConstraint(
                fields=["grid", "schema", "row", "col"], name="one_gold_per_chip"
            ),
        ]

    def __str__(self) -> str:
        return f"gold {self.label_class_id} @ ({self.row},{self.col})"


class ConsensusRule(models.TextChoices):
    SINGLE_OWNER = "single_owner"
    MAJORITY = "majority"
    CURATOR = "curator"


class SupportSetVersion(models.Model):
    """An immutable snapshot of a support set: what a model sees. Never updated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    schema = models.ForeignKey(LabelSchema, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    rule = models.CharField(max_length=16, choices=ConsensusRule.choices)
    params = models.JSONField(default=dict, blank=True)
    grids = models.ManyToManyField(Grid, related_name="support_sets")
    chips = models.JSONField(
        default=list, help_text='[{"grid", "image", "row", "col", "class"}] (ids as strings)'
    )
    classes = models.JSONField(
        default=list, help_text='[{"id", "name", "colour", "kind"}] snapshot'
    )
    chip_size = models.PositiveIntegerField()
    offset_x = models.PositiveIntegerField(default=0)
    offset_y = models.PositiveIntegerField(default=0)
    contributors = models.JSONField(default=list, help_text='[{"id", "username", "votes"}]')
    agreement = models.JSONField(default=dict, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["schema", "number"]
        constraints = [
            models.UniqueConstraint(fields=["schema", "number"], name="unique_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.schema} v{self.number}"

    def support(self) -> dict[str, dict[str, list[tuple[int, int]]]]:
        """Chips per grid id and class id: ``{grid: {class: [(row, col), …]}}``."""
        out: dict[str, dict[str, list[tuple[int, int]]]] = {}
        for chip in self.chips:
            out.setdefault(chip["grid"], {}).setdefault(chip["class"], []).append(
                (chip["row"], chip["col"])
            )
        return out
