"""E2E: the profile page: name and ORCID iD, and API tokens (created, used, revoked)."""

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_api_token_is_shown_once_works_and_is_refused_once_revoked(page, live_server, lab_owner):
    sign_in(page, lab_owner.username)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_test_id("who").click()
    expect(page).to_have_url(f"{live_server.url}/#/profile")
    expect(page.get_by_test_id("tokens-empty")).to_be_visible()
    page.get_by_test_id("token-name").fill("beamline pipeline")
    page.get_by_test_id("token-create").click()
    shown = page.get_by_test_id("token-created")
    expect(shown).to_be_visible()
    expect(page.get_by_test_id("token-warning")).to_contain_text("you will not see it again")
    key = page.get_by_test_id("token-key").input_value()
    assert key.startswith("chl_"), key
    rows = page.get_by_test_id("token-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("beamline pipeline")
    expect(rows.first).to_contain_text(key[:12])
    expect(rows.first.get_by_test_id("token-last-used")).to_have_text("never")
    page.get_by_test_id("token-copy").click()
    expect(page.get_by_test_id("toasts")).to_contain_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.shot("token-created")

    # the key works from outside the browser (no session cookie), as the user
    me = requests.get(
        f"{live_server.url}/api/auth/me", headers={"Authorization": f"Token {key}"}, timeout=30
    )
    assert me.status_code == 200, me.text
    assert me.json()["username"] == lab_owner.username
    # the list says when it was last used; the key itself is never listed again
    page.get_by_test_id("token-done").click()
    expect(shown).to_have_count(0)
    page.reload()
    expect(rows.first.get_by_test_id("token-last-used")).not_to_have_text("never")
    expect(page.get_by_test_id("token-key")).to_have_count(0)
    assert key not in page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    rows.first.get_by_test_id("token-revoke").click()
    expect(page.get_by_test_id("tokens-empty")).to_be_visible()
    page.shot("token-revoked")
    refused = requests.get(
        f"{live_server.url}/api/auth/me", headers={"Authorization": f"Token {key}"}, timeout=30
    )
    assert refused.status_code == 401, refused.text
    assert not page.errors, page.errors


def test_profile_name_and_orcid(page, lab_owner):
    """A mistyped ORCID iD gets the server's checksum message; a valid one is saved."""
    sign_in(page, lab_owner.username)
    page.goto("/#/profile")
    expect(page.get_by_test_id("profile-account")).to_contain_text(lab_owner.username)
    page.get_by_test_id("me-first-name").fill("Rosalind")
    page.get_by_test_id("me-last-name").fill("Franklin")
    page.get_by_test_id("me-orcid").fill("0000-0002-1825-0098")
    page.get_by_test_id("me-save").click()
    form = page.get_by_test_id("profile-form")
    expect(form.get_by_test_id("error-box")).to_contain_text("checksum")
    page.shot("orcid-refused")
    lab_owner.refresh_from_db()
    assert lab_owner.first_name == ""
    page.get_by_test_id("me-orcid").fill("0000-0002-1825-0097")
    page.get_by_test_id("me-save").click()
    expect(page.get_by_test_id("toasts")).to_contain_text("Profile saved")
    expect(form.get_by_test_id("error-box")).to_have_count(0)
    lab_owner.refresh_from_db()
    assert (lab_owner.first_name, lab_owner.last_name, lab_owner.orcid) == (
        "Rosalind",
        "Franklin",
        "0000-0002-1825-0097",
    )
    page.reload()
    expect(page.get_by_test_id("me-first-name")).to_have_value("Rosalind")
    expect(page.get_by_test_id("me-orcid")).to_have_value("0000-0002-1825-0097")
    assert not page.errors, page.errors
