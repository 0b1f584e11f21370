"""Writes of segmentation jobs: create (freezing a working set if asked), cancel, re-run.

Who may run a job (documented in the API too):

- a frozen support-set version that is the user's own (rule ``single_owner`` with the user as
  owner), or the user's own unfrozen working set (``schema`` + ``rule=single_owner`` +
  ``owner`` = themselves or omitted): **annotator** or above;
- any other support set (consensus versions, another member's set): **curator** or above.

Cancelling needs the job's creator (annotator+) or a curator. Viewers only read. The running
itself is ``analysis.runner.segmentation_job_run`` (called by the gpu task).
"""

from .ahead import segmentation_ahead_offer
from .jobs import segmentation_job_cancel, segmentation_job_create, segmentation_job_rerun
from .params import (
    DEFAULT_PARAMS,
    EMBED_DIM_FALLBACK,
    MAX_BOOTSTRAP,
    TEMPERATURE_CHOICES,
    TEMPERATURE_RANGE,
    clean_params,
    job_bounds_check,
    job_memory_estimate,
)
from .permissions import job_permissions
from .support import support_classes
from .targets import MAX_IMAGES

__all__ = [
    "DEFAULT_PARAMS",
    "EMBED_DIM_FALLBACK",
    "MAX_BOOTSTRAP",
    "MAX_IMAGES",
    "TEMPERATURE_CHOICES",
    "TEMPERATURE_RANGE",
    "clean_params",
    "job_bounds_check",
    "job_memory_estimate",
    "job_permissions",
    "segmentation_ahead_offer",
    "segmentation_job_cancel",
    "segmentation_job_create",
    "segmentation_job_rerun",
    "support_classes",
]
