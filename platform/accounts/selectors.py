"""Reads about labs and roles: the single place where membership is checked."""

from django.db.models import QuerySet

from common.errors import Forbidden, NotFound

from .models import ROLE_RANK, ApiToken, Lab, Membership, Role, User


def role_in_lab(*, user, lab_id) -> str | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(user=user, lab_id=lab_id).values_list("role", flat=True).first()
    )


def has_role(*, user, lab_id, role: str) -> bool:
    current = role_in_lab(user=user, lab_id=lab_id)
    return current is not None and ROLE_RANK[Role(current)] >= ROLE_RANK[Role(role)]


def require_role(*, user, lab_id, role: str) -> str:
    """Raise NotFound for non-members (existence does not leak) and Forbidden for low roles."""
    current = role_in_lab(user=user, lab_id=lab_id)
    if current is None:
        raise NotFound("Lab not found.")
    if ROLE_RANK[Role(current)] < ROLE_RANK[Role(role)]:
        raise Forbidden(f"This needs the {role} role in the lab; you are {current}.")
    return current


def labs_of(*, user) -> QuerySet[Lab]:
    if not user.is_authenticated:
        return Lab.objects.none()
    return Lab.objects.filter(memberships__user=user).order_by("name")


def lab_get(*, user, lab_id) -> Lab:
    lab = labs_of(user=user).filter(pk=lab_id).first() if _is_uuid(lab_id) else None
    if lab is None:
        raise NotFound("Lab not found.")
    return lab


def lab_members(*, user, lab_id) -> QuerySet[Membership]:
    require_role(user=user, lab_id=lab_id, role=Role.VIEWER)
    return Membership.objects.filter(lab_id=lab_id).select_related("user").order_by("created")


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created")


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
