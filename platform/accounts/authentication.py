"""Token authentication for pipelines: ``Authorization: Token <key>``.

A token works until it is revoked or expires (``expires_at``; tokens made before expiry
existed have none). Its scopes limit it: ``read`` for GET, HEAD and OPTIONS, ``write`` for
every other method, ``tokens`` to create or revoke tokens (checked by those views).
"""

import hashlib
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from rest_framework import authentication, exceptions

from .models import ApiToken, TokenScope

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: ``last_used`` is written at most this often per token: a write on every request would cost
#: each API call an UPDATE and a commit (a vote is one request)
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() not in (b"token", b"bearer"):
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed token header.")
        try:
            key = parts[1].decode()
        except UnicodeError as err:
            raise exceptions.AuthenticationFailed("Malformed token.") from err
        now = timezone.now()
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=hash_key(key), revoked_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        needed = TokenScope.READ if request.method in SAFE_METHODS else TokenScope.WRITE
        if not token.allows(needed):
            raise exceptions.PermissionDenied(
                f"This token lacks the '{needed}' scope needed for {request.method} requests."
            )
        if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class ApiTokenScheme(OpenApiAuthenticationExtension):
        """Describe token auth in the OpenAPI schema."""

        target_class = "accounts.authentication.ApiTokenAuthentication"
        name = "tokenAuth"

        def get_security_definition(self, auto_schema):
            return {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": 'Per-user API token: "Token chl_…" (create one at /api/tokens/).',
            }
except ImportError:  # pragma: no cover
    pass
