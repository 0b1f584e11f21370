"""Running a segmentation job (called by ``workers.tasks.segment``; idempotent).

The job row is the truth (``common.runner``'s pattern): it is locked to move queued ->
running, its status is re-read between frames (a cancel stops the work), results are written
to deterministic keys and a (job, image, frame) already done is skipped when a task is
delivered again. A frame's result row is written with the map the page draws
(``results.result_save``); the job's task then hands the downloads over to a task of their own
(``downloads``), which ends the job: a result is done once its last export
(``results.LAST_EXPORT``) is stored.

Modules: ``job`` (the run: start, frames, hand-over or failure), ``images`` (a job's images:
decoded original, frames, embeddings through the cache, per-frame features), ``frames`` (one
frame's classification and the options from a job's params), ``results`` (provenance, the
map's exports, the result row, series), ``downloads`` (every other export, and the job's end),
``ahead`` (a correction's re-run made ahead of its click), ``give_way`` (a job steps back,
between frames, for its user's newer job on the same images), ``sensitivity`` (the chip-size
check after a job), ``warm`` (prefetch of a grid's embeddings, a worker's warm-up), ``clock``
(the stage timer).
"""

from .ahead import segmentation_ahead_run
from .clock import Clock
from .downloads import download_exports, segmentation_downloads_run
from .frames import classify_frame, frame_intensity, options_from_params
from .images import _Images, _Recent, support_chips
from .job import segmentation_job_fail, segmentation_job_run
from .results import map_exports, provenance
from .sensitivity import chip_size_check_run
from .warm import embeddings_prefetch, warm_up

__all__ = [
    "Clock",
    "_Images",
    "_Recent",
    "chip_size_check_run",
    "classify_frame",
    "download_exports",
    "embeddings_prefetch",
    "frame_intensity",
    "map_exports",
    "options_from_params",
    "provenance",
    "segmentation_ahead_run",
    "segmentation_downloads_run",
    "segmentation_job_fail",
    "segmentation_job_run",
    "support_chips",
    "warm_up",
]
