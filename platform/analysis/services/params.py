"""A job's parameters (defaults, validation) and its bounds: memory estimated at creation,
refused over budget."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from catalog.models import Image
from common.errors import Invalid, TooLarge
from labeling.models import Grid, SupportSetVersion

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
    "spatial": True,
    "peaks": True,
    "metric": True,
    "object_kinds": False,
    "texture_view": True,
    "support_shifts": True,
    "object_edges": True,
}


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
