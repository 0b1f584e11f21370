"""E2E: the lab page's Webhooks section: add a hook, see its secret once, send a test."""

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_for
from tests.e2e.conftest import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_owner_adds_a_webhook_sees_the_secret_and_sends_a_test(page, lab_owner, hold_jobs):
    from webhooks.models import Webhook
    from webhooks.services import DELIVERY_TASK

    # the test ping's delivery stays off the shared worker: retrying it after the test, the
    # worker wrote its row while the test database was flushed (a deadlock in the CI dry run)
    hold_jobs(DELIVERY_TASK)

    sign_in(page, lab_owner.username)
    page.get_by_test_id("nav-lab").click()
    section = page.get_by_test_id("webhooks")
    expect(section).to_be_visible()
    page.get_by_test_id("hook-url").fill("http://10.0.0.5/hook")  # refused: private address
    page.get_by_test_id("hook-event").first.check()
    page.get_by_test_id("hook-create").click()
    expect(page.get_by_test_id("hook-form").get_by_test_id("error-box")).to_contain_text("private")
    page.get_by_test_id("hook-url").fill("http://127.0.0.1:9/hook")
    page.get_by_test_id("hook-create").click()
    secret = page.get_by_test_id("hook-secret")
    expect(secret).to_be_visible()
    hook = Webhook.objects.get()
    expect(secret).to_have_value(hook.secret)
    expect(page.get_by_test_id("hook-row")).to_have_count(1)
    expect(page.get_by_test_id("hook-row")).to_contain_text("Image ready")
    page.get_by_test_id("hook-test").click()
    expect(page.get_by_test_id("hook-log-row")).to_have_count(1)
    expect(page.get_by_test_id("hook-log-row")).to_contain_text("ping")
    page.get_by_test_id("hook-active").uncheck()
    wait_for(lambda: not Webhook.objects.get().active, timeout=10, what="the hook disabled")
    page.reload()
    expect(page.get_by_test_id("hook-secret")).to_have_count(0)  # shown once


def test_viewers_do_not_see_webhooks(page, lab_owner):
    from accounts.models import Membership, Role
    from tests.factories import UserFactory

    viewer = UserFactory()
    Membership.objects.create(user=viewer, lab=lab_owner.memberships.get().lab, role=Role.VIEWER)
    sign_in(page, viewer.username)
    page.get_by_test_id("nav-lab").click()
    expect(page.get_by_test_id("lab-role")).to_have_text("viewer")
    expect(page.get_by_test_id("webhooks")).to_have_count(0)
