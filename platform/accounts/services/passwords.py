"""Password reset by e-mail link (no account enumeration, few messages per address)."""

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from common.errors import Invalid
from common.jobs import enqueue_on_commit

from .. import login_guard, mail
from ..models import User
from ..selectors import user_for_reset, user_for_reset_link

#: the task that looks the address up and mails the link (workers.tasks.mail)
RESET_MAIL_TASK = "workers.tasks.mail.password_reset_mail"


def password_reset_request(*, email: str, base_url: str) -> None:
    """Queue the reset message for ``email``; the request does the same for any address.

    Whether an account has this address is looked up by a worker (:func:`password_reset_mail`),
    not here: the request sends one message to the broker and answers, for a known and an
    unknown address alike, so neither its answer nor its time tells which accounts exist.
    """
    enqueue_on_commit(RESET_MAIL_TASK, email, base_url)


def password_reset_mail(*, email: str, base_url: str) -> bool:
    """Mail a reset link if exactly one active account has this address; else do nothing.

    At most ``RESETS_PER_ADDRESS`` messages per address per hour, so the form cannot flood an
    inbox. Whether a message was sent (for logs and tests; never shown to the asker).
    """
    user = user_for_reset(email=email)
    if user is None or not login_guard.reset_mail_allowed(email=user.email):
        return False
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    link = mail.app_link(base_url=base_url, route=f"reset/{uid}/{token}")
    minutes = max(1, settings.PASSWORD_RESET_TIMEOUT // 60)
    body = (
        f"Someone (hopefully you) asked to reset the password of the Chiplab account "
        f"“{user.username}”.\n\nChoose a new password here (the link works once, for "
        f"{minutes} minutes):\n{link}\n\n"
        "If you did not ask for this, ignore this message: your password stays as it is.\n"
    )
    mail.send(to=user.email, subject="Reset your Chiplab password", body=body, quiet=True)
    return True


@transaction.atomic
def password_reset_confirm(*, uid: str, token: str, password: str) -> User:
    """Set a new password from a reset link; the link then stops working (the hash changed)."""
    user = user_for_reset_link(uid=uid, token=token)
    try:
        validate_password(password, user)
    except DjangoValidationError as err:
        raise Invalid(" ".join(err.messages), fields={"password": err.messages}) from err
    user.set_password(password)
    user.save(update_fields=["password"])
    login_guard.login_succeeded(username=user.username)  # a failure streak is over
    return user
