"""Writes about user accounts: sign-up and profile."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from common.errors import Conflict, Invalid
from common.orcid import normalise_orcid

from ..models import User
from ..selectors import email_in_use


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
