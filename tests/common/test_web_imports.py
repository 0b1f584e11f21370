"""The web process never imports torch: a gunicorn worker that did would spend seconds of CPU
and hundreds of MB on its first request. Only the worker (and re-derivation, on demand) runs
the segmentation. Sending a job counts: the web process imports the task and ranks its message
(``workers.celery_app.route``); a rank that imported the runner made the first Segment click
after a start wait 3-5 s (twenty-fifth session)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
sys.modules["torch"] = None  # any import of torch now raises ImportError
import django
django.setup()
from django.urls import get_resolver
from config import wsgi  # noqa: F401  (what gunicorn loads)

def walk(patterns):
    for p in patterns:
        if hasattr(p, "url_patterns"):
            walk(p.url_patterns)
        else:
            p.callback  # imports the view's module
walk(get_resolver().url_patterns)

import uuid
from django.db import DatabaseError
from django.utils.module_loading import import_string
from workers import celery_app

for name, rank in celery_app.RANKS.items():
    import_string(name)  # the task, as enqueue() sends it
    try:
        rank(str(uuid.uuid4()))  # its message's rank (route() would hide an ImportError)
    except DatabaseError:  # no tables in this process's database: the imports were made
        pass
print("ok")
"""


def test_url_configuration_views_and_job_messages_load_without_torch():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT / "platform",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
