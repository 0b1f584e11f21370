"""Accounts: sign-in, the signed-in user, API tokens, labs and their members."""

from __future__ import annotations

from ..operations import operation
from ..types import Lab, Me, Membership, Role, Token
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
    def create(self, name: str) -> Token:
        """A new token; its ``key`` is in this answer only."""
        return self._call("tokens_create", body={"name": name})

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
        """Add an existing user (username or e-mail) with a role (owners only)."""
        return self._call("labs_members_create", lab_id=lab_id, body={"user": user, "role": role})

    @operation("labs_members_partial_update", "PATCH", "/api/labs/{lab_id}/members/{user_id}/")
    def set_role(self, lab_id: str, user_id: str, role: Role) -> Membership:
        return self._call(
            "labs_members_partial_update", lab_id=lab_id, user_id=user_id, body={"role": role}
        )

    @operation("labs_members_destroy", "DELETE", "/api/labs/{lab_id}/members/{user_id}/")
    def remove_member(self, lab_id: str, user_id: str) -> None:
        self._call("labs_members_destroy", lab_id=lab_id, user_id=user_id)
