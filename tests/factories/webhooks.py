"""Factories of webhooks: hooks (rows only: nothing is sent or queued); deliveries are made by
``webhooks.services.event_dispatch`` in the tests that need them."""

import factory

from tests.factories.accounts import LabFactory, UserFactory
from webhooks.models import Webhook
from webhooks.signing import secret_new


class WebhookFactory(factory.django.DjangoModelFactory):
    """An active hook of a lab, on a port nothing listens on; pass ``events`` to subscribe."""

    class Meta:
        model = Webhook

    lab = factory.SubFactory(LabFactory)
    url = "http://127.0.0.1:9/"
    events = factory.LazyFunction(list)
    secret = factory.LazyFunction(secret_new)
    created_by = factory.SubFactory(UserFactory)
