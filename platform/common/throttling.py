"""Rate limits for the endpoints that guess passwords or create accounts."""

from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.settings import api_settings


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
