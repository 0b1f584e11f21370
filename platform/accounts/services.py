"""Writes about users, labs, memberships and tokens (validate, then act, in one transaction)."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from common.errors import Conflict, Forbidden, Invalid, NotFound, TooMany
from common.orcid import normalise_orcid

from . import login_guard, mail
from .authentication import hash_key
from .models import ROLE_RANK, ApiToken, Invitation, Lab, Membership, Role, TokenScope, User
from .selectors import (
    email_in_use,
    invitation_by_key,
    require_role,
    user_for_invite,
    user_for_reset,
    user_for_reset_link,
)


def user_create(*, username: str, password: str, email: str = "", **extra) -> User:
    # NFKC first (as create_user does), so that the checks see the name that is stored
    username = User.normalize_username((username or "").strip())
    if not username:
        raise Invalid("A username is required.", fields={"username": ["required"]})
    try:
        # the model's validators: letters, digits and @.+-_ only, at most 150 characters
        User._meta.get_field("username").run_validators(username)
    except DjangoValidationError as err:
        raise Invalid(" ".join(err.messages), fields={"username": err.messages}) from err
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("That username is taken.", fields={"username": ["taken"]})
    email = (email or "").strip()
    if email_in_use(email=email):
        # an e-mail names one account: lab owners add people by it (member_invite)
        raise Invalid(
            "That e-mail address is already used by another account.",
            code="email_taken",
            fields={"email": ["already used by another account"]},
        )
    try:
        validate_password(password, User(username=username, email=email))
    except DjangoValidationError as err:
        raise Invalid(" ".join(err.messages), fields={"password": err.messages}) from err
    try:
        with transaction.atomic():
            return User.objects.create_user(
                username=username, email=email, password=password, **extra
            )
    except IntegrityError as err:  # the same name registered a moment ago
        raise Conflict("That username is taken.", fields={"username": ["taken"]}) from err


def _valid_orcid(orcid: str) -> str:
    try:
        return normalise_orcid(orcid)
    except ValueError as err:
        raise Invalid(str(err), fields={"orcid": [str(err)]}) from None


@transaction.atomic
def user_update(
    *,
    user: User,
    first_name: str | None = None,
    last_name: str | None = None,
    orcid: str | None = None,
) -> User:
    """Change the signed-in user's own name and ORCID iD (None leaves a field as it is)."""
    changes = {}
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if value is not None:
            value = value.strip()
            limit = User._meta.get_field(name).max_length
            if len(value) > limit:
                message = f"At most {limit} characters."
                raise Invalid(f"{name}: {message}", fields={name: [message]})
            changes[name] = value
    if orcid is not None:
        changes["orcid"] = _valid_orcid(orcid)
    for name, value in changes.items():
        setattr(user, name, value)
    if changes:
        user.save(update_fields=list(changes))
    return user


@transaction.atomic
def lab_create(*, user: User, name: str, slug: str = "", description: str = "") -> Lab:
    name = (name or "").strip()
    if not name:
        raise Invalid("A lab needs a name.", fields={"name": ["required"]})
    slug = slugify(slug or name)[:64]
    if not slug:
        raise Invalid("The lab name needs letters or digits.", fields={"slug": ["invalid"]})
    if Lab.objects.filter(slug=slug).exists():
        raise Conflict(f"A lab with the slug '{slug}' exists.", fields={"slug": ["taken"]})
    lab = Lab.objects.create(name=name, slug=slug, description=description)
    Membership.objects.create(user=user, lab=lab, role=Role.OWNER)
    return lab


@transaction.atomic
def lab_update(
    *, user: User, lab: Lab, name: str | None = None, description: str | None = None
) -> Lab:
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    changed = []
    if name is not None:
        if not name.strip():
            raise Invalid("A lab needs a name.", fields={"name": ["required"]})
        lab.name = name.strip()
        changed.append("name")
    if description is not None:
        lab.description = description
        changed.append("description")
    if changed:
        lab.save(update_fields=changed)
    return lab


