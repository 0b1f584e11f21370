"""Security: DEBUG, the secret key, hosts, production's refusals, TLS behind a proxy, public URL."""

import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from .environment import PRODUCTION, env, example_secret, loopback

# The address the web server listens on, as infra/run-embedded.sh binds it (its HOST). DEBUG
# pages show tracebacks, settings and SQL to whoever gets an error, so DEBUG is on by default
# only in embedded mode bound to loopback; unknown (no bind address: a shell, a worker) runs
# without it unless DJANGO_DEBUG says otherwise, and a server bound to an address that others
# reach (0.0.0.0, a LAN address) refuses to start with DJANGO_DEBUG on.
CHIPLAB_BIND_HOST = env.str("CHIPLAB_BIND_HOST", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION and loopback(CHIPLAB_BIND_HOST))
if DEBUG and CHIPLAB_BIND_HOST.strip() and not loopback(CHIPLAB_BIND_HOST):
    raise ImproperlyConfigured(
        f"DJANGO_DEBUG is on but the server listens on {CHIPLAB_BIND_HOST.strip()}, which other "
        "machines reach: debug pages would show them tracebacks, settings and SQL. Unset "
        "DJANGO_DEBUG, or bind to loopback (HOST=127.0.0.1)."
    )
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
if PRODUCTION:
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("Production needs DJANGO_SECRET_KEY (32+ characters).")
    if example_secret(SECRET_KEY):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is a published example value; generate one, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
    if DEBUG:
        raise ImproperlyConfigured("Production refuses to start with DJANGO_DEBUG on.")
    if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured("Production needs an explicit DJANGO_ALLOWED_HOSTS list.")
    SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
elif not SECRET_KEY:
    SECRET_KEY = "embedded-mode-only-not-a-secret"

# TLS ends at a reverse proxy (README "HTTPS behind a reverse proxy"). The proxy must set
# X-Forwarded-Proto (overwriting any the client sent): Django then knows a request came over
# HTTPS, redirects plain HTTP to it and sends HSTS. [production: on, HSTS one year]
if env.bool("DJANGO_TRUST_X_FORWARDED_PROTO", default=PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
if SECURE_HSTS_SECONDS < 0:
    raise ImproperlyConfigured("DJANGO_SECURE_HSTS_SECONDS must be 0 or more.")

# Base of persistent dataset URLs (JSON-LD @id, landing pages); unset = the request's host,
# which the client names (any of DJANGO_ALLOWED_HOSTS), so production requires it.
CHIPLAB_PUBLIC_URL = env.str("CHIPLAB_PUBLIC_URL", default="")
_public_url = urlsplit(CHIPLAB_PUBLIC_URL)
if (CHIPLAB_PUBLIC_URL or PRODUCTION) and not (
    _public_url.scheme in {"http", "https"} and _public_url.netloc
):
    raise ImproperlyConfigured(
        "CHIPLAB_PUBLIC_URL must be the site's public address, e.g. https://chiplab.example.org"
        " (production requires it: persistent dataset ids are built from it)."
    )

# DOIs for published dataset versions through DataCite's REST API (publishing.doi); minting
# is off (409 "DOI minting is not configured") unless all four are set. Test server:
# https://api.test.datacite.org; production: https://api.datacite.org.
CHIPLAB_DATACITE_URL = env.str("CHIPLAB_DATACITE_URL", default="").rstrip("/")
CHIPLAB_DATACITE_REPOSITORY = env.str("CHIPLAB_DATACITE_REPOSITORY", default="")
CHIPLAB_DATACITE_PASSWORD = env.str("CHIPLAB_DATACITE_PASSWORD", default="")
CHIPLAB_DATACITE_PREFIX = env.str("CHIPLAB_DATACITE_PREFIX", default="")
CHIPLAB_DATACITE_TIMEOUT_SECONDS = env.float("CHIPLAB_DATACITE_TIMEOUT_SECONDS", default=15.0)
if CHIPLAB_DATACITE_PREFIX and not re.fullmatch(r"10\.\d{4,9}", CHIPLAB_DATACITE_PREFIX):
    raise ImproperlyConfigured("CHIPLAB_DATACITE_PREFIX must be a DOI prefix such as 10.5072.")
# OAI-PMH (/oai): the contact harvesters are shown (Identify's adminEmail)
CHIPLAB_OAI_ADMIN_EMAIL = env.str(
    "CHIPLAB_OAI_ADMIN_EMAIL", default="chiplab-admin@example.invalid"
)
