"""Run a segmentation job in the test's process as the workers do: the job's task (every
map), then its downloads' tasks (each frame's other exports; the last one ends the job)."""

from analysis.models import SegmentationJob
from analysis.runner import segmentation_downloads_run, segmentation_job_run
from analysis.runner.downloads import pending
from tests.common.held_jobs import held_jobs

DOWNLOADS_TASK = "workers.tasks.segment.segment_downloads"


def segmentation_run(*, job_id):
    """Every task of the job ``job_id``, here (the downloads' messages the job sends are held:
    a worker of the suite must not write them too): the job as it ends."""
    with held_jobs(DOWNLOADS_TASK):
        segmentation_job_run(job_id=job_id)
    job = SegmentationJob.objects.get(pk=job_id)
    for result_id in pending(job).values_list("pk", flat=True):
        segmentation_downloads_run(job_id=job_id, result_id=result_id)
    segmentation_downloads_run(job_id=job_id)  # ends a job whose frames ended before its last map
    job.refresh_from_db()
    return job
