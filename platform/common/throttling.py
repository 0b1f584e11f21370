"""Rate limits and quotas: the endpoints that guess passwords or create accounts, the ones that
create work for the shared workers (jobs, training, imports), per-lab and per-user caps of
unfinished jobs, and a daily cost quota per lab.

Caps are checked under a row lock on the lab (``lab_lock``), so that two requests of one lab
cannot both see room for the last job: the second waits for the first to commit and counts
its job. (SQLite, the embedded default, serialises writing transactions anyway.)
"""

import logging
from datetime import UTC, datetime, time, timedelta

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum
from rest_framework import throttling
from rest_framework.settings import api_settings

log = logging.getLogger(__name__)


class ScopedRateThrottle(throttling.ScopedRateThrottle):
    """DRF's per-scope throttle (a view sets ``throttle_scope``), keyed by client address.

    DRF's own class reads ``DEFAULT_THROTTLE_RATES`` once, at import; this one reads it per
    request, so that a changed setting (e.g. a test lowering a rate) takes effect.
    The client address is ``REMOTE_ADDR`` unless ``NUM_PROXIES`` trusts reverse proxies'
    ``X-Forwarded-For`` entries (settings: ``CHIPLAB_NUM_PROXIES``).
    """

    def get_rate(self):
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as err:
            raise ImproperlyConfigured(
                f"No throttle rate set for the '{self.scope}' scope."
            ) from err


# Views whose POST creates work for the shared workers -> their scope in
# DEFAULT_THROTTLE_RATES (settings: CHIPLAB_JOB_CREATE_RATE, _TRAINING_, _IMPORT_).
# tests/sharing/test_throttles.py checks that every entry names a view that is routed.
CREATION_SCOPES = {
    "analysis.apis.SegmentationJobListApi": "jobs",
    "analysis.apis.SegmentationJobRerunApi": "jobs",
    "registry.apis.TrainingJobListApi": "training",
    "registry.apis.ModelImportApi": "imports",
    "publishing.apis.archive.DatasetArchiveImportApi": "imports",
    # invitations mail strangers: per owner too (CHIPLAB_INVITATION_RATE)
    "accounts.apis.InvitationListApi": "invitations",
}


#: scopes whose work the database's caps and quotas bound anyway (see allow_request)
UNCOUNTED_WHEN_CACHE_DOWN = frozenset({"jobs", "training", "imports"})


class CreationRateThrottle(throttling.SimpleRateThrottle):
    """Creations of jobs, training jobs and imports per user (POST only; reads are free).

    Counted per signed-in user, whatever the address; over the rate DRF answers 429 with
    ``Retry-After``.
    """

    scope_attr = "creation_scope"

    def __init__(self):  # the rate is read per request (see allow_request)
        pass

    def allow_request(self, request, view):
        if request.method != "POST":
            return True
        self.scope = CREATION_SCOPES.get(f"{type(view).__module__}.{type(view).__name__}")
        if self.scope is None:
            return True
        self.rate = ScopedRateThrottle.get_rate(self)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        from common.errors import broker_errors  # (common.errors imports DRF's views: late)

        try:
            return super().allow_request(request, view)
        except broker_errors() as err:
            # the shared cache (Redis) is down: a job is accepted uncounted rather than
            # refused, since the lab's and user's caps and the daily quota, checked in the
            # database, still bound the work; anything else is refused (a 503)
            if self.scope not in UNCOUNTED_WHEN_CACHE_DOWN:
                raise
            log.warning("creation throttle %s not counted, cache down: %r", self.scope, err)
            return True

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None  # refused by authentication, not counted
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


# --- caps and quotas of work ------------------------------------------------------------------
def lab_lock(lab_id) -> None:
    """Lock the lab's row until the current transaction ends: caps are counted one request
    of the lab at a time. Call inside ``transaction.atomic`` before counting."""
    apps.get_model("accounts", "Lab").objects.select_for_update().filter(pk=lab_id).exists()


def require_job_room(jobs, *, lab_id, user, lab_limit: int, user_limit: int, what: str) -> None:
    """Refuse a new job (429 ``queue_full``) while the lab's unfinished ``jobs`` hold
    ``lab_limit``, or the user's hold ``user_limit`` (0: no per-user cap). Locks the lab."""
    # common.errors imports DRF's views, which import this module: late
    from .errors import TooMany  # (errors imports DRF's views, which import this module)
    from .jobs import FINISHED

    lab_lock(lab_id)
    active = jobs.filter(lab_id=lab_id).exclude(status__in=FINISHED)
    if active.count() >= lab_limit:
        raise TooMany(
            f"Your lab already has {lab_limit} {what} queued or running; wait for some to "
            "finish or cancel them.",
            code="queue_full",
        )
    if user_limit and active.filter(created_by=user).count() >= user_limit:
        raise TooMany(
            f"You already have {user_limit} {what} queued or running (a member's share of "
            "the lab's allowance); wait for some to finish or cancel them.",
            code="queue_full",
        )


def day_start(now: datetime) -> datetime:
    """Midnight UTC of ``now``'s day: when daily quotas start again."""
    return datetime.combine(now.astimezone(UTC).date(), time(), UTC)


def require_daily_chips(jobs, *, lab_id, chips: int, quota: int, now: datetime) -> None:
    """Refuse a job of ``chips`` (chips x frames) when the lab's ``jobs`` created today (UTC)
    plus it would pass ``quota`` (0: none): 429 ``quota_exceeded``, with the figures and the
    time the quota starts again. Call after :func:`require_job_room` (the lab is locked)."""
    # common.errors imports DRF's views, which import this module: late
    from .errors import TooMany

    if not quota:
        return
    start = day_start(now)
    used = (
        jobs.filter(lab_id=lab_id, created__gte=start).aggregate(n=Sum("progress_total"))["n"] or 0
    )
    if used + chips > quota:
        resets = start + timedelta(days=1)
        raise TooMany(
            f"Your lab's daily quota is {quota:,} chips (chips x frames of every image); "
            f"{used:,} are used today and this job needs {chips:,}. The quota starts again at "
            f"{resets:%Y-%m-%d %H:%M} UTC; fewer images or a larger chip size need less.",
            code="quota_exceeded",
            fields={"quota": [str(quota)], "used": [str(used)], "requested": [str(chips)]},
        )
