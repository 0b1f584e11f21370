"""Webhook deliveries on the default queue: a thin entry point over ``webhooks.services``."""

from workers.tasks.base import chiplab_task


# One attempt per message; the service logs it and queues the next one with backoff. The time
# limit is a backstop: each network wait of an attempt is bounded by the webhook timeout.
@chiplab_task(queue="default", time_limit=300)
def deliver_webhook(self, delivery_id: str) -> None:
    from webhooks.services import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)
