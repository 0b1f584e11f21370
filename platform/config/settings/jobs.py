"""Jobs and workers: bounded jobs, Celery, MLflow, the registry, caps and worker faults."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .core import DATA_DIR
from .environment import env

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
        # The filesystem transport polls its folder. Every 0.1 s, a job waited 50 ms on average
        # before a worker took it (a 1024^2 re-run takes ~0.3 s); every 0.02 s, 10-35 ms, and
        # an idle worker uses 1.4 % of a core instead of 0.3 % (chiplab_bench_segment).
        "polling_interval": 0.02,
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
# Labs one person may own at once (each lab has its own caps, quota and turn in the fair
# order, so free labs would multiply a person's share); more: 429 too_many_labs. 0 = no cap.
CHIPLAB_MAX_OWNED_LABS_PER_USER = env.int("CHIPLAB_MAX_OWNED_LABS_PER_USER", default=10)
# Cost quota: chips x frames a lab's segmentation jobs may classify per day (UTC), counted when
# a job is created; over it HTTP 429 quota_exceeded until midnight UTC. 0 = no quota.
CHIPLAB_DAILY_CHIPS_PER_LAB = env.int("CHIPLAB_DAILY_CHIPS_PER_LAB", default=100_000_000)
_caps = (CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB, CHIPLAB_MAX_ACTIVE_TRAINING_PER_LAB)
_caps += (CHIPLAB_MAX_ACTIVE_JOBS_PER_USER, CHIPLAB_MAX_OWNED_LABS_PER_USER)
if min(*_caps, CHIPLAB_DAILY_CHIPS_PER_LAB) < 0:
    raise ImproperlyConfigured(
        "Job and lab caps and CHIPLAB_DAILY_CHIPS_PER_LAB must be 0 or more."
    )
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
# Background work on a host (a job's downloads, the chip-size check) starts a step only once
# the work a user waits for (a job's fit and map) has been over this long, in seconds
# (common.priority): a correction's re-run then does not share the cores with it. 0 on a host
# with cores to spare; at most 60.
CHIPLAB_BACKGROUND_GRACE_SECONDS = min(
    max(env.float("CHIPLAB_BACKGROUND_GRACE_SECONDS", default=2.0), 0.0), 60.0
)
# Minutes after a user's segmentation job on an image during which their clicks on its grid
# start the re-run ahead of the Segment click (analysis.runner.ahead: the worker fits and
# classifies the working set as it now stands, and the job that asks for exactly that takes
# the map). 0 turns it off; at most 1440.
CHIPLAB_SEGMENT_AHEAD_MINUTES = min(
    max(env.int("CHIPLAB_SEGMENT_AHEAD_MINUTES", default=60), 0), 1440
)
# Bytes of one job's frames whose pixel outputs wait for their downloads (analysis.runner.
# downloads: ~80 MB a 4096^2 frame): past it the job's own task writes the oldest frame's
# downloads before it classifies the next, so that a long series or batch on a busy host
# does not fill the disk with them. At least one frame waits whatever the bound.
CHIPLAB_PENDING_DOWNLOADS_BYTES = max(
    env.int("CHIPLAB_PENDING_DOWNLOADS_BYTES", default=1024**3), 0
)
# The longest any task may run (its hard time limit): training, or a segmentation job (1 h).
# Brokers that redeliver a message not acknowledged in time (Redis, SQS) wait longer than
# that, or a long job would be run a second time while the first still runs.
CHIPLAB_MAX_TASK_SECONDS = max(CHIPLAB_TRAIN_TIME_LIMIT, 3600) + 30
CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = CHIPLAB_MAX_TASK_SECONDS + 300
