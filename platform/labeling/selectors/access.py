"""Who may see whose votes: lab membership, identities, gold answers hidden below curator."""

from accounts.models import ROLE_RANK, Role
from accounts.selectors import role_in_lab
from catalog.models import Dataset
from catalog.selectors import dataset_get
from common.errors import Forbidden

from ..models import GoldChip, LabelSchema


def require_member(*, user, dataset: Dataset, message: str) -> str:
    """The user's role in the dataset's lab; for non-members NotFound when they cannot see the
    dataset and Forbidden ``members_only`` when they can (a public dataset: nothing leaks)."""
    role = role_in_lab(user=user, lab_id=dataset.lab_id)
    if role is None:
        dataset_get(user=user, dataset_id=dataset.pk)
        raise Forbidden(message, code="members_only")
    return role


def identities_visible(*, user, lab_id) -> bool:
    """Whether ``user`` may see who labelled what in the lab (user ids, usernames)."""
    return role_in_lab(user=user, lab_id=lab_id) is not None


def gold_hidden(*, user, role: str, schema: LabelSchema, grids) -> frozenset:
    """The chips (grid id, row, col) on which ``user`` may see only their own votes: below
    curator, every chip with a gold answer; curators and owners see everything."""
    if ROLE_RANK[Role(role)] >= ROLE_RANK[Role.CURATOR]:
        return frozenset()
    return frozenset(
        (str(g), r, c)
        for g, r, c in GoldChip.objects.filter(schema=schema, grid__in=list(grids)).values_list(
            "grid_id", "row", "col"
        )
    )
