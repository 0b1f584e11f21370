"""Writes of segmentation jobs: create (freezing a working set if asked), cancel, re-run.

Who may run a job (documented in the API too):

- a frozen support-set version that is the user's own (rule ``single_owner`` with the user as
  owner), or the user's own unfrozen working set (``schema`` + ``rule=single_owner`` +
  ``owner`` = themselves or omitted): **annotator** or above;
- any other support set (consensus versions, another member's set): **curator** or above.

Cancelling needs the job's creator (annotator+) or a curator. Viewers only read. The running
itself is ``analysis.runner.segmentation_job_run`` (called by the gpu task).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ROLE_RANK, Role
from accounts.selectors import require_role
from catalog.models import Image, ImageStatus
from catalog.selectors import dataset_get, image_get
from common.errors import Conflict, Invalid, NotFound
from common.jobs import require_queue_room
from labeling.models import ConsensusRule, Grid, LabelSchema, SupportSetVersion

from .models import FINISHED, JobImage, JobStatus, SegmentationJob

MAX_IMAGES = 1000
TEMPERATURE_CHOICES = ("encoder", "auto")
#: numeric temperatures (squared embedding distances are ~1e-2..1e3): far outside, softmax
#: over float32 distances overflows to NaN probabilities
TEMPERATURE_RANGE = (1e-6, 1e6)
DEFAULT_PARAMS = {
    "temperature": "encoder",
    "bootstrap": 200,
    "seed": 0,
    "refine": False,
    "smooth": 0.0,
    "boundary": True,
    "weighting": True,
    "pixel_vote": True,
}


# --- who may run what ----------------------------------------------------------------
def _is_own(version: SupportSetVersion, user) -> bool:
    return version.rule == ConsensusRule.SINGLE_OWNER and str(
        (version.params or {}).get("owner", "")
    ) == str(user.pk)


def _run_role(version: SupportSetVersion, user) -> str:
    """The role running a job on ``version`` needs: annotators run their own working set."""
    return Role.ANNOTATOR if _is_own(version, user) else Role.CURATOR


def _cancel_role(job: SegmentationJob, user) -> str:
    """The role cancelling ``job`` needs: annotators cancel their own jobs."""
    return Role.ANNOTATOR if job.created_by_id == user.pk else Role.CURATOR


def _require_run_role(*, user, lab_id, version: SupportSetVersion) -> None:
    require_role(user=user, lab_id=lab_id, role=Role.ANNOTATOR)
    if _run_role(version, user) == Role.CURATOR:
        require_role(user=user, lab_id=lab_id, role=Role.CURATOR)


def job_permissions(*, user, job: SegmentationJob, role: str | None) -> dict[str, bool]:
    """What ``user``, whose role in the job's lab is ``role`` (None: not a member), may do with
    ``job``, by the rules of rerun and cancel."""

    def has(needed: str) -> bool:
        return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]

    return {
        "rerun": has(_run_role(job.support_set, user)),
        "cancel": has(_cancel_role(job, user)),
    }


# --- support sets --------------------------------------------------------------------
def _support_set_get(*, user, support_set_id) -> SupportSetVersion:
    version = (
        SupportSetVersion.objects.select_related("schema", "schema__dataset")
        .filter(pk=support_set_id)
        .first()
    )
    if version is None:
        raise NotFound("Support set not found.")
    try:
        dataset_get(user=user, dataset_id=version.schema.dataset_id)
        require_role(user=user, lab_id=version.schema.dataset.lab_id, role=Role.VIEWER)
    except NotFound as err:
        raise NotFound("Support set not found.") from err
    return version


def _schema_get(*, user, schema_id) -> LabelSchema:
    schema = LabelSchema.objects.select_related("dataset").filter(pk=schema_id).first()
    if schema is None:
        raise NotFound("Label schema not found.")
    try:
        dataset_get(user=user, dataset_id=schema.dataset_id)
        require_role(user=user, lab_id=schema.dataset.lab_id, role=Role.VIEWER)
    except NotFound as err:
        raise NotFound("Label schema not found.") from err
    return schema


def _freeze_working_set(*, user, schema_id, rule, owner, min_votes) -> SupportSetVersion:
    from labeling.services import support_set_freeze

    schema = _schema_get(user=user, schema_id=schema_id)
    lab_id = schema.dataset.lab_id
    rule = rule or ConsensusRule.SINGLE_OWNER
    if rule not in ConsensusRule.values:
        raise Invalid(
            f"Unknown rule '{rule}'; use one of {', '.join(ConsensusRule.values)}.",
            fields={"rule": ["invalid"]},
        )
    if rule == ConsensusRule.SINGLE_OWNER and owner is None:
        owner = user.pk
    own = rule == ConsensusRule.SINGLE_OWNER and str(owner) == str(user.pk)
    require_role(user=user, lab_id=lab_id, role=Role.ANNOTATOR if own else Role.CURATOR)
    return support_set_freeze(
        user=user, schema=schema, rule=rule, owner=owner, min_votes=min_votes, reuse=True
    )


def support_classes(version: SupportSetVersion) -> list[dict]:
    """The version's class table with label indices, refusing unusable support sets."""
    counts: dict[str, int] = {}
    for chip in version.chips:
        counts[str(chip["class"])] = counts.get(str(chip["class"]), 0) + 1
    classes = [
        {
            "index": i,
            "id": str(c["id"]),
            "name": c["name"],
            "colour": c.get("colour", ""),
            "kind": c.get("kind", "region"),  # versions frozen before kinds: regions
        }
        for i, c in enumerate(version.classes)
    ]
    known = {c["id"] for c in classes}
    unknown = set(counts) - known
    if unknown:
        raise Invalid(
            f"The support set has chips of classes it does not list: {', '.join(sorted(unknown))}.",
            fields={"support_set": ["inconsistent"]},
        )
    empty = [c["name"] for c in classes if not counts.get(c["id"])]
    if empty:
        raise Invalid(
            f"Every class needs at least one support chip; none for: {', '.join(empty)}.",
            code="empty_class",
            fields={"support_set": [f"no chips for {name}" for name in empty]},
        )
    if len(classes) < 2:
        raise Invalid(
            "A segmentation needs at least two classes with support chips.",
            code="too_few_classes",
            fields={"support_set": ["fewer than 2 classes"]},
        )
    return classes


