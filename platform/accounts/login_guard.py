"""Password guessing guards shared by every sign-in form: the API's and the admin's.

Two limits, both counted in the default cache (shared by all web processes only when that
cache is, e.g. ``CHIPLAB_CACHE_URL=redis://…``), and there too an hourly allowance of password
reset messages per e-mail address (``reset_mail_allowed``):

- per client address: the ``login`` throttle scope (``CHIPLAB_LOGIN_RATE``), one allowance
  for the API's sign-in and the admin login together;
- per account: after ``CHIPLAB_LOGIN_BACKOFF_AFTER`` failed sign-ins in a row, each further
  attempt on that username waits 1, 2, 4… seconds after the last failure (at most
  ``CHIPLAB_LOGIN_BACKOFF_MAX_SECONDS``), from any address, even with the right password (or
  the one right guess would get through). Unknown usernames back off alike, so the answers
  do not tell which accounts exist. A successful sign-in resets the count.

Failures are counted from Django's ``user_login_failed`` signal, which ``authenticate()``
sends for every form that checks a password (connected in ``accounts.apps``).
"""

from __future__ import annotations

import hashlib
import math
import time
import unicodedata

from django.conf import settings
from django.core.cache import cache

from common.throttling import ScopedRateThrottle

#: a failure streak is forgotten a day after its last failure
_STREAK_SECONDS = 24 * 3600


def _keys(username: str) -> tuple[str, str]:
    # usernames are unique after NFKC and case folding (accounts.services.user_create)
    folded = unicodedata.normalize("NFKC", str(username or "")).casefold().strip()
    digest = hashlib.sha256(folded.encode()).hexdigest()[:32]
    return f"login-failures:{digest}", f"login-last-failure:{digest}"


def account_wait(*, username: str) -> int:
    """Whole seconds before ``username`` may be tried again (0: now)."""
    count_key, last_key = _keys(username)
    failures = cache.get(count_key) or 0
    free = settings.CHIPLAB_LOGIN_BACKOFF_AFTER
    if failures < free:
        return 0
    exponent = min(failures - free, 32)  # 2**32 s is past any sensible maximum
    backoff = min(2**exponent, settings.CHIPLAB_LOGIN_BACKOFF_MAX_SECONDS)
    last = cache.get(last_key) or 0.0
    return max(0, math.ceil(last + backoff - time.time()))


def login_failed(*, username: str) -> None:
    """Count a failed sign-in of ``username`` (atomic where the cache is: locmem, Redis)."""
    count_key, last_key = _keys(username)
    cache.add(count_key, 0, _STREAK_SECONDS)
    try:
        cache.incr(count_key)
    except ValueError:  # expired between add and incr
        cache.set(count_key, 1, _STREAK_SECONDS)
    cache.touch(count_key, _STREAK_SECONDS)
    cache.set(last_key, time.time(), _STREAK_SECONDS)


def login_succeeded(*, username: str) -> None:
    cache.delete_many(list(_keys(username)))


class _LoginScope:
    """What DRF's scoped throttle reads the scope from (it expects a view)."""

    throttle_scope = "login"


def address_wait(request) -> int:
    """Whole seconds before this client address may try a password again (0: now); an attempt
    that is allowed is counted against the same ``login`` allowance as the API's sign-in."""
    throttle = ScopedRateThrottle()
    if throttle.allow_request(request, _LoginScope()):
        return 0
    return max(1, math.ceil(throttle.wait() or 1))


def login_wait(*, request, username: str) -> int:
    """Seconds this sign-in attempt must wait: the address's rate, then the account's backoff."""
    return address_wait(request) or account_wait(username=username)


#: password reset messages one address may receive per hour
RESETS_PER_ADDRESS = 3


def reset_mail_allowed(*, email: str) -> bool:
    """Count a reset message to ``email``; False once the hour's allowance is spent.

    The form answers alike either way: this only keeps it from flooding someone's inbox.
    """
    folded = unicodedata.normalize("NFKC", str(email or "")).casefold().strip()
    key = "password-reset-mails:" + hashlib.sha256(folded.encode()).hexdigest()[:32]
    cache.add(key, 0, 3600)
    try:
        sent = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 3600)
        sent = 1
    return sent <= RESETS_PER_ADDRESS
