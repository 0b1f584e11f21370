"""Invitations by e-mail link, with a role and an expiry, for people with or without an account."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from common.errors import Conflict, Invalid, NotFound, TooMany

from .. import mail
from ..authentication import hash_key
from ..models import ROLE_RANK, Invitation, Lab, Membership, Role, User
from ..selectors import email_in_use, invitation_by_key, require_role
from .labs import lab_lock, valid_role
from .users import user_create

#: unanswered invitations a lab may have at once (each is a live link to the lab)
MAX_PENDING_INVITATIONS = 200


def _valid_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise Invalid("Enter a valid e-mail address.", fields={"email": ["invalid"]}) from None
    return User.objects.normalize_email(email)


def _invitation_message(*, invitation: Invitation, inviter: User, link: str) -> tuple[str, str]:
    who = inviter.get_full_name() or inviter.username
    days = max(1, round((invitation.expires_at - timezone.now()).total_seconds() / 86400))
    subject = f"Invitation to join {invitation.lab.name} on Chiplab"
    body = (
        f"{who} invites you to join the lab “{invitation.lab.name}” on Chiplab as "
        f"{invitation.role}.\n\n"
        f"Open this link to accept (you can create an account there if you have none):\n"
        f"{link}\n\n"
        f"The link works once and expires in {days} day{'s' if days != 1 else ''}. "
        "If you did not expect this, ignore this message: nothing happens unless you accept.\n"
    )
    return subject, body


@transaction.atomic
def invitation_create(
    *,
    user: User,
    lab: Lab,
    email: str,
    role: str = Role.VIEWER,
    expires_in_days: int | None = None,
    base_url: str,
) -> Invitation:
    """Invite an e-mail address to a lab (owners): mail it a single-use link.

    Nothing here looks at accounts: the answer is the same whether the address has an
    account, belongs to a member or to nobody. A new invitation to the same address replaces
    a pending one (its link stops working). A mail server that refuses the message stores
    nothing (503).
    """
    lab_lock(lab)
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    role = valid_role(role)
    email = _valid_email(email)
    days = settings.CHIPLAB_INVITATION_DAYS if expires_in_days is None else expires_in_days
    limit = settings.CHIPLAB_INVITATION_MAX_DAYS
    if not 1 <= days <= limit:
        message = f"Between 1 and {limit} days."
        raise Invalid(f"expires_in_days: {message}", fields={"expires_in_days": [message]})
    now = timezone.now()
    pending = Invitation.objects.filter(
        lab=lab, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    )
    pending.filter(email__iexact=email).update(revoked_at=now)
    if pending.count() >= MAX_PENDING_INVITATIONS:
        raise TooMany(
            f"The lab has {MAX_PENDING_INVITATIONS} unanswered invitations; revoke some first."
        )
    key = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        lab=lab,
        email=email,
        role=role,
        key_hash=hash_key(key),
        invited_by=user,
        expires_at=now + timedelta(days=days),
    )
    link = mail.app_link(base_url=base_url, route=f"invite/{key}")
    subject, body = _invitation_message(invitation=invitation, inviter=user, link=link)
    mail.send(to=email, subject=subject, body=body)  # raises: the transaction rolls back
    return invitation


@transaction.atomic
def invitation_revoke(*, user: User, invitation_id) -> Invitation:
    """Revoke a pending invitation (owners of its lab; others: 404 or 403 as elsewhere)."""
    invitation = Invitation.objects.select_for_update().filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found.")
    require_role(user=user, lab_id=invitation.lab_id, role=Role.OWNER)
    state = invitation.state(timezone.now())
    if state != "pending":
        raise Conflict(f"This invitation is {state}; only pending ones can be revoked.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    return invitation


@transaction.atomic
def invitation_accept(
    *,
    key: str,
    user: User | None = None,
    username: str = "",
    password: str = "",
    first_name: str = "",
    last_name: str = "",
) -> tuple[Membership, User, bool]:
    """Accept an invitation: as the signed-in ``user``, or by creating an account.

    Creating an account works even where public sign-up is closed (the invitation is the
    permission); the account gets the invited address. Returns (membership, user, created).
    A member already in the lab keeps the higher of their role and the invited one.
    """
    invitation = invitation_by_key(key=key, lock=True)
    created = False
    if user is None or not user.is_authenticated:
        if not username or not password:
            raise Invalid(
                "Sign in to accept with your account, or choose a username and password.",
                fields={
                    name: ["required"]
                    for name, value in (("username", username), ("password", password))
                    if not value
                },
            )
        if email_in_use(email=invitation.email):
            # only the holder of the link learns this: it was mailed to that address
            raise Conflict(
                "An account with this e-mail address exists: sign in, then open the link again.",
                code="sign_in_to_accept",
            )
        user = user_create(
            username=username,
            password=password,
            email=invitation.email,
            first_name=(first_name or "").strip()[:150],
            last_name=(last_name or "").strip()[:150],
        )
        created = True
    membership = Membership.objects.select_for_update().filter(user=user, lab=invitation.lab)
    membership = membership.first()
    if membership is None:
        membership = Membership.objects.create(user=user, lab=invitation.lab, role=invitation.role)
    elif ROLE_RANK[Role(invitation.role)] > ROLE_RANK[Role(membership.role)]:
        membership.role = invitation.role
        membership.save(update_fields=["role"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership, user, created
