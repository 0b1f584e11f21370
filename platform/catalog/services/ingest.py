"""Ingest of an uploaded image (metadata, calibration, previews, tiles) and its calibration
set by hand."""

from functools import partial

from django.utils import timezone

from accounts.models import Role
from accounts.selectors import require_role
from common import storage
from common.errors import Conflict, NotFound
from common.runner import job_end, job_run
from webhooks.services import event_emit

from .. import formats, tiles
from ..formats.units import calibration, uncalibrated
from ..models import Dataset, Image, ImageStatus
from .deletes import _stored_delete
from .keys import MAX_FRAME_PREVIEWS, frame_preview_key, image_prefix
from .originals import original_frames


def image_ingest(*, image_id) -> Image:
    """Extract metadata and calibration and write the preview and thumbnail (idempotent: a
    ready image is left alone; ``common.runner.job_run``, the image staying pending until it
    is ready or failed).

    The original is decoded one frame at a time (``formats.stream``): each frame's preview is
    written as it is decoded, so the worker holds about one frame, not the stack. A file
    found damaged past its first frame leaves nothing stored: what was written is deleted.
    """
    image = job_run(
        Image,
        image_id,
        _ingest,
        subject=f"ingest of image {image_id}",
        done=(ImageStatus.READY,),
        running=None,
        fields=lambda row: {},
        prepare=lambda row: Image.objects.select_related("dataset").get(pk=row.pk),
        refused=(formats.FormatError,),  # a damaged or unsupported file: said as it is
        passes=(NotFound,),  # deleted while it was ingested: nothing to record
        fail=_failed,
    )
    if image is None:  # ready already, or gone
        image = Image.objects.filter(pk=image_id).select_related("dataset").first()
        if image is None:
            raise NotFound(f"Image {image_id} not found.")
    return image


def _ingest(image: Image) -> None:
    written: list[str] = []
    try:
        with original_frames(image) as frames:
            preview_frames = _previews_write(image, frames, written)
    except formats.FormatError:
        _derived_delete(image, written)
        raise
    preview_key, thumb_key = written[:2]
    calibration = frames.calibration or {}
    pending = image.calibration or {}
    if pending.get("source") == "manual" and pending.get("pixel_size") != calibration.get(
        "pixel_size"
    ):
        # set before the ingest (an imported image's published pixel size): kept over the file's
        calibration = {**pending, "extracted": calibration}
    written_row = job_end(
        Image,
        image.pk,
        status=ImageStatus.READY,
        error="",
        done=(),
        finished="ingested",
        effects=[partial(event_emit, "image.ready", image.pk)],
        preview_key=preview_key,
        preview_frames=preview_frames,
        thumbnail_key=thumb_key,
        pixel_size=calibration.get("pixel_size"),
        pixel_unit=calibration.get("pixel_unit") or "",
        calibration=calibration,
        instrument=frames.instrument or {},
        metadata_raw=frames.raw or {},
    )
    if not written_row:  # deleted while being ingested: its delete could not know these files
        _derived_delete(image, written)
        raise NotFound(f"Image {image.pk} was deleted while it was ingested.")
    image.refresh_from_db()


def _failed(image: Image, reason: str, code: str) -> None:
    image_mark_failed(image_id=image.pk, reason=reason)
    image.refresh_from_db()


def _previews_write(image: Image, frames: formats.FrameStream, written: list[str]) -> int:
    """Write frame 0's preview, thumbnail and tiles, then the previews of the next frames, each
    as it is decoded; every frame is still read (damage anywhere fails the ingest). Appends
    each key to ``written`` before writing it (the preview, the thumbnail, then the frame
    previews; tiles go under their own folder). Returns how many frames have a preview."""
    prefix = image_prefix(image.dataset, image.pk)
    preview_frames = min(frames.frames, MAX_FRAME_PREVIEWS)
    for index, frame in enumerate(frames):
        if index == 0:
            written.append(f"{prefix}/preview.png")
            storage.put_bytes(written[-1], formats.encode_png(formats.preview(frame)))
            written.append(f"{prefix}/thumbnail.png")
            storage.put_bytes(written[-1], formats.encode_png(formats.thumbnail(frame)))
            # real pixels in the viewer past the preview's size (catalog.tiles): frame 0
            tiles.tiles_write(image, frame)
        elif index < preview_frames:
            written.append(frame_preview_key(image, index))
            storage.put_bytes(written[-1], formats.encode_png(formats.preview(frame)))
    return preview_frames


def _derived_delete(image: Image, keys: list[str]) -> None:
    """What an ingest wrote (``keys`` and the tiles' folder), when it cannot be kept."""
    folders = [tiles.tiles_prefix(image)]
    _stored_delete(keys, lab_id=image.dataset.lab_id, shas=set(), folders=folders)


def image_mark_failed(*, image_id, reason: str) -> None:
    """Record the ingest failed with ``reason`` (unless the image is ready)."""
    job_end(
        Image,
        image_id,
        status=ImageStatus.FAILED,
        error=reason,
        done=(ImageStatus.READY,),
        finished=None,
        effects=[partial(event_emit, "image.failed", image_id)],
    )


def image_calibrate(*, user, image: Image, pixel_size: float | None, pixel_unit: str) -> Image:
    """Set the pixel size by hand (e.g. from a JPEG's scale bar), or with ``None`` go back to
    what the file said. The file's own calibration is kept under ``calibration["extracted"]``;
    results already computed keep the pixel size they used (their provenance names it)."""
    require_role(user=user, lab_id=image.dataset.lab_id, role=Role.CURATOR)
    if image.status != ImageStatus.READY:
        raise Conflict(
            f"The image is {image.status}: its calibration is read at ingest; set it by hand "
            "once the image is ready.",
            code="not_ready",
        )
    current = image.calibration or {}
    extracted = current.get("extracted", current) if current.get("source") == "manual" else current
    if pixel_size is None:
        cal = {k: v for k, v in extracted.items() if k != "extracted"} or uncalibrated()
    else:
        cal = calibration(pixel_size, pixel_unit, source="manual")
        cal.update(set_by=str(user.pk), set_at=timezone.now().isoformat(), extracted=extracted)
    image.calibration = cal
    image.pixel_size = cal.get("pixel_size")
    image.pixel_unit = cal.get("pixel_unit") or ""
    image.save(update_fields=["calibration", "pixel_size", "pixel_unit"])
    Dataset.objects.filter(pk=image.dataset_id).update(modified=timezone.now())
    return image
