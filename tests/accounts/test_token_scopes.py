"""API tokens expire (default and maximum bounded) and carry scopes: read, write, tokens."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import token_create

pytestmark = pytest.mark.django_db


def with_key(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_new_tokens_expire_after_the_default_and_read_and_write(client_for, user, settings):
    settings.CHIPLAB_TOKEN_DAYS = 90
    body = client_for(user).post("/api/tokens/", {"name": "p"}, format="json").json()
    assert body["scopes"] == ["read", "write"]
    expires = timezone.datetime.fromisoformat(body["expires_at"])
    assert abs(expires - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)


@pytest.mark.parametrize("days", [0, 366, -1, 10**9, "soon"])
def test_expiry_is_bounded(client_for, user, settings, days):
    settings.CHIPLAB_TOKEN_MAX_DAYS = 365
    answer = client_for(user).post(
        "/api/tokens/", {"name": "p", "expires_in_days": days}, format="json"
    )
    assert answer.status_code == 400, answer.json()
    assert not ApiToken.objects.exists()


def test_an_expired_token_is_refused_and_not_listed(client_for, user):
    token, key = token_create(user=user, name="old", expires_in_days=1)
    assert with_key(key).get("/api/auth/me").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = with_key(key).get("/api/auth/me")
    assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]
    assert client_for(user).get("/api/tokens/").json() == []


def test_a_read_token_cannot_write(world):
    _token, key = token_create(user=world.owner, name="ro", scopes=["read"])
    reader = with_key(key)
    assert reader.get(f"/api/labs/{world.lab.pk}/").status_code == 200
    answer = reader.patch(f"/api/labs/{world.lab.pk}/", {"name": "Renamed"}, format="json")
    assert answer.status_code == 403 and "'write' scope" in answer.json()["error"]["message"]
    world.lab.refresh_from_db()
    assert world.lab.name != "Renamed"


def test_a_write_only_token_cannot_read(world):
    _token, key = token_create(user=world.owner, name="wo", scopes=["write"])
    assert with_key(key).get(f"/api/labs/{world.lab.pk}/").status_code == 403


def test_a_token_cannot_mint_tokens_without_the_tokens_scope(user):
    token, key = token_create(user=user, name="rw")
    pipeline = with_key(key)
    answer = pipeline.post("/api/tokens/", {"name": "child"}, format="json")
    assert answer.status_code == 403 and "tokens" in answer.json()["error"]["message"]
    assert pipeline.delete(f"/api/tokens/{token.pk}/").status_code == 403
    assert ApiToken.objects.count() == 1 and ApiToken.objects.get().revoked_at is None


def test_a_token_mints_only_narrower_and_shorter_lived_tokens(user):
    parent, key = token_create(
        user=user, name="admin", scopes=["read", "write", "tokens"], expires_in_days=2
    )
    pipeline = with_key(key)
    child = pipeline.post(
        "/api/tokens/",
        {"name": "child", "scopes": ["read"], "expires_in_days": 300},
        format="json",
    )
    assert child.status_code == 201, child.json()
    child = ApiToken.objects.get(pk=child.json()["id"])
    assert child.scopes == ["read"] and child.expires_at <= parent.expires_at
    _narrow, narrow_key = token_create(user=user, name="narrow", scopes=["read", "tokens"])
    wider = with_key(narrow_key).post(
        "/api/tokens/", {"name": "wider", "scopes": ["read", "write"]}, format="json"
    )
    assert wider.status_code == 403 and "write" in wider.json()["error"]["message"]
    # a tokens-scoped token revokes
    assert pipeline.delete(f"/api/tokens/{child.pk}/").status_code == 204


@pytest.mark.parametrize("scopes", [[], ["admin"], "read", ["read"] * 10])
def test_bad_scopes_are_400(client_for, user, scopes):
    answer = client_for(user).post("/api/tokens/", {"name": "p", "scopes": scopes}, format="json")
    assert answer.status_code == 400, answer.json()


def test_tokens_made_before_scopes_keep_reading_and_writing_without_expiry(world):
    # what migration 0002 does to existing rows
    _token, key = token_create(user=world.owner, name="legacy")
    ApiToken.objects.update(scopes=[], expires_at=None)
    migration = importlib.import_module("accounts.migrations.0002_invitations_token_scopes")
    migration.existing_tokens_read_write(apps, None)
    legacy = with_key(key)
    assert legacy.get(f"/api/labs/{world.lab.pk}/").status_code == 200
    renamed = legacy.patch(f"/api/labs/{world.lab.pk}/", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200
    assert legacy.post("/api/tokens/", {"name": "child"}, format="json").status_code == 403
    assert ApiToken.objects.get().expires_at is None


def test_tokens_per_user_are_bounded(user, monkeypatch):
    from accounts.services import tokens
    from common.errors import TooMany

    monkeypatch.setattr(tokens, "MAX_TOKENS_PER_USER", 2)
    token_create(user=user, name="1")
    token_create(user=user, name="2")
    with pytest.raises(TooMany):
        token_create(user=user, name="3")
