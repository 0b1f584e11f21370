"""Users, labs, memberships with roles, and per-user API tokens."""

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person; belongs to labs through memberships."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    orcid = models.CharField(max_length=19, blank=True)


class Role(models.TextChoices):
    VIEWER = "viewer"
    ANNOTATOR = "annotator"
    CURATOR = "curator"
    OWNER = "owner"


ROLE_RANK = {Role.VIEWER: 0, Role.ANNOTATOR: 1, Role.CURATOR: 2, Role.OWNER: 3}


class Lab(models.Model):
    """A research group; the unit of data isolation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="labs"
    )

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "lab"], name="one_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.lab} ({self.role})"


class ApiToken(models.Model):
    """A named token for pipelines; only its sha256 is stored, the key is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # None: never expires (tokens made before expiry existed); new tokens always expire
    expires_at = models.DateTimeField(null=True, blank=True)
    # what the token may do (TokenScope values); a session may do everything
    scopes = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def allows(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class TokenScope(models.TextChoices):
    READ = "read"  # GET, HEAD, OPTIONS
    WRITE = "write"  # every other method
    TOKENS = "tokens"  # create and revoke tokens (with at most its own scopes and expiry)


class Invitation(models.Model):
    """An invitation to join a lab, sent by e-mail as a single-use link.

    Only the sha256 of the link's secret is stored. The invitee accepts it signed in (joining
    as that account) or by creating an account, which works even where public sign-up is
    closed. Whether the address already has an account is never looked up.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    key_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lab", "created"])]

    def __str__(self) -> str:
        return f"{self.email} to {self.lab} ({self.role})"

    def state(self, now) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "pending"
