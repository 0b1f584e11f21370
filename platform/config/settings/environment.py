"""The environment settings are read from, the mode, and helpers the other modules share."""

import ipaddress
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

REPO_DIR = Path(__file__).resolve().parents[3]
BASE_DIR = REPO_DIR / "platform"

env = environ.Env()
environ.Env.read_env(env.str("CHIPLAB_ENV_FILE", default=str(REPO_DIR / ".env")))

# --- mode ------------------------------------------------------------------------
CHIPLAB_MODE = env.str("CHIPLAB_MODE", default="embedded")  # embedded | production
PRODUCTION = CHIPLAB_MODE == "production"
if CHIPLAB_MODE not in {"embedded", "production"}:
    raise ImproperlyConfigured("CHIPLAB_MODE must be 'embedded' or 'production'.")


def loopback(host: str) -> bool:
    """Whether a bind address (``127.0.0.1``, ``::1``, ``localhost``…) reaches this machine only."""
    host = host.strip().removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Secrets published as examples (infra/.env.example, docs, MinIO's defaults) or looking like
# placeholders: production refuses them, since anyone can read them.
KNOWN_EXAMPLE_SECRETS = frozenset(
    {
        "change-me-to-a-long-random-string-of-50-characters-or-more",
        "embedded-mode-only-not-a-secret",
        "chiplab-minio-secret",
        "minioadmin",
        "chiplab",
        "secret",
        "password",
    }
)
_PLACEHOLDER = re.compile(r"change[-_ ]?me|changeme|example|placeholder|your[-_ ]", re.I)


def example_secret(value: str | None) -> bool:
    """Whether ``value`` is a published example or a placeholder (never a real secret)."""
    value = (value or "").strip()
    return value.lower() in KNOWN_EXAMPLE_SECRETS or bool(_PLACEHOLDER.search(value))


def rate(name: str, default: str) -> str:
    """The throttle rate in variable ``name`` (like ``10/min``); anything else is refused."""
    rate = env.str(name, default=default)
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", rate):
        raise ImproperlyConfigured(f"{name} must be a rate like 10/min (per s, min, hour or day).")
    return rate
