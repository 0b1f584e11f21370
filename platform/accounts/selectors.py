"""Reads about labs and roles: the single place where membership is checked."""

import uuid

from django.contrib.auth.tokens import default_token_generator
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from common.errors import Forbidden, Invalid, NotFound

from .authentication import hash_key
from .models import ROLE_RANK, ApiToken, Invitation, Lab, Membership, Role, User


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
    return role_check(current=role_in_lab(user=user, lab_id=lab_id), role=role)


def role_check(*, current: str | None, role: str) -> str:
    """``require_role`` for a role already read (None: not a member), e.g. in the same query
    as the object it is about."""
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
    """The one account that the username ``who`` names.

    It matches exactly, or ignoring case when that is unique. E-mail addresses are never
    looked up here (``accounts.services.member_invite`` refuses them): the answer would tell
    whether an address has an account. Invitations reach addresses.
    """
    who = (who or "").strip()
    if not who:
        raise Invalid("Name a user by username.", fields={"user": ["required"]})
    exact = User.objects.filter(username=who).first()
    found = [exact] if exact else list(User.objects.filter(username__iexact=who)[:2])
    if not found:
        raise Invalid(f"No user '{who}'.", fields={"user": ["unknown"]})
    if len(found) > 1:
        raise Invalid(
            f"'{who}' matches more than one account; add the person by their exact username.",
            code="ambiguous_user",
            fields={"user": ["ambiguous"]},
        )
    return found[0]


def tokens_of(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that still work (not revoked, not expired)."""
    return (
        ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .order_by("-created")
    )


def invitations_of(*, user, lab_id, pending_only: bool = True) -> QuerySet[Invitation]:
    """A lab's invitations, newest first (owners: they hold the invitees' addresses)."""
    require_role(user=user, lab_id=lab_id, role=Role.OWNER)
    invitations = Invitation.objects.filter(lab_id=lab_id).select_related("invited_by")
    if pending_only:
        invitations = invitations.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
    return invitations.order_by("-created")


INVITATION_GONE = (
    "This invitation link does not work: it was already used, revoked, replaced by a newer "
    "one or has expired. Ask the lab's owner for a new invitation."
)


def invitation_by_key(*, key: str, lock: bool = False) -> Invitation:
    """The pending invitation whose link carries ``key`` (NotFound otherwise)."""
    key = (key or "").strip()
    rows = Invitation.objects.select_related("lab", "invited_by")
    if lock:
        rows = rows.select_for_update(of=("self",))
    invitation = rows.filter(key_hash=hash_key(key)).first() if 0 < len(key) <= 200 else None
    if invitation is None or invitation.state(timezone.now()) != "pending":
        raise NotFound(INVITATION_GONE, code="invitation_gone")
    return invitation


def user_for_reset(*, email: str) -> User | None:
    """The one active account with a usable password at this address, else None."""
    email = (email or "").strip()
    if not email or len(email) > 254:
        return None
    users = list(User.objects.filter(email__iexact=email, is_active=True)[:2])
    if len(users) != 1 or not users[0].has_usable_password():
        return None  # none, or old duplicates: never guess whose password to reset
    return users[0]


RESET_LINK_GONE = (
    "This password reset link does not work: it was already used, has expired or is "
    "incomplete. Ask for a new one."
)


def user_for_reset_link(*, uid: str, token: str) -> User:
    try:
        pk = force_str(urlsafe_base64_decode(uid or ""))
        user = User.objects.filter(pk=pk, is_active=True).first() if _is_uuid(pk) else None
    except (ValueError, TypeError, UnicodeDecodeError):
        user = None
    if user is None or not default_token_generator.check_token(user, token or ""):
        raise NotFound(RESET_LINK_GONE, code="reset_link_gone")
    return user


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True
