"""Writes about users, labs, memberships and tokens (validate, then act, in one transaction)."""

import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from common.errors import Conflict, Invalid, NotFound
from common.orcid import normalise_orcid

from .authentication import hash_key
from .models import ApiToken, Lab, Membership, Role, User
from .selectors import email_in_use, require_role, user_for_invite


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
    """Add an existing user (by username or e-mail) to a lab with a role."""
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    role = _valid_role(role)
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


def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; the plain key is returned once and never stored."""
    name = (name or "").strip()
    if not name:
        raise Invalid("A token needs a name.", fields={"name": ["required"]})
    key = "chl_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=key[:12], key_hash=hash_key(key)
    )
    return token, key


def token_revoke(*, user: User, token_id) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id, revoked_at__isnull=True).first()
    if token is None:
        raise NotFound("Token not found.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return token
