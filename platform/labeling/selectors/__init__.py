"""Reads of schemas, grids, votes, support sets and agreement.

Everything here hangs off an image and is visible exactly when its image (dataset) is
(``catalog.selectors``). Who labelled what is the lab's own business: individual votes, the live
support set derived from them, agreement reports and gold answers need lab membership (a
visible dataset of another lab, i.e. a public one, gets 403 ``members_only``; an invisible one
404 as everywhere), and frozen versions show non-members their contributors anonymised.
Within the lab, users below curator do not see other users' votes on chips with a gold answer
(setting gold records it as the curator's vote: it would give away the answers annotators are
scored against); those chips are left out of everything derived for them, as if only they had
voted there.
"""

from .access import gold_hidden, identities_visible, require_member
from .grids import (
    chip_size_suggestion,
    grid_for_voting,
    grid_get,
    grids_get_many,
    grids_of_dataset,
    grids_of_image,
    grids_visible_to,
)
from .quality import GOLD_BATCH, MAX_REVIEW, agreement, review_queue
from .schemas import (
    class_get,
    image_classes,
    schema_for_grid,
    schema_get,
    schemas_of_dataset,
    schemas_visible_to,
)
from .votes import (
    clean_rule,
    gold_of_grid,
    support_set_get,
    support_state,
    versions_of_schema,
    votes_current,
)

__all__ = [
    "GOLD_BATCH",
    "MAX_REVIEW",
    "agreement",
    "chip_size_suggestion",
    "class_get",
    "clean_rule",
    "gold_hidden",
    "gold_of_grid",
    "grid_for_voting",
    "grid_get",
    "grids_get_many",
    "grids_of_dataset",
    "grids_of_image",
    "grids_visible_to",
    "identities_visible",
    "image_classes",
    "require_member",
    "review_queue",
    "schema_for_grid",
    "schema_get",
    "schemas_of_dataset",
    "schemas_visible_to",
    "support_set_get",
    "support_state",
    "versions_of_schema",
    "votes_current",
]
