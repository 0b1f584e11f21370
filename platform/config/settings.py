"""Chiplab settings: everything comes from the environment, with embedded-mode defaults.

Embedded mode (the default) needs no external service: SQLite, files on local disk, a
filesystem Celery broker and MLflow on a local SQLite store, all under ``CHIPLAB_DATA_DIR``.
Services mode is the same code pointed at Postgres, MinIO/S3, Redis/RabbitMQ and an MLflow
server through the variables listed in ``infra/.env.example``.
"""

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

REPO_DIR = Path(__file__).resolve().parents[2]
BASE_DIR = REPO_DIR / "platform"

env = environ.Env()
environ.Env.read_env(env.str("CHIPLAB_ENV_FILE", default=str(REPO_DIR / ".env")))

# --- mode and security -------------------------------------------------------------
CHIPLAB_MODE = env.str("CHIPLAB_MODE", default="embedded")  # embedded | production
PRODUCTION = CHIPLAB_MODE == "production"
if CHIPLAB_MODE not in {"embedded", "production"}:
    raise ImproperlyConfigured("CHIPLAB_MODE must be 'embedded' or 'production'.")


def _loopback(host: str) -> bool:
    """Whether a bind address (``127.0.0.1``, ``::1``, ``localhost``…) reaches this machine only."""
    host = host.strip().removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The address the web server listens on, as infra/run-embedded.sh binds it (its HOST). DEBUG
# pages show tracebacks, settings and SQL to whoever gets an error, so DEBUG is on by default
# only in embedded mode bound to loopback; anything else (0.0.0.0, a LAN address, unknown) runs
# without it unless DJANGO_DEBUG says otherwise.
CHIPLAB_BIND_HOST = env.str("CHIPLAB_BIND_HOST", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=not PRODUCTION and _loopback(CHIPLAB_BIND_HOST))
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

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


def _example_secret(value: str | None) -> bool:
    """Whether ``value`` is a published example or a placeholder (never a real secret)."""
    value = (value or "").strip()
    return value.lower() in KNOWN_EXAMPLE_SECRETS or bool(_PLACEHOLDER.search(value))


if PRODUCTION:
    if len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("Production needs DJANGO_SECRET_KEY (32+ characters).")
    if _example_secret(SECRET_KEY):
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

# DOIs for published dataset versions through DataCite's REST API (catalog.datacite); minting
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

