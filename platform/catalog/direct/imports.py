"""Import in place: every object under a bucket prefix made an image of a dataset, each
checked like an upload and copied to the image's own key (the source is left as it is)."""

from django.conf import settings

from accounts.models import Role
from accounts.selectors import require_role
from common import storage
from common.errors import ChiplabError, Invalid, TooLarge

from ..models import Dataset, Image
from .commit import _image_from_object
from .store import s3, s3_error
from .uploads import _clean_filename


def _import_source(dataset: Dataset, bucket: str, prefix: str) -> None:
    own = storage.s3_bucket()
    allowed = [b for b in settings.CHIPLAB_IMPORT_BUCKETS if b]
    lab_prefix = f"imports/{dataset.lab_id}/"
    if bucket == own:
        if not prefix.startswith(lab_prefix) or ".." in prefix.split("/"):
            raise Invalid(
                f"In the platform's bucket, imports read only under '{lab_prefix}' (this lab's "
                "drop folder).",
                code="import_not_allowed",
                fields={"prefix": [f"must start with {lab_prefix}"]},
            )
    elif bucket not in allowed:
        raise Invalid(
            f"Bucket '{bucket}' is not open to imports on this server (CHIPLAB_IMPORT_BUCKETS).",
            code="import_not_allowed",
            fields={"bucket": ["not allowed"]},
        )


def _listed(client, bucket: str, prefix: str) -> list:
    """The objects under the prefix; 413 past CHIPLAB_IMPORT_MAX_OBJECTS."""
    limit = settings.CHIPLAB_IMPORT_MAX_OBJECTS
    objects = []
    try:
        for obj in client.list_objects(bucket, prefix=prefix, recursive=True):
            if obj.is_dir or obj.object_name.endswith("/"):
                continue
            objects.append(obj)
            if len(objects) > limit:
                raise TooLarge(
                    f"More than {limit} objects under '{prefix}'; one import takes at most "
                    f"{limit}. Import a narrower prefix.",
                    code="too_many_objects",
                )
    except ChiplabError:
        raise
    except Exception as err:
        raise s3_error(err, f"Listing {bucket}/{prefix}") from err
    if not objects:
        raise Invalid(f"No objects under '{prefix}' in bucket '{bucket}'.", code="empty_prefix")
    return objects


def dataset_import_objects(*, user, dataset: Dataset, bucket: str, prefix: str) -> dict:
    """Make an image of every object under ``bucket``/``prefix`` (curators), each checked like
    an upload and copied to the image's own key (the source is left as it is).

    More objects than ``CHIPLAB_IMPORT_MAX_OBJECTS``: 413 before anything is imported.
    Returns ``{"images": [...], "errors": [{"key", "code", "message"}]}``."""
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    client, _ = s3()
    bucket = (bucket or "").strip() or storage.s3_bucket()
    prefix = (prefix or "").lstrip("/")
    _import_source(dataset, bucket, prefix)
    objects = _listed(client, bucket, prefix)
    images: list[Image] = []
    errors: list[dict] = []
    max_bytes = settings.CHIPLAB_DIRECT_UPLOAD_MAX_BYTES
    for obj in objects:
        name = obj.object_name
        try:
            if obj.size is not None and obj.size > max_bytes:
                raise TooLarge(
                    f"The object is {obj.size} bytes; this server takes at most {max_bytes}.",
                    code="file_too_large",
                )
            images.append(
                _image_from_object(
                    user=user,
                    dataset=dataset,
                    bucket=bucket,
                    key=name,
                    filename=_clean_filename(name),
                    size=None,
                    sha256=None,
                    move=False,
                )
            )
        except ChiplabError as err:
            errors.append({"key": name, "code": err.code, "message": err.message})
    return {"images": images, "errors": errors}
