"""Writes of the labeling app: schemas and classes, grids, votes, gold, frozen support sets
and crowd-task answers. Keyword-only, validated inside, one transaction each.

Roles: annotators and up vote, create grids and freeze their own working set (rule
single_owner with themselves as owner); curators and owners manage schemas and classes, set
gold answers and freeze lab-wide (majority / curator / someone else's) versions.
"""

from ..selectors import support_state
from .carry import votes_carry
from .crowd_tasks import crowd_answers_count, crowd_task_answer, crowd_task_next
from .grids import grid_create, grid_restore
from .image_classes import image_classes_set
from .imports import annotations_import
from .review import review_decide
from .schemas import (
    class_create,
    class_remove,
    class_update,
    schema_create,
    schema_get_or_create_default,
)
from .support_sets import support_set_content, support_set_freeze
from .votes import after_clicks, gold_set, vote_cast, votes_cast_many

__all__ = [
    "after_clicks",
    "annotations_import",
    "class_create",
    "class_remove",
    "class_update",
    "crowd_answers_count",
    "crowd_task_answer",
    "crowd_task_next",
    "gold_set",
    "grid_create",
    "grid_restore",
    "image_classes_set",
    "review_decide",
    "schema_create",
    "schema_get_or_create_default",
    "support_set_content",
    "support_set_freeze",
    "support_state",
    "vote_cast",
    "votes_carry",
    "votes_cast_many",
]
