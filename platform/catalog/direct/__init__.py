"""Direct and bulk ingest through the object store (S3/MinIO, with the ``minio`` SDK).

Direct upload (``uploads``): ``direct_upload_create`` starts a multipart upload of a staged
object and presigns a URL for each part; the client PUTs the parts straight to the object
store; ``direct_upload_commit`` checks that every part arrived and queues the commit, which a
worker runs (``commit``): it completes the upload, checks its size and sha256 (streamed, the
bytes hashed so far recorded for the client to show), and makes an image of it exactly like
a normal upload (same checks, same ingest). A refused or failed commit deletes the staged
object and records why: nothing half-stored. Uploads expire.

Import in place (``imports``): ``dataset_import_objects`` makes an image of every object
under a prefix of an allowed bucket, each checked like an upload; per-object errors are
reported, not raised.
"""

from .commit import direct_upload_commit_run, direct_upload_mark_failed
from .imports import dataset_import_objects
from .store import part_plan, part_size, part_urls, received_parts
from .uploads import (
    direct_upload_abort,
    direct_upload_commit,
    direct_upload_create,
    direct_upload_get,
    direct_upload_state,
    direct_uploads_expire,
    direct_uploads_of,
)

__all__ = [
    "dataset_import_objects",
    "direct_upload_abort",
    "direct_upload_commit",
    "direct_upload_commit_run",
    "direct_upload_create",
    "direct_upload_get",
    "direct_upload_mark_failed",
    "direct_upload_state",
    "direct_uploads_expire",
    "direct_uploads_of",
    "part_plan",
    "part_size",
    "part_urls",
    "received_parts",
]
