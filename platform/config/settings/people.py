"""People: e-mail (invitations, password resets), invitation and token lifetimes."""

from django.core.exceptions import ImproperlyConfigured

from .environment import env

# --- e-mail (lab invitations, password resets) ---------------------------------------
# Printed to the sending process's log by default (the web server's for invitations, a
# worker's for password resets); SMTP from CHIPLAB_EMAIL_URL, e.g.
# smtp+tls://user:password@mail.example.org:587 (smtp+ssl:// for port 465).
vars().update(
    {
        name: value
        for name, value in env.email_url("CHIPLAB_EMAIL_URL", default="consolemail://").items()
        if value is not None
    }
)
DEFAULT_FROM_EMAIL = env.str("CHIPLAB_EMAIL_FROM", default="Chiplab <chiplab@localhost>")
EMAIL_TIMEOUT = 10  # seconds: a stuck mail server must not hold a web process
# Invitation links are valid this many days by default; owners may choose 1 to the maximum.
CHIPLAB_INVITATION_DAYS = env.int("CHIPLAB_INVITATION_DAYS", default=7)
CHIPLAB_INVITATION_MAX_DAYS = env.int("CHIPLAB_INVITATION_MAX_DAYS", default=30)
# Password reset links (Django's signed tokens; invalid once the password changes).
PASSWORD_RESET_TIMEOUT = env.int("CHIPLAB_PASSWORD_RESET_SECONDS", default=3600)
# API tokens expire after this many days by default; no token may live longer than the max.
CHIPLAB_TOKEN_DAYS = env.int("CHIPLAB_TOKEN_DAYS", default=90)
CHIPLAB_TOKEN_MAX_DAYS = env.int("CHIPLAB_TOKEN_MAX_DAYS", default=365)
if not (1 <= CHIPLAB_INVITATION_DAYS <= CHIPLAB_INVITATION_MAX_DAYS) or not (
    1 <= CHIPLAB_TOKEN_DAYS <= CHIPLAB_TOKEN_MAX_DAYS
):
    raise ImproperlyConfigured(
        "CHIPLAB_INVITATION_DAYS and CHIPLAB_TOKEN_DAYS must be between 1 and their _MAX_DAYS."
    )
