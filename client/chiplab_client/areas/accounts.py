"""Accounts: sign-in, the signed-in user, API tokens, labs and their members."""

from __future__ import annotations

from ..operations import operation
from ..types import (
    Invitation,
    InvitationAccepted,
    InvitationPreview,
    Lab,
    Me,
    Membership,
    Role,
    Token,
    TokenScope,
)
from ._base import UNSET, Area, given, present


class Auth(Area):
    """Session sign-in (for scripts that start from a password) and the signed-in user."""

    @operation("auth_login_create", "POST", "/api/auth/login")
    def login(self, username: str, password: str) -> Me:
        """Sign in with a password; the session cookie then authenticates this client."""
        return self._call("auth_login_create", body={"username": username, "password": password})

    @operation("auth_logout_create", "POST", "/api/auth/logout")
    def logout(self) -> None:
        self._call("auth_logout_create")

    @operation("auth_register_create", "POST", "/api/auth/register")
    def register(self, username: str, password: str, *, email: str | None = None) -> Me:
        """Create an account (where the server has open sign-up)."""
        return self._call(
            "auth_register_create",
            body=present(username=username, password=password, email=email),
        )

    @operation("auth_password_reset_create", "POST", "/api/auth/password-reset")
    def request_password_reset(self, email: str) -> None:
        """Mail a reset link to ``email`` if it has an account (the answer never says)."""
        self._call("auth_password_reset_create", body={"email": email})

    @operation("auth_password_reset_confirm_create", "POST", "/api/auth/password-reset/confirm")
    def confirm_password_reset(self, uid: str, token: str, password: str) -> None:
        """Set a new password with the ``uid`` and ``token`` of a reset link (#/reset/uid/token)."""
        self._call(
            "auth_password_reset_confirm_create",
            body={"uid": uid, "token": token, "password": password},
        )

    @operation("auth_me_retrieve", "GET", "/api/auth/me")
    def me(self) -> Me:
        return self._call("auth_me_retrieve")

    @operation("auth_me_partial_update", "PATCH", "/api/auth/me")
    def update_me(
        self, *, first_name: str = UNSET, last_name: str = UNSET, orcid: str = UNSET
    ) -> Me:
        return self._call(
            "auth_me_partial_update",
            body=given(first_name=first_name, last_name=last_name, orcid=orcid),
        )


class Tokens(Area):
    @operation("tokens_list", "GET", "/api/tokens/")
    def list(self) -> list[Token]:
        return self._call("tokens_list")

    @operation("tokens_create", "POST", "/api/tokens/")
    def create(
        self,
        name: str,
        *,
        expires_in_days: int | None = None,
        scopes: list[TokenScope] | None = None,
    ) -> Token:
        """A new token; its ``key`` is in this answer only.

        It expires after ``expires_in_days`` (server default 90, at most 365) with ``scopes``
        (default read and write). A token creating tokens needs the ``tokens`` scope and
        grants no more than it has.
        """
        return self._call(
            "tokens_create",
            body=present(name=name, expires_in_days=expires_in_days, scopes=scopes),
        )

    @operation("tokens_destroy", "DELETE", "/api/tokens/{token_id}/")
    def revoke(self, token_id: str) -> None:
        self._call("tokens_destroy", token_id=token_id)


class Labs(Area):
    @operation("labs_list", "GET", "/api/labs/")
    def list(self) -> list[Lab]:
        """The labs you belong to, with your role in each."""
        return self._call("labs_list")

    @operation("labs_create", "POST", "/api/labs/")
    def create(self, name: str, *, slug: str | None = None, description: str | None = None) -> Lab:
        return self._call(
            "labs_create", body=present(name=name, slug=slug, description=description)
        )

    @operation("labs_retrieve", "GET", "/api/labs/{lab_id}/")
    def get(self, lab_id: str) -> Lab:
        return self._call("labs_retrieve", lab_id=lab_id)

    @operation("labs_partial_update", "PATCH", "/api/labs/{lab_id}/")
    def update(self, lab_id: str, *, name: str = UNSET, description: str = UNSET) -> Lab:
        return self._call(
            "labs_partial_update", lab_id=lab_id, body=given(name=name, description=description)
        )

    @operation("labs_leave_create", "POST", "/api/labs/{lab_id}/leave")
    def leave(self, lab_id: str) -> None:
        self._call("labs_leave_create", lab_id=lab_id)

    @operation("labs_members_list", "GET", "/api/labs/{lab_id}/members/")
    def members(self, lab_id: str) -> list[Membership]:
        return self._call("labs_members_list", lab_id=lab_id)

    @operation("labs_members_create", "POST", "/api/labs/{lab_id}/members/")
    def add_member(self, lab_id: str, user: str, *, role: Role = "viewer") -> Membership:
        """Add an existing user by username with a role (owners only); e-mail addresses are
        refused: use ``invite``."""
        return self._call("labs_members_create", lab_id=lab_id, body={"user": user, "role": role})

    @operation("labs_members_partial_update", "PATCH", "/api/labs/{lab_id}/members/{user_id}/")
    def set_role(self, lab_id: str, user_id: str, role: Role) -> Membership:
        return self._call(
            "labs_members_partial_update", lab_id=lab_id, user_id=user_id, body={"role": role}
        )

    @operation("labs_members_destroy", "DELETE", "/api/labs/{lab_id}/members/{user_id}/")
    def remove_member(self, lab_id: str, user_id: str) -> None:
        self._call("labs_members_destroy", lab_id=lab_id, user_id=user_id)

    @operation("labs_invitations_list", "GET", "/api/labs/{lab_id}/invitations/")
    def invitations(self, lab_id: str) -> list[Invitation]:
        """The lab's pending invitations (owners)."""
        return self._call("labs_invitations_list", lab_id=lab_id)

    @operation("labs_invitations_create", "POST", "/api/labs/{lab_id}/invitations/")
    def invite(
        self, lab_id: str, email: str, *, role: Role = "viewer", expires_in_days: int | None = None
    ) -> Invitation:
        """Mail ``email`` a single-use link to join the lab with ``role`` (owners)."""
        return self._call(
            "labs_invitations_create",
            lab_id=lab_id,
            body=present(email=email, role=role, expires_in_days=expires_in_days),
        )


class Invitations(Area):
    """Invitation links: revoke one (owners), see and accept one (the invitee)."""

    @operation("invitations_destroy", "DELETE", "/api/invitations/{invitation_id}/")
    def revoke(self, invitation_id: str) -> None:
        self._call("invitations_destroy", invitation_id=invitation_id)

    @operation("invitations_preview_create", "POST", "/api/invitations/preview")
    def preview(self, key: str) -> InvitationPreview:
        """The lab, role and address of an invitation link's ``key`` (#/invite/<key>)."""
        return self._call("invitations_preview_create", body={"key": key})

    @operation("invitations_accept_create", "POST", "/api/invitations/accept")
    def accept(
        self,
        key: str,
        *,
        username: str | None = None,
        password: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> InvitationAccepted:
        """Accept as the signed-in user, or (with username and password) as a new account."""
        return self._call(
            "invitations_accept_create",
            body=present(
                key=key,
                username=username,
                password=password,
                first_name=first_name,
                last_name=last_name,
            ),
        )