# --- paths -------------------------------------------------------------------------
DATA_DIR = Path(env.str("CHIPLAB_DATA_DIR", default=str(REPO_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# --- apps --------------------------------------------------------------------------
INSTALLED_APPS = [
    "accounts.admin_site.ChiplabAdminConfig",  # django.contrib.admin, login rate limited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
    "accounts",
    "catalog",
    "labeling",
    "analysis",
    "registry",
    "webhooks",
    "publishing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.UploadLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "common.middleware.UnavailableMiddleware",  # a view failing on a service that is down: 503
    "common.middleware.ApiErrorMiddleware",  # last: it wraps the view and URL resolution
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The app shell signs people in (POST /api/auth/login); there is no server-rendered login page.
LOGIN_URL = "/"
LOGIN_REDIRECT_URL = "/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [REPO_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- database ----------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'chiplab.sqlite3'}")
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file (not :memory:) so that a worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-chiplab.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 30
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL;"
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    # A database that does not answer (host down, network) fails a request in seconds (a 503,
    # common.errors.unavailable) instead of holding it for the system's TCP timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
    )
    # A kept connection that a database restart broke is replaced before its next request
    # uses it (else each server thread would answer one 503 after the database is back).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if PRODUCTION and _example_secret(DATABASES["default"].get("PASSWORD")):
        raise ImproperlyConfigured(
            "DATABASE_URL has a published example password; set the database's own one."
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- object storage ----------------------------------------------------------------
CHIPLAB_STORAGE = env.str("CHIPLAB_STORAGE", default="local")  # local | s3
if CHIPLAB_STORAGE == "s3":
    from botocore.config import Config as _BotoConfig

    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
            "access_key": env.str("S3_ACCESS_KEY", default=None),
            "secret_key": env.str("S3_SECRET_KEY", default=None),
            "bucket_name": env.str("S3_BUCKET", default="chiplab"),
            "region_name": env.str("S3_REGION", default="us-east-1"),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env.int("S3_URL_EXPIRY_SECONDS", default=300),
            "file_overwrite": True,
            "signature_version": "s3v4",
            "addressing_style": "path",
            # a store that does not answer fails a request in seconds (a 503, see
            # common.errors.unavailable), not after botocore's 60 s x 5 attempts; a given
            # client_config replaces django-storages' own, so it repeats the two lines above
            "client_config": _BotoConfig(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                connect_timeout=env.int("S3_CONNECT_TIMEOUT", default=5),
                read_timeout=env.int("S3_READ_TIMEOUT", default=60),
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        },
    }
elif CHIPLAB_STORAGE == "local":
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # overwrite in place, like S3: two writers of one key (a re-delivered ingest) must
        # not get a renamed copy
        "OPTIONS": {
            "location": str(DATA_DIR / "objects"),
            "base_url": None,
            "allow_overwrite": True,
        },
    }
else:
    raise ImproperlyConfigured("CHIPLAB_STORAGE must be 'local' or 's3'.")
if PRODUCTION and CHIPLAB_STORAGE == "s3":
    _s3 = _default_storage["OPTIONS"]
    if not _s3["access_key"] or not _s3["secret_key"] or _example_secret(_s3["secret_key"]):
        raise ImproperlyConfigured(
            "Production with CHIPLAB_STORAGE=s3 needs S3_ACCESS_KEY and S3_SECRET_KEY of the "
            "app's own storage user (not an example value)."
        )
    if _s3["access_key"] == env.str("MINIO_ROOT_USER", default="") or _s3["access_key"] in {
        "minioadmin",
        "root",
    }:
        raise ImproperlyConfigured(
            "S3_ACCESS_KEY is the storage server's root user; give the app a user limited to "
            "its bucket (infra/compose.yaml's minio-setup creates one)."
        )

# The address browsers use for presigned downloads when the app reaches S3 on a private
# name (compose: http://minio:9000 inside, MinIO's published port outside); URLs are signed
# for this host. Unset: the endpoint above.
S3_PUBLIC_ENDPOINT_URL = env.str("S3_PUBLIC_ENDPOINT_URL", default=None)

STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [REPO_DIR / "frontend" / "static"]

# --- uploads -----------------------------------------------------------------------
# Uploads above 2.5 MB stream to a temporary file, never into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = env.str("CHIPLAB_UPLOAD_TMP", default=None)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
CHIPLAB_MAX_UPLOAD_BYTES = env.int("CHIPLAB_MAX_UPLOAD_BYTES", default=2 * 1024**3)
# Direct upload (S3 only): the client PUTs parts of a file straight to the object store with
# presigned URLs, then commits; the API checks size and sha256 and ingests as for an upload.
CHIPLAB_DIRECT_UPLOAD_MAX_BYTES = env.int("CHIPLAB_DIRECT_UPLOAD_MAX_BYTES", default=20 * 1024**3)
# Part size: at least this (S3's minimum is 5 MiB), larger when the file needs more parts.
CHIPLAB_DIRECT_UPLOAD_PART_BYTES = env.int("CHIPLAB_DIRECT_UPLOAD_PART_BYTES", default=64 * 1024**2)
CHIPLAB_DIRECT_UPLOAD_MAX_PARTS = env.int("CHIPLAB_DIRECT_UPLOAD_MAX_PARTS", default=1000)
# An upload not committed by then is aborted (its parts deleted); its URLs stop working.
CHIPLAB_DIRECT_UPLOAD_EXPIRY_SECONDS = env.int(
    "CHIPLAB_DIRECT_UPLOAD_EXPIRY_SECONDS", default=86400
)
CHIPLAB_DIRECT_UPLOADS_OPEN_PER_DATASET = env.int(
    "CHIPLAB_DIRECT_UPLOADS_OPEN_PER_DATASET", default=100
)
# Import in place: objects under a prefix become images. Curators may read the platform's
# bucket under imports/<lab id>/ only, and the buckets listed here (operator-trusted).
CHIPLAB_IMPORT_BUCKETS = env.list("CHIPLAB_IMPORT_BUCKETS", default=[])
CHIPLAB_IMPORT_MAX_OBJECTS = env.int("CHIPLAB_IMPORT_MAX_OBJECTS", default=200)
# Dataset packages (a version's RO-Crate zip) imported as new datasets (catalog.archive):
# the zip's size, and what it unpacks to (summed from its directory before anything is read)
CHIPLAB_ARCHIVE_MAX_BYTES = env.int("CHIPLAB_ARCHIVE_MAX_BYTES", default=2 * 1024**3)
CHIPLAB_ARCHIVE_MAX_UNPACKED_BYTES = env.int(
    "CHIPLAB_ARCHIVE_MAX_UNPACKED_BYTES", default=4 * 1024**3
)
# Decompression-bomb guards, checked from the file's header before any decoding: width x
# height x frames, and decoded bytes (pixels x samples per pixel x bytes per sample, every
# frame; the default is the upload limit, so any uncompressed file accepted by size fits).
CHIPLAB_MAX_PIXELS = env.int("CHIPLAB_MAX_PIXELS", default=1024**3)
# Full-resolution tiles of images ingested before tiles existed are cut on the first request
# (catalog.tiles) up to this many pixels; larger ones get theirs when re-ingested
CHIPLAB_TILES_MAX_PIXELS = env.int("CHIPLAB_TILES_MAX_PIXELS", default=8192**2)
# Re-deriving a published result (analysis.rederive) reads its image and the support set's
# images in the web process: at most this many pixels (all frames) per request
CHIPLAB_REDERIVE_MAX_PIXELS = env.int("CHIPLAB_REDERIVE_MAX_PIXELS", default=8192**2)
CHIPLAB_MAX_DECODED_BYTES = env.int("CHIPLAB_MAX_DECODED_BYTES", default=2 * 1024**3)
# Chips per grid: bounds the time of one segmentation (a job is cancelled between frames).
CHIPLAB_MAX_CHIPS_PER_GRID = env.int("CHIPLAB_MAX_CHIPS_PER_GRID", default=512**2)

# --- bounded jobs (labeling.services.support_sets, analysis.services.job_bounds_check) ------
# Support chips a frozen version may hold, in all and per class (a job refits on them and the
# bootstrap resamples them), and the versions a schema may accumulate (its list is not paged).
CHIPLAB_MAX_SUPPORT_CHIPS = env.int("CHIPLAB_MAX_SUPPORT_CHIPS", default=2000)
CHIPLAB_MAX_SUPPORT_CHIPS_PER_CLASS = env.int("CHIPLAB_MAX_SUPPORT_CHIPS_PER_CLASS", default=500)
CHIPLAB_MAX_VERSIONS_PER_SCHEMA = env.int("CHIPLAB_MAX_VERSIONS_PER_SCHEMA", default=1000)
# Chips one job classifies (every frame of every image: frames x chips), and bootstrap
# resamples x those chips (each resample relabels every chip).
CHIPLAB_MAX_JOB_CHIPS = env.int("CHIPLAB_MAX_JOB_CHIPS", default=2**24)
CHIPLAB_MAX_JOB_BOOTSTRAP_CHIPS = env.int("CHIPLAB_MAX_JOB_BOOTSTRAP_CHIPS", default=4 * 10**9)
# A job's estimated peak memory in a worker (support images, the largest image's pixels,
# embeddings and maps, the bootstrap's prototypes); over it the job is refused with HTTP 413.
CHIPLAB_JOB_MEMORY_BUDGET_MB = env.int("CHIPLAB_JOB_MEMORY_BUDGET_MB", default=4096)
# Images whose decoded pixels and embeddings a running job keeps in memory at once (LRU).
CHIPLAB_JOB_IMAGE_CACHE = max(env.int("CHIPLAB_JOB_IMAGE_CACHE", default=4), 1)

# --- Celery ------------------------------------------------------------------------
# The embedded broker's folder (tests give a worker of their own a private one).
_broker_dir = Path(env.str("CHIPLAB_BROKER_DIR", default=str(DATA_DIR / "broker")))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The filesystem transport polls; 0.1 s keeps re-runs interactive at little cost.
        "polling_interval": 0.1,
    }
