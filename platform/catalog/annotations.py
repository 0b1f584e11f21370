"""Tags and key-value annotations on images (as OMERO's tag and map annotations).

Visible exactly when their image is (``catalog.selectors.image_get``); written by the lab's
annotators and above, all at once: ``image_annotations_set`` replaces an image's tags and
pairs in one transaction, so that what the page shows is what is stored.
"""

import unicodedata

from django.db import transaction

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Invalid

from .models import Image, ImageKeyValue, ImageTag

MAX_TAGS = 50  # per image
MAX_TAG_LENGTH = 64
MAX_PAIRS = 100  # key-value pairs per image
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 1024


def _text(value, *, what: str, field: str, limit: int, blank: bool = False) -> str:
    if not isinstance(value, str):
        raise Invalid(f"Each {what} must be text.", fields={field: ["not text"]})
    # one spelling per text (NFC), single spaces, no control characters
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise Invalid(f"A {what} cannot hold control characters.", fields={field: ["control"]})
    if not text and not blank:
        raise Invalid(f"A {what} cannot be empty.", fields={field: ["blank"]})
    if len(text) > limit:
        raise Invalid(
            f"A {what} has at most {limit} characters ({text[:20]}… has {len(text)}).",
            fields={field: [f"at most {limit} characters"]},
        )
    return text


def clean_tags(tags) -> list[str]:
    """Tags as stored: trimmed, unique (case-insensitively, the first spelling kept), in order."""
    if not isinstance(tags, list | tuple):
        raise Invalid("tags must be a list of texts.", fields={"tags": ["not a list"]})
    out, seen = [], set()
    for tag in tags:
        tag = _text(tag, what="tag", field="tags", limit=MAX_TAG_LENGTH)
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise Invalid(
            f"An image has at most {MAX_TAGS} tags ({len(out)} given).",
            fields={"tags": [f"at most {MAX_TAGS}"]},
        )
    return out


def clean_pairs(pairs) -> list[tuple[str, str]]:
    """Key-value pairs as stored: trimmed, keys unique, in the order given."""
    if not isinstance(pairs, list | tuple):
        raise Invalid("pairs must be a list.", fields={"pairs": ["not a list"]})
    if len(pairs) > MAX_PAIRS:
        raise Invalid(
            f"An image has at most {MAX_PAIRS} key-value pairs ({len(pairs)} given).",
            fields={"pairs": [f"at most {MAX_PAIRS}"]},
        )
    out, keys = [], set()
    for pair in pairs:
        if not isinstance(pair, dict) or set(pair) - {"key", "value"} or "key" not in pair:
            raise Invalid('Each pair is {"key": …, "value": …}.', fields={"pairs": ["not a pair"]})
        key = _text(pair["key"], what="key", field="pairs", limit=MAX_KEY_LENGTH)
        value = _text(
            pair.get("value", ""), what="value", field="pairs", limit=MAX_VALUE_LENGTH, blank=True
        )
        if key in keys:
            raise Invalid(f"The key {key!r} is given twice.", fields={"pairs": ["duplicate key"]})
        keys.add(key)
        out.append((key, value))
    return out


def image_annotations(*, image: Image) -> dict:
    """``{"tags": [...], "pairs": [{"key", "value"}, ...]}`` of an image the caller may see."""
    return {
        "tags": list(image.tags.order_by("name").values_list("name", flat=True)),
        "pairs": [
            {"key": k, "value": v}
            for k, v in image.key_values.order_by("position").values_list("key", "value")
        ],
    }


def annotations_by_image(image_ids) -> dict[str, dict]:
    """``{image id: {"tags": [...], "pairs": [{"key", "value"}, ...]}}`` of the images that
    have any (two queries; for a dataset package, whose caller checked access)."""
    out: dict[str, dict] = {}
    tags = ImageTag.objects.filter(image_id__in=image_ids).order_by("image_id", "name")
    for image_id, name in tags.values_list("image_id", "name"):
        out.setdefault(str(image_id), {"tags": [], "pairs": []})["tags"].append(name)
    pairs = ImageKeyValue.objects.filter(image_id__in=image_ids).order_by("image_id", "position")
    for image_id, key, value in pairs.values_list("image_id", "key", "value"):
        entry = out.setdefault(str(image_id), {"tags": [], "pairs": []})
        entry["pairs"].append({"key": key, "value": value})
    return out


@transaction.atomic
def image_annotations_set(*, user, image: Image, tags=None, pairs=None) -> dict:
    """Replace an image's tags and/or key-value pairs (None: leave them as they are)."""
    require_role(user=user, lab_id=image.dataset.lab_id, role=Role.ANNOTATOR)
    if tags is not None:
        tags = clean_tags(tags)
    if pairs is not None:
        pairs = clean_pairs(pairs)
    # one writer of an image's annotations at a time: the second waits, then replaces
    Image.objects.select_for_update().filter(pk=image.pk).values_list("pk").first()
    if tags is not None:
        ImageTag.objects.filter(image=image).delete()
        ImageTag.objects.bulk_create(
            [ImageTag(image=image, name=name, created_by=user) for name in tags]
        )
    if pairs is not None:
        ImageKeyValue.objects.filter(image=image).delete()
        ImageKeyValue.objects.bulk_create(
            [
                ImageKeyValue(image=image, key=k, value=v, position=i, created_by=user)
                for i, (k, v) in enumerate(pairs)
            ]
        )
    return image_annotations(image=image)
