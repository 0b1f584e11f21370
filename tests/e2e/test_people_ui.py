"""E2E: people and help: invitations by e-mail link, password reset, token expiry and scopes,
the help page from every workspace step, and the instrument metadata's units."""

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _link(message, kind):
    return re.search(rf"https?://\S+/(#/{kind}/\S+)", message.body).group(1)


def test_a_new_person_joins_by_invitation_with_signup_closed(
    page, new_page, lab_owner, mailoutbox, settings
):
    from accounts.models import Invitation, Membership, User

    settings.CHIPLAB_OPEN_SIGNUP = False
    lab = lab_owner.memberships.get().lab
    sign_in(page, lab_owner.username)
    page.get_by_test_id("nav-lab").click()
    page.get_by_test_id("invite-email").fill("new.person@institute.org")
    page.get_by_test_id("invite-email-role").select_option("curator")
    page.get_by_test_id("invite-days").select_option("14")
    page.get_by_test_id("invite-send").click()
    expect(page.get_by_test_id("toasts")).to_contain_text("Invitation sent to new.person@")
    row = page.get_by_test_id("invitation-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("curator")
    page.shot("invitation-sent")
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new.person@institute.org"]
    assert Invitation.objects.get().expires_at > Invitation.objects.get().created

    # a second invitation, revoked: its link then says so
    page.get_by_test_id("invite-email").fill("wrong@institute.org")
    page.get_by_test_id("invite-send").click()
    expect(page.get_by_test_id("invitation-row")).to_have_count(2)
    page.once("dialog", lambda d: d.accept())
    page.locator('[data-testid="invitation-row"][data-email="wrong@institute.org"]').get_by_test_id(
        "invitation-revoke"
    ).click()
    expect(page.get_by_test_id("invitation-row")).to_have_count(1)

    guest = new_page()
    guest.goto("/" + _link(mailoutbox[1], "invite"))
    expect(guest.get_by_test_id("invite-card").get_by_test_id("error-box")).to_contain_text(
        "does not work"
    )

    guest.goto("/" + _link(mailoutbox[0], "invite"))
    expect(guest.get_by_test_id("invite-summary")).to_contain_text(f"join the lab “{lab.name}”")
    expect(guest.get_by_test_id("invite-summary")).to_contain_text("curator")
    guest.get_by_test_id("invite-username").fill("newperson")
    guest.get_by_test_id("invite-first-name").fill("Rosalind")
    guest.get_by_test_id("invite-last-name").fill("Franklin")
    guest.get_by_test_id("invite-password").fill(PASSWORD)
    guest.screenshot(path=str(page.shot.path / "03-invitation-accept-form.png"))
    guest.get_by_test_id("invite-create").click()
    expect(guest.get_by_test_id("lab-name")).to_have_text(lab.name)
    expect(guest.get_by_test_id("lab-role")).to_have_text("curator")
    expect(guest.get_by_test_id("who")).to_have_text("newperson")
    expect(guest.locator("main")).not_to_contain_text("null")
    guest.screenshot(path=str(page.shot.path / "04-invitation-joined.png"))
    newcomer = User.objects.get(username="newperson")
    assert newcomer.email == "new.person@institute.org"
    assert Membership.objects.get(user=newcomer, lab=lab).role == "curator"

    page.reload()
    expect(page.get_by_test_id("member-row")).to_have_count(2)
    expect(page.get_by_test_id("invitation-row")).to_have_count(0)
    assert guest.errors == [] and page.errors == []


def test_someone_with_an_account_signs_in_then_joins(page, lab_owner, mailoutbox):
    from accounts.services import invitation_create
    from tests.factories import UserFactory

    lab = lab_owner.memberships.get().lab
    mate = UserFactory(email="mate@institute.org")
    invitation_create(
        user=lab_owner, lab=lab, email="mate@institute.org", role="annotator", base_url="http://x/"
    )
    page.goto("/" + _link(mailoutbox[0], "invite"))
    page.get_by_test_id("invite-sign-in").click()
    page.get_by_test_id("login-username").fill(mate.username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("invite-accept")).to_have_text(f"Join as {mate.username}")
    page.shot("signed-in-invitation")
    page.get_by_test_id("invite-accept").click()
    expect(page.get_by_test_id("lab-role")).to_have_text("annotator")
    expect(page.get_by_test_id("lab-select")).to_contain_text(f"{lab.name} (annotator)")


def test_password_reset_by_email(page, lab_owner, mailoutbox, hold_jobs):
    from django.utils.module_loading import import_string

    from accounts.services.passwords import RESET_MAIL_TASK

    held = hold_jobs(RESET_MAIL_TASK)  # the request queues the mail; a worker sends it
    lab_owner.email = "owner@institute.org"
    lab_owner.save()
    page.goto("/")
    page.get_by_test_id("forgot-link").click()
    page.get_by_test_id("forgot-email").fill("owner@institute.org")
    page.get_by_test_id("forgot-submit").click()
    expect(page.get_by_test_id("forgot-sent")).to_contain_text("If an account uses owner@")
    page.shot("reset-asked")
    for task, args in held.held:
        import_string(task).apply(args=args).get()
    assert len(mailoutbox) == 1

    page.goto("/" + _link(mailoutbox[0], "reset"))
    page.get_by_test_id("reset-password").fill("12345678")  # long enough for the browser
    page.get_by_test_id("reset-again").fill("12345678")
    page.get_by_test_id("reset-submit").click()
    expect(page.get_by_test_id("reset-form").get_by_test_id("error-box")).to_contain_text(
        "too common"
    )
    page.get_by_test_id("reset-password").fill("a fresh passphrase here")
    page.get_by_test_id("reset-again").fill("a fresh passphrase here")
    page.shot("reset-new-password")
    page.get_by_test_id("reset-submit").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    sign_in(page, lab_owner.username, "a fresh passphrase here")
    assert page.errors == []


def test_tokens_show_expiry_and_scopes_and_a_read_token_cannot_write(page, live_server, lab_owner):
    sign_in(page, lab_owner.username)
    page.get_by_test_id("nav-profile").click()
    page.get_by_test_id("token-name").fill("read-only monitor")
    page.get_by_test_id("token-days").select_option("30")
    page.get_by_test_id("token-scope-write").uncheck()
    page.get_by_test_id("token-create").click()
    key = page.get_by_test_id("token-key").input_value()
    row = page.get_by_test_id("token-row").first
    expect(row.get_by_test_id("token-scopes")).to_have_text("read")
    expect(row.get_by_test_id("token-expires")).not_to_have_text("never")
    page.shot("token-read-only")
    lab = lab_owner.memberships.get().lab
    headers = {"Authorization": f"Token {key}"}
    assert requests.get(f"{live_server.url}/api/labs/{lab.pk}/", headers=headers, timeout=30).ok
    refused = requests.patch(
        f"{live_server.url}/api/labs/{lab.pk}/", json={"name": "x"}, headers=headers, timeout=30
    )
    assert refused.status_code == 403, refused.text


def test_help_is_linked_from_every_step_and_metadata_has_units(page, labelled_dataset):
    from catalog.models import Image

    d = labelled_dataset
    Image.objects.filter(pk=d["image"].pk).update(
        instrument={"voltage_kv": 200, "frame_time_s": 0.8333333333333334, "magnification": 245000}
    )
    owner = d["lab"].memberships.get(role="owner").user
    sign_in(page, owner.username)
    page.goto(f"/#/images/{d['image'].pk}/grid")
    help_link = page.get_by_test_id("step-help")
    expected = {"grid": "chip-size", "support": "support-sets", "segment": "confidence"}
    for step, topic in expected.items():
        page.get_by_test_id(f"step-{step}").click()
        expect(help_link).to_have_attribute("href", f"#/help/{topic}")
    page.get_by_test_id("image-metadata").locator("summary").click()
    meta = page.get_by_test_id("meta-instrument")
    expect(meta).to_contain_text("Voltage (kV)")
    expect(meta).to_contain_text("Frame time (s)")
    expect(meta).to_contain_text("0.8333")
    expect(meta).not_to_contain_text("0.83333333")
    expect(meta).to_contain_text("245,000")
    meta.scroll_into_view_if_needed()
    page.shot("metadata-units")

    with page.context.expect_page() as opened:
        page.get_by_test_id("step-help").click()
    help_page = opened.value
    help_page.wait_for_load_state()
    section = help_page.get_by_test_id("help-confidence")
    expect(section).to_be_in_viewport()
    for topic in ("chip-size", "support-sets", "consensus", "confidence", "interval"):
        expect(help_page.get_by_test_id(f"help-{topic}")).to_be_visible()
    expect(help_page.get_by_test_id("help-interval")).to_contain_text("95 %")
    help_page.screenshot(path=str(page.shot.path / "09-help-confidence.png"))
    assert page.errors == []


def test_help_works_signed_out(page):
    page.goto("/#/help/interval")
    expect(page.get_by_test_id("help-interval")).to_be_in_viewport()
    page.shot("help-signed-out")
