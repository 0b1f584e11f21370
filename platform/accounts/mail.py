"""E-mail to people: invitation links and password reset links (Django's mail, see settings)."""

import logging
import smtplib

from django.conf import settings
from django.core.mail import send_mail

from common.errors import ChiplabError

log = logging.getLogger(__name__)


class MailUnavailable(ChiplabError):
    status, code = 503, "mail_unavailable"


def app_link(*, base_url: str, route: str) -> str:
    """A link into the browser app (hash-routed), on the site's public address if set.

    ``base_url`` is the request's own address; production requires CHIPLAB_PUBLIC_URL, so a
    forged Host header cannot redirect the links it mails.
    """
    base = settings.CHIPLAB_PUBLIC_URL or base_url
    return f"{base.rstrip('/')}/#/{route.lstrip('/')}"


def send(*, to: str, subject: str, body: str, quiet: bool = False) -> None:
    """Send one plain-text message; a mail server that fails is a 503 (or a log line, quiet)."""
    try:
        send_mail(subject, body, None, [to], fail_silently=False)
    except (OSError, smtplib.SMTPException) as err:
        log.warning("Sending mail to a recipient failed: %s", err)
        if not quiet:
            raise MailUnavailable(
                "The mail server did not accept the message; try again later."
            ) from err