if CELERY_BROKER_URL.startswith(("redis", "rediss", "sentinel")):
    # One list per priority level, polled 0 first: fair sharing (workers.celery_app.route).
    CELERY_BROKER_TRANSPORT_OPTIONS["priority_steps"] = list(range(10))
# RabbitMQ serves priorities only on queues declared with x-max-priority (at their creation:
# a queue declared before without it must be deleted once, see README).
CELERY_TASK_QUEUE_MAX_PRIORITY = 10
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_DEFAULT_QUEUE = "default"
# Routes: each task names its queue in workers.tasks.base.chiplab_task ("gpu" for heavy work).
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- MLflow ------------------------------------------------------------------------
MLFLOW_TRACKING_URI = env.str(
    "MLFLOW_TRACKING_URI", default=f"sqlite:///{DATA_DIR / 'mlflow.sqlite3'}"
)
MLFLOW_ARTIFACT_ROOT = env.str("MLFLOW_ARTIFACT_ROOT", default=(DATA_DIR / "mlartifacts").as_uri())

# --- registry (model versions, training, promotion) ----------------------------------
# Registered name of the platform-wide default encoder; its `champion` serves labs without one.
CHIPLAB_DEFAULT_MODEL = env.str("CHIPLAB_DEFAULT_MODEL", default="chiplab-default")
# A challenger whose held-out accuracy beats the champion's by at least this margin (0..1) is
# promoted automatically after training; unset = promotion is always a curator's decision.
CHIPLAB_AUTO_PROMOTE_MARGIN = env.float("CHIPLAB_AUTO_PROMOTE_MARGIN", default=None)
# Local copies of model artifacts fetched from MLflow (a cache: safe to delete).
CHIPLAB_MODEL_CACHE_DIR = Path(
    env.str("CHIPLAB_MODEL_CACHE_DIR", default=str(DATA_DIR / "models"))
).resolve()
# Encoders kept in memory per worker process.
CHIPLAB_ENCODER_CACHE_SIZE = env.int("CHIPLAB_ENCODER_CACHE_SIZE", default=4)
# Images of at least this many pixels are embedded with the lab's champion as soon as a grid
# is created (the Segment click then only classifies); 0 = every image, -1 = never.
CHIPLAB_PREFETCH_MIN_PIXELS = env.int("CHIPLAB_PREFETCH_MIN_PIXELS", default=2048 * 2048)
if CHIPLAB_PREFETCH_MIN_PIXELS < 0:
    CHIPLAB_PREFETCH_MIN_PIXELS = 2**62
