"""Settings for the test suite: the normal settings with test-only data dir and fast hashing."""

import os
from pathlib import Path

os.environ.setdefault("CHIPLAB_DATA_DIR", str(Path(__file__).resolve().parents[2] / "var" / "test"))

from .settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# The suite signs in, registers and creates jobs far more often than any person; tests of the
# throttles lower these.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    # every scope of the production rates (a new scope cannot be forgotten here)
    "DEFAULT_THROTTLE_RATES": {
        scope: "10000/min"
        for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]  # noqa: F405
    },
}
CHIPLAB_LOGIN_BACKOFF_AFTER = 10000  # tests of the backoff lower it
# a job's downloads start at once after its map (tests of the grace raise it)
CHIPLAB_BACKGROUND_GRACE_SECONDS = 0.0
# Deliveries behave as in production (internal addresses refused) except to 127.0.0.1, where
# tests run their receivers; retries come quickly.
CHIPLAB_WEBHOOK_REFUSE_PRIVATE = True
CHIPLAB_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
CHIPLAB_WEBHOOK_RETRY_BASE_SECONDS = 0.5
CHIPLAB_WEBHOOK_TIMEOUT_SECONDS = 5.0
