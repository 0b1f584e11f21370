"""The images' tags and key-value pairs in a dataset package (``annotations`` of
``chiplab-archive.json``, keyed by the source image id): checked like the API's input before
anything is stored, then restored on the new images."""

from __future__ import annotations

from catalog.annotations import clean_pairs, clean_tags
from catalog.models import Image, ImageKeyValue, ImageTag
from common.errors import Invalid

from .package import invalid

#: source image id -> (tags, [(key, value), ...]), as stored
Annotations = dict[str, tuple[list[str], list[tuple[str, str]]]]


def check_annotations(doc: dict, image_ids: set[str]) -> Annotations:
    """The package's annotations, cleaned and bounded like ``image_annotations_set``'s; a
    package without them (made before they were exported) has none."""
    given = doc.get("annotations") or {}
    if not isinstance(given, dict):
        raise invalid("annotations must map image ids to tags and pairs.", "inconsistent")
    out: Annotations = {}
    for image_id, entry in given.items():
        if image_id not in image_ids:
            raise invalid(f"annotations name image {image_id[:40]}, not in the package.")
        if not isinstance(entry, dict):
            raise invalid(f"The annotations of image {image_id[:40]} are not an object.")
        try:
            out[image_id] = (
                clean_tags(entry.get("tags") or []),
                clean_pairs(entry.get("pairs") or []),
            )
        except Invalid as err:
            raise invalid(
                f"The annotations of image {image_id[:40]}: {err.message}", "inconsistent"
            ) from err
    return out


def restore_annotations(annotations: Annotations, *, images: dict[str, Image], user) -> None:
    """Tag the new images (``images``: source id -> new image) as the package says."""
    tags, pairs = [], []
    for source_id, (names, kv) in annotations.items():
        image = images[source_id]
        tags += [ImageTag(image=image, name=name, created_by=user) for name in names]
        pairs += [
            ImageKeyValue(image=image, key=k, value=v, position=i, created_by=user)
            for i, (k, v) in enumerate(kv)
        ]
    ImageTag.objects.bulk_create(tags)
    ImageKeyValue.objects.bulk_create(pairs)
