"""E2E: the lab page: members and roles (owners), leaving a lab, creating one."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _row(page, username):
    return page.locator(f'[data-testid="member-row"][data-username="{username}"]')


def test_owner_manages_members_and_the_member_sees_the_lab(page, new_page, lab_owner):
    """The owner adds a second account (by username) as annotator, makes it curator, then
    removes it; the second user's own session sees the lab come and go."""
    from accounts.models import Membership
    from tests.factories import UserFactory

    lab = lab_owner.memberships.get().lab
    mate = UserFactory(first_name="Ada", last_name="Lovelace")

    other = new_page()
    sign_in(other, mate.username)
    expect(other.get_by_test_id("no-lab")).to_be_visible()

    sign_in(page, lab_owner.username)
    page.get_by_test_id("nav-lab").click()
    expect(page.get_by_test_id("lab-name")).to_have_text("Interfaces lab")
    expect(page.get_by_test_id("lab-role")).to_have_text("owner")
    expect(page.get_by_test_id("nav-lab")).to_have_attribute("aria-current", "page")
    rows = page.get_by_test_id("member-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("(you)")
    expect(rows.first.get_by_test_id("remove-member")).to_have_count(0)

    # an unknown account: the API's message
    page.get_by_test_id("invite-user").fill("nobody-here")
    page.get_by_test_id("invite-submit").click()
    expect(page.get_by_test_id("invite-form").get_by_test_id("error-box")).to_contain_text(
        "No user 'nobody-here'"
    )
    page.get_by_test_id("invite-user").fill(mate.username)
    page.get_by_test_id("invite-role").select_option("annotator")
    page.get_by_test_id("invite-submit").click()
    expect(rows).to_have_count(2)
    expect(_row(page, mate.username)).to_contain_text("Ada Lovelace")
    expect(_row(page, mate.username).get_by_test_id("member-role")).to_have_value("annotator")
    expect(page.get_by_test_id("invite-form").get_by_test_id("error-box")).to_have_count(0)
    page.shot("invited")
    assert Membership.objects.get(user=mate, lab=lab).role == "annotator"

    other.reload()
    expect(other.get_by_test_id("lab-select")).to_contain_text("Interfaces lab (annotator)")
    expect(other.get_by_test_id("no-lab")).to_have_count(0)

    _row(page, mate.username).get_by_test_id("member-role").select_option("curator")
    expect(page.get_by_test_id("toasts")).to_contain_text(f"{mate.username} is now curator")
    assert Membership.objects.get(user=mate, lab=lab).role == "curator"
    other.reload()
    expect(other.get_by_test_id("lab-select")).to_contain_text("Interfaces lab (curator)")
    other.get_by_test_id("nav-lab").click()
    expect(other.get_by_test_id("lab-role")).to_have_text("curator")
    expect(other.get_by_test_id("invite-form")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    _row(page, mate.username).get_by_test_id("remove-member").click()
    expect(rows).to_have_count(1)
    page.shot("removed")
    assert not Membership.objects.filter(user=mate).exists()

    other.goto("/#/datasets")
    other.reload()
    expect(other.get_by_test_id("no-lab")).to_be_visible()
    expect(other.get_by_test_id("lab-select")).not_to_contain_text("Interfaces lab")
    assert not page.errors, page.errors
    assert not other.errors, other.errors


def test_viewer_sees_no_management_and_can_leave(page, lab_owner):
    from accounts.models import Membership, Role
    from tests.factories import MembershipFactory

    lab = lab_owner.memberships.get().lab
    viewer = MembershipFactory(lab=lab, role=Role.VIEWER).user
    sign_in(page, viewer.username)
    page.goto("/#/lab")
    expect(page.get_by_test_id("lab-role")).to_have_text("viewer")
    rows = page.get_by_test_id("member-row")
    expect(rows).to_have_count(2)
    expect(_row(page, lab_owner.username).get_by_test_id("member-role")).to_have_text("owner")
    expect(page.get_by_test_id("members-read-only")).to_be_visible()
    expect(page.get_by_test_id("invite-form")).to_have_count(0)
    expect(page.locator("select[data-testid=member-role]")).to_have_count(0)
    expect(page.get_by_test_id("remove-member")).to_have_count(0)
    page.shot("viewer")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("leave-lab").click()
    expect(page.get_by_test_id("no-lab")).to_be_visible()
    expect(page.get_by_test_id("toasts")).to_contain_text("You left Interfaces lab")
    expect(page.get_by_test_id("lab-select")).not_to_contain_text("Interfaces lab")
    assert not Membership.objects.filter(user=viewer).exists()
    assert not page.errors, page.errors


def test_last_owner_cannot_leave_and_anyone_can_create_a_lab(page, lab_owner):
    from accounts.models import Lab, Membership

    sign_in(page, lab_owner.username)
    page.goto("/#/lab")
    expect(page.get_by_test_id("lab-name")).to_have_text("Interfaces lab")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("leave-lab").click()
    expect(page.get_by_test_id("error-box")).to_contain_text("The last owner cannot leave")
    expect(page.get_by_test_id("lab-name")).to_have_text("Interfaces lab")
    page.shot("last-owner")

    page.get_by_test_id("new-lab").click()
    page.get_by_test_id("lab-new-name").fill("Catalysis lab")
    page.get_by_test_id("lab-create").click()
    expect(page.get_by_test_id("lab-name")).to_have_text("Catalysis lab")
    expect(page.get_by_test_id("lab-role")).to_have_text("owner")
    expect(page.get_by_test_id("lab-select").locator("option:checked")).to_have_text(
        "Catalysis lab (owner)"
    )
    expect(page.get_by_test_id("member-row")).to_have_count(1)
    # the switcher goes back to the first lab's page
    page.get_by_test_id("lab-select").select_option(label="Interfaces lab (owner)")
    expect(page.get_by_test_id("lab-name")).to_have_text("Interfaces lab")
    page.shot("created")
    lab = Lab.objects.get(name="Catalysis lab")
    assert Membership.objects.get(lab=lab).user == lab_owner
    assert not page.errors, page.errors
