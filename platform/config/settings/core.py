"""Paths, apps, middleware, templates, the database, locale and logging."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .environment import PRODUCTION, REPO_DIR, env, example_secret

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
    if PRODUCTION and example_secret(DATABASES["default"].get("PASSWORD")):
        raise ImproperlyConfigured(
            "DATABASE_URL has a published example password; set the database's own one."
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- i18n / misc -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
CHIPLAB_CODE_VERSION = env.str("CHIPLAB_CODE_VERSION", default="")
CHIPLAB_OPEN_SIGNUP = env.bool("CHIPLAB_OPEN_SIGNUP", default=not PRODUCTION)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("CHIPLAB_LOG_LEVEL", default="INFO")},
}