def _check_support_chips(version: SupportSetVersion, lab_id) -> None:
    grid_ids = {str(chip["grid"]) for chip in version.chips}
    grids = {
        str(g.pk): g for g in Grid.objects.filter(pk__in=grid_ids).select_related("image__dataset")
    }
    for chip in version.chips:
        grid = grids.get(str(chip["grid"]))
        if grid is None or grid.image.dataset.lab_id != lab_id:
            raise Invalid(
                "A support chip refers to a grid that no longer exists.",
                fields={"support_set": ["missing grid"]},
            )
        if (grid.chip_size, grid.offset_y, grid.offset_x) != (
            version.chip_size,
            version.offset_y,
            version.offset_x,
        ):
            raise Invalid(
                "The support set mixes chip geometries; refreeze it on one grid size.",
                fields={"support_set": ["mixed chip geometry"]},
            )
        if not grid.contains(int(chip["row"]), int(chip["col"])):
            raise Invalid(
                f"Support chip ({chip['row']}, {chip['col']}) is outside its "
                f"{grid.rows}x{grid.cols} grid.",
                code="chip_outside_grid",
                fields={"support_set": ["chip outside grid"]},
            )
        if grid.image.status != ImageStatus.READY:
            raise Conflict(
                f"Support image {grid.image_id} is {grid.image.status}, not ready.",
                code="not_ready",
            )