def _valid_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError as err:
        choices = ", ".join(Role.values)
        raise Invalid(
            f"Unknown role '{role}'; use one of {choices}.", fields={"role": ["invalid"]}
        ) from err


@transaction.atomic
def member_invite(*, user: User, lab: Lab, who: str, role: str = Role.VIEWER) -> Membership:
    """Add an existing user, named by username, to a lab with a role.

    An e-mail address is refused: looking it up would tell the owner whether the address has
    an account. People are invited by e-mail with ``invitation_create`` instead.
    """
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    role = _valid_role(role)
    if "@" in (who or ""):  # even a username with "@" could be mistaken for someone's address
        raise Invalid(
            "To add someone by e-mail address, send them an invitation (they accept it from "
            "the link in the message, with or without an account).",
            code="use_invitation",
            fields={"user": ["send an invitation to an e-mail address"]},
        )
    invitee = user_for_invite(who=who)
    try:
        with transaction.atomic():
            return Membership.objects.create(user=invitee, lab=lab, role=role)
    except IntegrityError as err:
        raise Conflict(f"{invitee.username} is already a member.") from err


def _owners_left(lab: Lab, excluding: Membership) -> int:
    return lab.memberships.filter(role=Role.OWNER).exclude(pk=excluding.pk).count()


def _lock(lab: Lab) -> None:
    """Serialise owner changes in one lab until the transaction ends.

    Without it two owners leaving (or being demoted) at once each count the other as
    remaining, and the lab is left with no owner.
    """
    if not list(Lab.objects.select_for_update().filter(pk=lab.pk).values_list("pk", flat=True)):
        raise NotFound("Lab not found.")


