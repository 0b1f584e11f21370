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

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ROLE_RANK, Role
from accounts.selectors import require_role
from catalog.models import Image, ImageStatus
from catalog.selectors import dataset_get, image_get
from common.errors import Conflict, Invalid, NotFound, TooLarge
from common.jobs import enqueue_on_commit
from common.throttling import require_daily_chips, require_job_room
from labeling.models import ConsensusRule, Grid, LabelSchema, SupportSetVersion
from registry.selectors import model_version_resolve
from registry.services import builtins_ensure

from .models import FINISHED, JobImage, JobStatus, SegmentationJob

MAX_IMAGES = 1000
#: support resamples of the abundance interval (the API's limit too)
MAX_BOOTSTRAP = 2000
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
    for name, high in (("bootstrap", MAX_BOOTSTRAP), ("seed", 2**31 - 1)):
        value = out[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise Invalid(f"{name} is a whole number from 0 to {high}.", fields={"params": [name]})
    return {**out, "chip_size": chip_size, "offset": offset}


# --- bounds ----------------------------------------------------------------------------
#: embedding size assumed for a model version that does not record its own (resnet50: 2048)
EMBED_DIM_FALLBACK = 512
#: the bootstrap's distance chunk and per-chunk labels (workers.fewshot.stats), bytes
_BOOTSTRAP_CHUNK_BYTES = 48 * 1024**2
_MIB = 1024**2


def _image_bytes(image: Image, *, chips_per_frame: int, dim: int, n_classes: int) -> dict:
    """What a worker holds for one image: decoded original, normalised frames (float32),
    embeddings (T, rows, cols, D float32) and one frame's pixel maps (K float32 + mask)."""
    frames, pixels = max(image.frames, 1), image.width * image.height
    try:
        itemsize = np.dtype(image.dtype or "float64").itemsize
    except TypeError:
        itemsize = 8
    return {
        "decoded": frames * pixels * max(image.channels or 1, 1) * itemsize,
        "normalised": frames * pixels * 4,
        "embeddings": frames * chips_per_frame * dim * 4,
        "maps": pixels * (n_classes * 4 + 8),
    }


def job_memory_estimate(*, version: SupportSetVersion, targets, model, bootstrap: int) -> dict:
    """A job's estimated peak memory in a worker, in bytes, by part.

    ``support``: normalised frames and embeddings of every support image (held while the job
    runs); ``largest_image``: the largest target's decoded pixels, frames, embeddings and maps
    (the runner keeps a few images, ``CHIPLAB_JOB_IMAGE_CACHE``, and the largest bounds them);
    ``bootstrap``: resample indices (B x support chips), B x K prototypes and one chunk.
    ``targets``: [(image, grid)].
    """
    dim = (model.dim if model is not None else 0) or EMBED_DIM_FALLBACK
    n_classes = len(version.classes)
    grids = {
        str(g.pk): g
        for g in Grid.objects.filter(pk__in={str(c["grid"]) for c in version.chips}).select_related(
            "image"
        )
    }
    support_images = {str(g.image_id): g for g in grids.values()}
    support = 0
    for grid in support_images.values():
        part = _image_bytes(grid.image, chips_per_frame=grid.rows * grid.cols, dim=dim, n_classes=0)
        support += part["normalised"] + part["embeddings"]
    largest = 0
    for image, grid in targets:
        part = _image_bytes(
            image, chips_per_frame=grid.rows * grid.cols, dim=dim, n_classes=n_classes
        )
        if str(image.pk) in support_images:  # its frames and embeddings are counted above
            part["normalised"] = part["embeddings"] = 0
        largest = max(largest, sum(part.values()))
    boot = 0
    if bootstrap > 0:
        boot = bootstrap * (len(version.chips) * 8 + n_classes * dim * 4) + _BOOTSTRAP_CHUNK_BYTES
    parts = {"support": support, "largest_image": largest, "bootstrap": boot}
    return {**parts, "total": sum(parts.values())}


def job_bounds_check(*, version: SupportSetVersion, targets, model, params: dict) -> dict:
    """Refuse a job over the named bounds (settings, documented in infra/.env.example):
    support chips in all and per class (400), chips over every frame, bootstrap x chips and
    the estimated memory (413). Returns the memory estimate."""
    per_class: dict[str, int] = {}
    for chip in version.chips:
        per_class[str(chip["class"])] = per_class.get(str(chip["class"]), 0) + 1
    most = max(per_class.values(), default=0)
    limit, class_limit = (
        settings.CHIPLAB_MAX_SUPPORT_CHIPS,
        settings.CHIPLAB_MAX_SUPPORT_CHIPS_PER_CLASS,
    )
    if len(version.chips) > limit or most > class_limit:
        raise Invalid(
            f"The support set has {len(version.chips)} chips ({most} in its largest class); "
            f"a job uses at most {limit} support chips and {class_limit} per class. Freeze "
            "a smaller set of examples.",
            code="too_many_support_chips",
            fields={"support_set": ["too many chips"]},
        )
    chips = sum(grid.rows * grid.cols * max(image.frames, 1) for image, grid in targets)
    if chips > settings.CHIPLAB_MAX_JOB_CHIPS:
        raise TooLarge(
            f"The job would classify {chips:,} chips (every frame of every image); at most "
            f"{settings.CHIPLAB_MAX_JOB_CHIPS:,} per job. Split the images over several jobs "
            "or use a larger chip size.",
            code="job_too_large",
            fields={"images": ["too many chips"]},
        )
    bootstrap = int(params.get("bootstrap", 0))
    if bootstrap * chips > settings.CHIPLAB_MAX_JOB_BOOTSTRAP_CHIPS:
        most_b = settings.CHIPLAB_MAX_JOB_BOOTSTRAP_CHIPS // max(chips, 1)
        raise TooLarge(
            f"bootstrap {bootstrap} x {chips:,} chips is over this server's limit of "
            f"{settings.CHIPLAB_MAX_JOB_BOOTSTRAP_CHIPS:,} relabelled chips; use bootstrap "
            f"{most_b} or less, or fewer images.",
            code="job_too_large",
            fields={"params": ["bootstrap"]},
        )
    estimate = job_memory_estimate(
        version=version, targets=targets, model=model, bootstrap=bootstrap
    )
    budget = settings.CHIPLAB_JOB_MEMORY_BUDGET_MB * _MIB
    if estimate["total"] > budget:
        parts = ", ".join(
            f"{name.replace('_', ' ')} {value / _MIB:,.0f} MiB"
            for name, value in estimate.items()
            if name != "total"
        )
        raise TooLarge(
            f"The job would need about {estimate['total'] / _MIB:,.0f} MiB of worker memory "
            f"({parts}); this server runs jobs of at most "
            f"{settings.CHIPLAB_JOB_MEMORY_BUDGET_MB:,} MiB. Use fewer or smaller images, "
            "fewer support images, a larger chip size or a smaller bootstrap.",
            code="job_too_large",
        )
    return estimate


# --- jobs ----------------------------------------------------------------------------
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
    """Validate everything, freeze a working set if asked, and enqueue the job on commit.

    Without ``model_version`` the lab's champion or the public default runs the job; on an
    install that never registered the built-in encoders they are registered first, in MLflow,
    before the job's transaction opens (resolving a model is a read: it never registers).
    """
    if model_version is None:
        builtins_ensure()
    return _segmentation_job_create(
        user=user,
        images=images,
        support_set=support_set,
        schema=schema,
        rule=rule,
        owner=owner,
        min_votes=min_votes,
        model_version=model_version,
        params=params,
    )


@transaction.atomic
def _segmentation_job_create(
    *, user, images, support_set, schema, rule, owner, min_votes, model_version, params
) -> SegmentationJob:
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
    pairs = list(zip(targets, grids, strict=True))
    job_bounds_check(version=version, targets=pairs, model=model, params=cleaned)
    return _job_insert(
        user=user,
        lab_id=lab_id,
        version=version,
        model=model,
        params=cleaned,
        targets=pairs,
    )


def _job_insert(*, user, lab_id, version, model, params, targets, rerun_of=None):
    from common.provenance import code_version

    # caps and the daily quota, counted under a lock on the lab (race-free)
    require_job_room(
        SegmentationJob.objects,
        lab_id=lab_id,
        user=user,
        lab_limit=settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_LAB,
        user_limit=settings.CHIPLAB_MAX_ACTIVE_JOBS_PER_USER,
        what="segmentation jobs",
    )
    chips = sum(g.rows * g.cols * max(image.frames, 1) for image, g in targets)
    require_daily_chips(
        SegmentationJob.objects,
        lab_id=lab_id,
        chips=chips,
        quota=settings.CHIPLAB_DAILY_CHIPS_PER_LAB,
        now=timezone.now(),
    )
    job = SegmentationJob.objects.create(
        lab_id=lab_id,
        created_by=user,
        support_set=version,
        model_version=model,
        params=params,
        rerun_of=rerun_of,
        code_version=code_version(),
        progress_total=chips,
    )
    JobImage.objects.bulk_create(
        [
            JobImage(job=job, image=image, grid=grid, order=i)
            for i, (image, grid) in enumerate(targets)
        ]
    )
    enqueue_on_commit("workers.tasks.segment.segment_job", job.pk)
    return job


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
    job_bounds_check(version=version, targets=targets, model=job.model_version, params=job.params)
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