# --- images and grids ----------------------------------------------------------------
def _target_images(*, user, lab_id, images) -> list[Image]:
    if isinstance(images, dict):
        if set(images) != {"dataset"}:
            raise Invalid(
                'Give images as a list of ids or as {"dataset": <id>}.',
                fields={"images": ["invalid"]},
            )
        dataset = dataset_get(user=user, dataset_id=_uuid(images["dataset"], "images"))
        if dataset.lab_id != lab_id:
            raise NotFound("Dataset not found.")
        found = list(dataset.images.select_related("dataset").order_by("created"))
        if not found:
            raise Invalid("The dataset has no images.", fields={"images": ["empty dataset"]})
    elif isinstance(images, list) and images:
        ids = list(dict.fromkeys(str(_uuid(i, "images")) for i in images))
        found = []
        for image_id in ids:
            image = image_get(user=user, image_id=image_id)
            if image.dataset.lab_id != lab_id:  # a public image of another lab
                raise NotFound("Image not found.")
            found.append(image)
    else:
        raise Invalid(
            'Name the images to segment: a non-empty list of image ids or {"dataset": <id>}.',
            fields={"images": ["required"]},
        )
    if len(found) > MAX_IMAGES:
        raise Invalid(
            f"At most {MAX_IMAGES} images per job; split the batch.",
            fields={"images": ["too many"]},
        )
    for image in found:
        if image.status != ImageStatus.READY:
            raise Conflict(
                f"Image {image.pk} ('{image.original_filename}') is {image.status}, "
                "not ready to segment.",
                code="not_ready",
            )
    return found


def _uuid(value, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as err:
        raise Invalid(f"'{value}' is not an id.", fields={field: ["not a uuid"]}) from err


def _grid_for(*, user, image: Image, version: SupportSetVersion) -> Grid:
    """Get or create the grid with the support set's chip geometry on ``image``."""
    grid = Grid.objects.filter(
        image=image,
        chip_size=version.chip_size,
        offset_x=version.offset_x,
        offset_y=version.offset_y,
    ).first()
    if grid is None:
        from labeling.services import grid_create

        grid, _created = grid_create(
            user=user,
            image=image,
            chip_size=version.chip_size,
            offset_x=version.offset_x,
            offset_y=version.offset_y,
        )
    if grid.rows < 1 or grid.cols < 1:
        raise Invalid(
            f"No {version.chip_size}px chip fits in image {image.pk}.",
            fields={"images": ["too small for the chip size"]},
        )
    return grid


# --- parameters ----------------------------------------------------------------------
def clean_params(params: dict | None, version: SupportSetVersion) -> dict:
    """Job parameters with defaults; chip geometry always comes from the support set."""
    params = dict(params or {})
    chip_size, offset = version.chip_size, [version.offset_y, version.offset_x]
    if params.get("chip_size", chip_size) != chip_size:
        raise Invalid(
            f"The support set was picked on {chip_size}px chips; a job segments with "
            "the same chip size.",
            fields={"params": ["chip_size mismatch"]},
        )
    if list(params.get("offset", offset)) != offset:
        raise Invalid(
            f"The support set's grid offset is {offset} (y, x); a job uses the same.",
            fields={"params": ["offset mismatch"]},
        )
    out = {**DEFAULT_PARAMS, **{k: v for k, v in params.items() if k in DEFAULT_PARAMS}}
    temperature = out["temperature"]
    if not (
        temperature in TEMPERATURE_CHOICES
        or (
            isinstance(temperature, int | float)
            and not isinstance(temperature, bool)
            and TEMPERATURE_RANGE[0] <= temperature <= TEMPERATURE_RANGE[1]
        )
    ):
        raise Invalid(
            "temperature is 'encoder', 'auto' or a number from {:g} to {:g}.".format(
                *TEMPERATURE_RANGE
            ),
            fields={"params": ["temperature"]},
        )
    return {**out, "chip_size": chip_size, "offset": offset}


# --- jobs ----------------------------------------------------------------------------
@transaction.atomic
def segmentation_job_create(
    *,
    user,
    images,
    support_set=None,
    schema=None,
    rule=None,
    owner=None,
    min_votes: int = 2,
    model_version=None,
    params: dict | None = None,
) -> SegmentationJob:
    """Validate everything, freeze a working set if asked, and enqueue the job on commit."""
    from registry.selectors import model_version_resolve

    if (support_set is None) == (schema is None):
        raise Invalid(
            "Give either a frozen support_set or a schema (with rule/owner) to freeze.",
            fields={"support_set": ["support_set or schema required"]},
        )
    if support_set is not None:
        version = _support_set_get(user=user, support_set_id=support_set)
        lab_id = version.schema.dataset.lab_id
        _require_run_role(user=user, lab_id=lab_id, version=version)
    else:
        version = _freeze_working_set(
            user=user, schema_id=schema, rule=rule, owner=owner, min_votes=min_votes
        )
        lab_id = version.schema.dataset.lab_id
    support_classes(version)
    _check_support_chips(version, lab_id)
    targets = _target_images(user=user, lab_id=lab_id, images=images)
    try:
        model = model_version_resolve(user=user, lab=lab_id, version_id=model_version)
    except NotFound as err:
        raise Invalid(
            str(err), code="unknown_model_version", fields={"model_version": ["not found"]}
        ) from err
    cleaned = clean_params(params, version)
    grids = [_grid_for(user=user, image=image, version=version) for image in targets]
    return _job_insert(
        user=user,
        lab_id=lab_id,
        version=version,
        model=model,
        params=cleaned,
        targets=list(zip(targets, grids, strict=True)),
    )


def _job_insert(*, user, lab_id, version, model, params, targets, rerun_of=None):
    from common.provenance import code_version

    require_queue_room(
        SegmentationJob.objects.filter(lab_id=lab_id),
        limit=settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB,
        what="segmentation jobs",
    )
    job = SegmentationJob.objects.create(
        lab_id=lab_id,
        created_by=user,
        support_set=version,
        model_version=model,
        params=params,
        rerun_of=rerun_of,
        code_version=code_version(),
        progress_total=sum(g.rows * g.cols * max(image.frames, 1) for image, g in targets),
    )
    JobImage.objects.bulk_create(
        [
            JobImage(job=job, image=image, grid=grid, order=i)
            for i, (image, grid) in enumerate(targets)
        ]
    )
    transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id) -> None:
    from workers.tasks.segment import segment_job

    segment_job.delay(str(job_id))


