"""Reads of the webhooks app: a lab's hooks and their delivery log, for its curators."""

from django.db.models import Prefetch, QuerySet

from accounts.models import Role
from accounts.selectors import require_role, role_in_lab
from common.errors import NotFound

from .models import Delivery, DeliveryAttempt, Webhook


def webhooks_of_lab(*, user, lab_id) -> QuerySet[Webhook]:
    require_role(user=user, lab_id=lab_id, role=Role.CURATOR)
    return Webhook.objects.filter(lab_id=lab_id).order_by("created")


def webhook_get(*, user, webhook_id) -> Webhook:
    """A hook of a lab where ``user`` is curator or owner (404 outside the lab, 403 below)."""
    hook = Webhook.objects.filter(pk=webhook_id).first()
    if hook is None or role_in_lab(user=user, lab_id=hook.lab_id) is None:
        raise NotFound("Webhook not found.")
    require_role(user=user, lab_id=hook.lab_id, role=Role.CURATOR)
    return hook


def deliveries_of(*, user, webhook_id) -> QuerySet[Delivery]:
    """The hook's deliveries, newest first, each with its attempts in order."""
    hook = webhook_get(user=user, webhook_id=webhook_id)
    return hook.deliveries.order_by("-created").prefetch_related(
        Prefetch("log", queryset=DeliveryAttempt.objects.order_by("number"))
    )
