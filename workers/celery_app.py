"""The Celery application: `celery -A workers.celery_app worker -Q default,gpu`."""

import os
import sys
from pathlib import Path

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "platform") not in sys.path:
    sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# filesystem:// (the embedded default) with atomic message writes: see workers.broker
TRANSPORT_ALIASES["filesystem"] = "workers.broker:Transport"

app = Celery("chiplab")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Filled by workers.tasks.base.chiplab_task: task name -> queue ("default" or "gpu").
TASK_QUEUES: dict[str, dict[str, str]] = {}
app.conf.task_routes = [TASK_QUEUES]
app.conf.include = [
    "workers.tasks.ingest",
    "workers.tasks.segment",
    "workers.tasks.train",
    "workers.tasks.webhooks",
]
