"""Reads about labs and roles: the single place where membership is checked."""

from django.db.models import QuerySet

from common.errors import Forbidden, Invalid, NotFound

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


def email_in_use(*, email: str, excluding: User | None = None) -> bool:
    """Whether another account has this e-mail address (ignoring case); blank is never taken."""
    email = (email or "").strip()
    if not email:
        return False
    others = User.objects.filter(email__iexact=email)
    if excluding is not None:
        others = others.exclude(pk=excluding.pk)
    return others.exists()


def user_for_invite(*, who: str) -> User:
    """The one account that ``who`` names: its username, or else its e-mail address.

    A username matches exactly (or ignoring case when that is unique); an e-mail matches
    ignoring case. Old databases may hold accounts sharing an e-mail, and a username may look
    like someone else's e-mail: when ``who`` could mean more than one account this refuses,
    rather than add a stranger to a lab.
    """
    who = (who or "").strip()
    if not who:
        raise Invalid("Name a user by username or e-mail.", fields={"user": ["required"]})
    exact = User.objects.filter(username=who).first()
    by_name = [exact] if exact else list(User.objects.filter(username__iexact=who)[:2])
    by_email = list(User.objects.filter(email__iexact=who).exclude(email="")[:2])
    found = {user.pk: user for user in (*by_name, *by_email)}
    if not found:
        raise Invalid(f"No user '{who}'.", fields={"user": ["unknown"]})
    if len(found) > 1:
        raise Invalid(
            f"'{who}' matches more than one account; add the person by their username.",
            code="ambiguous_user",
            fields={"user": ["ambiguous"]},
        )
    return next(iter(found.values()))


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created")


def _is_uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
