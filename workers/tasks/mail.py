"""Mail on the default queue: a thin entry point over ``accounts.services``."""

from workers.tasks.base import chiplab_task


# The web request only queues this (for any address), so that whether an account exists is
# never visible in the request's answer or time; the lookup and the mail server happen here.
@chiplab_task(queue="default", time_limit=120)
def password_reset_mail(self, email: str, base_url: str) -> None:
    from accounts.services import password_reset_mail as send

    send(email=email, base_url=base_url)
