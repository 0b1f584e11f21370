"""Where an image's files are stored: its folder, previews and the lab's embeddings."""

import uuid

from common import storage

from ..models import Dataset, Image


def image_prefix(dataset: Dataset, image_id: uuid.UUID) -> str:
    return f"labs/{dataset.lab_id}/datasets/{dataset.pk}/images/{image_id}"


def _image_keys(image: Image) -> list[str]:
    frames = [frame_preview_key(image, i) for i in range(1, image.preview_frames)]
    return [k for k in (image.original_key, image.preview_key, image.thumbnail_key) if k] + frames


#: time series get a preview for each of their first frames (about 0.1-4 MB each)
MAX_FRAME_PREVIEWS = 100


def frame_preview_key(image: Image, frame: int) -> str:
    """Storage key of the preview of frame ``frame`` >= 1 (frame 0 is ``image.preview_key``)."""
    return f"{image_prefix(image.dataset, image.pk)}/preview-frame-{frame:05d}.png"


def embeddings_prefixes(lab_id, sha256: str) -> list[str]:
    """The folders of a lab's stored embeddings of the image with ``sha256``, one per model
    version (layout: ``analysis.artefacts.embeddings_key``)."""
    root = f"labs/{lab_id}/embeddings"
    try:
        versions, _files = storage.listdir(root)
    except FileNotFoundError:
        return []
    return [f"{root}/{version}/{sha256}" for version in versions]