# Memory per worker process for re-runs (embeddings, normalised frames and their spectra,
# previews): a 4096^2 image takes ~150 MiB. Bounded to 16..16384 MiB.
CHIPLAB_WORKER_CACHE_MB = min(max(env.int("CHIPLAB_WORKER_CACHE_MB", default=512), 16), 16384)
# Largest accepted imported state dict.
CHIPLAB_MAX_MODEL_UPLOAD_BYTES = env.int("CHIPLAB_MAX_MODEL_UPLOAD_BYTES", default=512 * 1024**2)
# Upper bound on fine-tuning effort per job.
CHIPLAB_TRAIN_MAX_EPOCHS = env.int("CHIPLAB_TRAIN_MAX_EPOCHS", default=100)
# unfinished jobs a lab may have at once (more: 429 queue_full), so one lab cannot fill the
# shared workers' queue
CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB = env.int("CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB", default=50)
CHIPLAB_MAX_ACTIVE_TRAINING_PER_LAB = env.int("CHIPLAB_MAX_ACTIVE_TRAINING_PER_LAB", default=3)
# ...and one member may have at once (segmentation and training jobs each), so that one person
# cannot take their whole lab's allowance; 0 = no per-user cap
CHIPLAB_MAX_ACTIVE_JOBS_PER_USER = env.int("CHIPLAB_MAX_ACTIVE_JOBS_PER_USER", default=20)
# Cost quota: chips x frames a lab's segmentation jobs may classify per day (UTC), counted when
# a job is created; over it HTTP 429 quota_exceeded until midnight UTC. 0 = no quota.
CHIPLAB_DAILY_CHIPS_PER_LAB = env.int("CHIPLAB_DAILY_CHIPS_PER_LAB", default=100_000_000)
_caps = (CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB, CHIPLAB_MAX_ACTIVE_TRAINING_PER_LAB)
if min(*_caps, CHIPLAB_MAX_ACTIVE_JOBS_PER_USER, CHIPLAB_DAILY_CHIPS_PER_LAB) < 0:
    raise ImproperlyConfigured("Job caps and CHIPLAB_DAILY_CHIPS_PER_LAB must be 0 or more.")
