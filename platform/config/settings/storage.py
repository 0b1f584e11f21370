"""Object storage (local disk or S3), static files, uploads and decoding limits."""

from django.core.exceptions import ImproperlyConfigured

from .core import DATA_DIR
from .environment import PRODUCTION, REPO_DIR, env, example_secret

# --- object storage ----------------------------------------------------------------
CHIPLAB_STORAGE = env.str("CHIPLAB_STORAGE", default="local")  # local | s3
# an object read from S3 (an original, an archive) is buffered in memory up to this size and in
# a temporary file beyond it; django-storages' default (0) holds whole objects in memory
S3_MAX_MEMORY_SIZE = 8 * 1024 * 1024
if CHIPLAB_STORAGE == "s3":
    # botocore, boto3: only S3 storage needs them
    from boto3.s3.transfer import TransferConfig as _TransferConfig
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
            "max_memory_size": S3_MAX_MEMORY_SIZE,
            # what a transfer holds in memory besides that: boto3's defaults (10 threads, a
            # queue of 100 parts of 256 KB waiting to be written) let a fast store fill 70 MB
            # while a large original is read; 4 threads and 32 queued parts keep it near 8 MB
            "transfer_config": _TransferConfig(max_concurrency=4, max_io_queue=32),
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
    if not _s3["access_key"] or not _s3["secret_key"] or example_secret(_s3["secret_key"]):
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
# Dataset packages (a version's RO-Crate zip) imported as new datasets (publishing.archive):
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
