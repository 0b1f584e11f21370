"""Writes about users, labs, memberships and tokens (validate, then act, in one transaction)."""

from .invitations import (
    MAX_PENDING_INVITATIONS,
    invitation_accept,
    invitation_create,
    invitation_revoke,
)
from .labs import lab_create, lab_leave, lab_update, member_invite, member_remove, member_set_role
from .passwords import password_reset_confirm, password_reset_mail, password_reset_request
from .tokens import MAX_TOKENS_PER_USER, token_create, token_revoke
from .users import user_create, user_update

__all__ = [
    "MAX_PENDING_INVITATIONS",
    "MAX_TOKENS_PER_USER",
    "invitation_accept",
    "invitation_create",
    "invitation_revoke",
    "lab_create",
    "lab_leave",
    "lab_update",
    "member_invite",
    "member_remove",
    "member_set_role",
    "password_reset_confirm",
    "password_reset_mail",
    "password_reset_request",
    "token_create",
    "token_revoke",
    "user_create",
    "user_update",
]
