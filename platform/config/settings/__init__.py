"""Chiplab settings: everything comes from the environment, with embedded-mode defaults.

Embedded mode (the default) needs no external service: SQLite, files on local disk, a
filesystem Celery broker and MLflow on a local SQLite store, all under ``CHIPLAB_DATA_DIR``.
Services mode is the same code pointed at Postgres, MinIO/S3, Redis/RabbitMQ and an MLflow
server through the variables listed in ``infra/.env.example``.

``DJANGO_SETTINGS_MODULE=config.settings`` names this package; its modules hold the settings
by concern, each importing from the others what it reads (none reads ``django.conf``):

- ``environment``: the ``.env`` file, ``CHIPLAB_MODE``, helpers (example secrets, rates)
- ``security``: DEBUG and the bind address, secret key, hosts, production's refusals, TLS
- ``core``: data folder, apps, middleware, templates, database, locale, logging
- ``storage``: object storage, static files, uploads, decoding limits
- ``jobs``: bounded jobs, Celery, MLflow, registry, caps and quotas, worker faults
- ``api``: webhooks, rate limits and sign-in backoff, caches, DRF, OpenAPI
- ``people``: e-mail, invitation, password reset and token lifetimes
"""

from .api import *  # noqa: F403
from .core import *  # noqa: F403
from .environment import *  # noqa: F403
from .jobs import *  # noqa: F403
from .people import *  # noqa: F403
from .security import *  # noqa: F403
from .storage import *  # noqa: F403
