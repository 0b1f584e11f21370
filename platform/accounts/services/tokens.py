"""API tokens: created with expiry and scopes, revoked."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.errors import Forbidden, Invalid, NotFound, TooMany

from ..authentication import hash_key
from ..models import ApiToken, TokenScope, User

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