@transaction.atomic
def member_set_role(*, user: User, lab: Lab, member_id, role: str | None) -> Membership:
    """Change a member's role (owners); ``role`` None changes nothing (an empty PATCH)."""
    _lock(lab)  # first: the acting owner may just have been demoted by another owner
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    membership = _membership(lab, member_id)
    role = _valid_role(membership.role if role is None else role)
    if membership.role == Role.OWNER and role != Role.OWNER and not _owners_left(lab, membership):
        raise Conflict("A lab must keep at least one owner.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, user: User, lab: Lab, member_id) -> None:
    _lock(lab)
    if str(member_id) != str(user.pk):
        require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    else:
        require_role(user=user, lab_id=lab.pk, role=Role.VIEWER)
    membership = _membership(lab, member_id)
    if membership.role == Role.OWNER and not _owners_left(lab, membership):
        raise Conflict("The last owner cannot leave; make someone else owner first.")
    membership.delete()


def lab_leave(*, user: User, lab: Lab) -> None:
    member_remove(user=user, lab=lab, member_id=user.pk)


def _membership(lab: Lab, member_id) -> Membership:
    membership = lab.memberships.select_related("user").filter(user_id=member_id).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


#: at most this many unrevoked tokens per user (each is a credential to keep track of)
MAX_TOKENS_PER_USER = 100


def token_create(
    *,
    user: User,
    name: str,
    expires_in_days: int | None = None,
    scopes: list[str] | None = None,
    acting_token: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; the plain key is returned once and never stored.

    It expires after ``expires_in_days`` (default CHIPLAB_TOKEN_DAYS, at most
    CHIPLAB_TOKEN_MAX_DAYS) with ``scopes`` (default read and write). Made with a token
    (``acting_token``), it needs that token's ``tokens`` scope and gets no scope and no later
    expiry than it has.
    """
    name = (name or "").strip()
    if not name:
        raise Invalid("A token needs a name.", fields={"name": ["required"]})
    days = settings.CHIPLAB_TOKEN_DAYS if expires_in_days is None else expires_in_days
    limit = settings.CHIPLAB_TOKEN_MAX_DAYS
    if not 1 <= days <= limit:
        message = f"Between 1 and {limit} days."
        raise Invalid(f"expires_in_days: {message}", fields={"expires_in_days": [message]})
    scopes = [TokenScope.READ, TokenScope.WRITE] if scopes is None else scopes
    try:
        scopes = sorted({TokenScope(scope) for scope in scopes})
    except ValueError:
        message = f"Use some of {', '.join(TokenScope.values)}."
        raise Invalid(f"scopes: {message}", fields={"scopes": [message]}) from None
    if not scopes:
        raise Invalid("A token needs at least one scope.", fields={"scopes": ["required"]})
    expires_at = timezone.now() + timedelta(days=days)
    if acting_token is not None:
        if not acting_token.allows(TokenScope.TOKENS):
            raise Forbidden("This token cannot create tokens (it lacks the 'tokens' scope).")
        beyond = sorted(set(scopes) - set(acting_token.scopes))
        if beyond:
            raise Forbidden(f"A token cannot grant scopes it lacks: {', '.join(beyond)}.")
        if acting_token.expires_at is not None:
            expires_at = min(expires_at, acting_token.expires_at)
    with transaction.atomic():
        # lock the user's row: two requests at once cannot both pass the count
        User.objects.select_for_update().filter(pk=user.pk).first()
        if ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() >= (
            MAX_TOKENS_PER_USER
        ):
            raise TooMany(f"You have {MAX_TOKENS_PER_USER} tokens; revoke some you no longer use.")
        key = "chl_" + secrets.token_urlsafe(32)
        token = ApiToken.objects.create(
            user=user,
            name=name[:100],
            prefix=key[:12],
            key_hash=hash_key(key),
            expires_at=expires_at,
            scopes=[str(scope) for scope in scopes],
        )
    return token, key


def token_revoke(*, user: User, token_id, acting_token: ApiToken | None = None) -> ApiToken:
    if acting_token is not None and not acting_token.allows(TokenScope.TOKENS):
        raise Forbidden("This token cannot revoke tokens (it lacks the 'tokens' scope).")
    token = ApiToken.objects.filter(user=user, pk=token_id, revoked_at__isnull=True).first()
    if token is None:
        raise NotFound("Token not found.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return token


# --- invitations ------------------------------------------------------------------------

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
    _lock(lab)
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    role = _valid_role(role)
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


# --- password reset -------------------------------------------------------------------


def password_reset_request(*, email: str, base_url: str) -> None:
    """Mail a reset link if exactly one active account has this address; else do nothing.

    The caller answers the same either way (no account enumeration). At most
    ``RESETS_PER_ADDRESS`` messages per address per hour, so the form cannot flood an inbox.
    """
    user = user_for_reset(email=email)
    if user is None or not login_guard.reset_mail_allowed(email=user.email):
        return
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = mail.app_link(base_url=base_url, route=f"reset/{uid}/{token}")
    minutes = max(1, settings.PASSWORD_RESET_TIMEOUT // 60)
    body = (
        f"Someone (hopefully you) asked to reset the password of the Chiplab account "
        f"“{user.username}”.\n\nChoose a new password here (the link works once, for "
        f"{minutes} minutes):\n{link}\n\n"
        "If you did not ask for this, ignore this message: your password stays as it is.\n"
    )
    mail.send(to=user.email, subject="Reset your Chiplab password", body=body, quiet=True)


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, password: str) -> User:
    """Set a new password from a reset link; the link then stops working (the hash changed)."""
    user = user_for_reset_link(uid=uid, token=token)
    try:
        validate_password(password, user)
    except DjangoValidationError as err:
        raise Invalid(" ".join(err.messages), fields={"password": err.messages}) from err
    user.set_password(password)
    user.save(update_fields=["password"])
    login_guard.login_succeeded(username=user.username)  # a failure streak is over
    return user
