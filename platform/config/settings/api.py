"""The web API: webhooks, rate limits and sign-in backoff, caches, DRF and OpenAPI."""

import ipaddress

from django.core.exceptions import ImproperlyConfigured

from .environment import PRODUCTION, env, rate

# --- webhooks -------------------------------------------------------------------------
# Refuse hook URLs that resolve to loopback, link-local, private or other internal addresses
# (at registration and before each delivery) [on in production, off in embedded mode].
CHIPLAB_WEBHOOK_REFUSE_PRIVATE = env.bool("CHIPLAB_WEBHOOK_REFUSE_PRIVATE", default=PRODUCTION)
# Networks exempt from that refusal, e.g. "10.1.2.0/24,127.0.0.1/32" [none].
CHIPLAB_WEBHOOK_ALLOWED_NETWORKS = env.list("CHIPLAB_WEBHOOK_ALLOWED_NETWORKS", default=[])
try:
    for _network in CHIPLAB_WEBHOOK_ALLOWED_NETWORKS:
        ipaddress.ip_network(_network, strict=False)
except ValueError as _err:
    raise ImproperlyConfigured(f"CHIPLAB_WEBHOOK_ALLOWED_NETWORKS: {_err}") from None
# Each network wait of a delivery (connect, send, each read), 1..30 s.
CHIPLAB_WEBHOOK_TIMEOUT_SECONDS = min(
    max(env.float("CHIPLAB_WEBHOOK_TIMEOUT_SECONDS", default=10.0), 1), 30
)
# Attempts per delivery (1..12), the first retry after the base delay, each later one after
# twice the one before (at most 1 h).
CHIPLAB_WEBHOOK_MAX_ATTEMPTS = min(max(env.int("CHIPLAB_WEBHOOK_MAX_ATTEMPTS", default=6), 1), 12)
CHIPLAB_WEBHOOK_RETRY_BASE_SECONDS = min(
    max(env.float("CHIPLAB_WEBHOOK_RETRY_BASE_SECONDS", default=30.0), 0.1), 3600
)


# --- rate limits -------------------------------------------------------------------
_NUM_PROXIES = env.int("CHIPLAB_NUM_PROXIES", default=0)
if _NUM_PROXIES < 0:
    raise ImproperlyConfigured("CHIPLAB_NUM_PROXIES must be 0 or more.")

# Per-account backoff of sign-ins (API and admin, accounts.login_guard): after this many failures
# in a row, each further attempt on the account waits 1, 2, 4... s after the last failure, up
# to the maximum, whatever the client address; a successful sign-in resets it.
CHIPLAB_LOGIN_BACKOFF_AFTER = env.int("CHIPLAB_LOGIN_BACKOFF_AFTER", default=5)
CHIPLAB_LOGIN_BACKOFF_MAX_SECONDS = env.int("CHIPLAB_LOGIN_BACKOFF_MAX_SECONDS", default=900)
if CHIPLAB_LOGIN_BACKOFF_AFTER < 1 or CHIPLAB_LOGIN_BACKOFF_MAX_SECONDS < 1:
    raise ImproperlyConfigured("CHIPLAB_LOGIN_BACKOFF_AFTER and _MAX_SECONDS must be 1 or more.")

# Throttles count requests in the default cache: one count for all web processes only when
# that cache is shared (redis://…); the default is per process.
CACHES = {"default": env.cache_url("CHIPLAB_CACHE_URL", default="locmemcache://")}

# --- DRF / OpenAPI -----------------------------------------------------------------
REST_FRAMEWORK = {
    # JSON bodies (nested lists, null) everywhere; the two upload views add multipart.
    "DEFAULT_PARSER_CLASSES": ["common.parsers.JSONParser"],  # a 400 for absurd nesting
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # Views opt in with `throttle_scope`; requests are counted per client address.
    "DEFAULT_THROTTLE_CLASSES": [
        "common.throttling.ScopedRateThrottle",
        "common.throttling.CreationRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "login": rate("CHIPLAB_LOGIN_RATE", "10/min"),
        "register": rate("CHIPLAB_REGISTER_RATE", "20/hour"),
        # opening and accepting invitation links, asking for a password reset (per address)
        "invitations": rate("CHIPLAB_INVITATION_RATE", "60/hour"),
        "password_reset": rate("CHIPLAB_PASSWORD_RESET_RATE", "10/hour"),
        # creations per user (common.throttling.CreationRateThrottle)
        "jobs": rate("CHIPLAB_JOB_CREATE_RATE", "60/min"),
        "training": rate("CHIPLAB_TRAINING_CREATE_RATE", "20/hour"),
        "imports": rate("CHIPLAB_IMPORT_CREATE_RATE", "30/hour"),
        # re-deriving a published result runs a segmentation in the web process (per address)
        "rederive": rate("CHIPLAB_REDERIVE_RATE", "30/hour"),
        # searches (each a few queries over every visible image; per address)
        "search": rate("CHIPLAB_SEARCH_RATE", "120/min"),
    },
    # Reverse proxies whose X-Forwarded-For entries are trusted for the client address; with
    # 0 the header is ignored (anyone can forge it), with none DRF would trust it blindly.
    "NUM_PROXIES": _NUM_PROXIES,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "common.apis.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
    "EXCEPTION_HANDLER": "common.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Chiplab API",
    "DESCRIPTION": (
        "Few-shot segmentation of electron micrographs: labs, datasets, images, grids, "
        "crowd-sourced support sets, segmentation jobs and models."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI / Redoc assets ship with the sidecar package: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ImageStatusEnum": "catalog.models.ImageStatus",
        "JobStatusEnum": "common.jobs.JobStatus",
        "ArchiveImportStageEnum": "publishing.models.ArchiveImportStage",
    },
}