@transaction.atomic
def segmentation_job_rerun(*, user, job: SegmentationJob) -> SegmentationJob:
    """A new job with the same support set, model version, images and parameters."""
    version = job.support_set
    _require_run_role(user=user, lab_id=job.lab_id, version=version)
    _check_support_chips(version, job.lab_id)
    targets = [(ji.image, ji.grid) for ji in job.job_images.select_related("image", "grid")]
    for image, _grid in targets:
        if image.status != ImageStatus.READY:
            raise Conflict(f"Image {image.pk} is {image.status}, not ready.", code="not_ready")
    return _job_insert(
        user=user,
        lab_id=job.lab_id,
        version=version,
        model=job.model_version,
        params=dict(job.params),
        targets=targets,
        rerun_of=job,
    )


@transaction.atomic
def segmentation_job_cancel(*, user, job: SegmentationJob) -> SegmentationJob:
    """Stop a queued or running job (the worker checks between frames)."""
    require_role(user=user, lab_id=job.lab_id, role=_cancel_role(job, user))
    job = SegmentationJob.objects.select_for_update().get(pk=job.pk)
    if job.status in FINISHED:
        raise Conflict(
            f"The job has already {_finished_word(job.status)}; only queued or "
            "running jobs can be cancelled.",
            code="job_finished",
        )
    job.status = JobStatus.CANCELLED
    job.finished = timezone.now()
    job.save(update_fields=["status", "finished"])
    return job


def _finished_word(status: str) -> str:
    return {
        JobStatus.SUCCEEDED: "succeeded",
        JobStatus.FAILED: "failed",
        JobStatus.CANCELLED: "been cancelled",
    }[status]