CHIPLAB_TRAIN_TIME_LIMIT = env.int("CHIPLAB_TRAIN_TIME_LIMIT", default=6 * 3600)
# --- end registry ----------------------------------------------------------------

# --- worker faults (workers.tasks.base) ------------------------------------------------
# Deliveries of one job (segmentation, training, ingest) that may be lost with their worker
# process (killed, e.g. out of memory) before the job fails with that reason instead of
# being requeued again. Retries after transient errors are bounded apart.
CHIPLAB_JOB_MAX_ATTEMPTS = max(env.int("CHIPLAB_JOB_MAX_ATTEMPTS", default=3), 1)
# Memory (heap and private mappings) one worker pool process may use, in MiB: past it an
# allocation fails and the job records "Out of memory". 0 = 80% of the machine's memory shared
# among the worker's processes; -1 = no cap.
CHIPLAB_WORKER_MAX_MEMORY_MB = env.int("CHIPLAB_WORKER_MAX_MEMORY_MB", default=0)
# The longest any task may run (its hard time limit): training, or a segmentation job (1 h).
# Brokers that redeliver a message not acknowledged in time (Redis, SQS) wait longer than
# that, or a long job would be run a second time while the first still runs.
CHIPLAB_MAX_TASK_SECONDS = max(CHIPLAB_TRAIN_TIME_LIMIT, 3600) + 30
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = CHIPLAB_MAX_TASK_SECONDS + 300


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
def _rate(name: str, default: str) -> str:
    rate = env.str(name, default=default)
    if not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", rate):
        raise ImproperlyConfigured(f"{name} must be a rate like 10/min (per s, min, hour or day).")
    return rate


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
        "login": _rate("CHIPLAB_LOGIN_RATE", "10/min"),
        "register": _rate("CHIPLAB_REGISTER_RATE", "20/hour"),
        # opening and accepting invitation links, asking for a password reset (per address)
        "invitations": _rate("CHIPLAB_INVITATION_RATE", "60/hour"),
        "password_reset": _rate("CHIPLAB_PASSWORD_RESET_RATE", "10/hour"),
        # creations per user (common.throttling.CreationRateThrottle)
        "jobs": _rate("CHIPLAB_JOB_CREATE_RATE", "60/min"),
        "training": _rate("CHIPLAB_TRAINING_CREATE_RATE", "20/hour"),
        "imports": _rate("CHIPLAB_IMPORT_CREATE_RATE", "30/hour"),
        # re-deriving a published result runs a segmentation in the web process (per address)
        "rederive": _rate("CHIPLAB_REDERIVE_RATE", "30/hour"),
        # searches (each a few queries over every visible image; per address)
        "search": _rate("CHIPLAB_SEARCH_RATE", "120/min"),
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
    },
}

# --- i18n / misc -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
CHIPLAB_CODE_VERSION = env.str("CHIPLAB_CODE_VERSION", default="")
CHIPLAB_OPEN_SIGNUP = env.bool("CHIPLAB_OPEN_SIGNUP", default=not PRODUCTION)

# --- e-mail (lab invitations, password resets) ---------------------------------------
# Printed to the web process's log by default; SMTP from CHIPLAB_EMAIL_URL, e.g.
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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("CHIPLAB_LOG_LEVEL", default="INFO")},
}
