"""Training jobs on their own ``training`` queue (hours long: never ahead of interactive
segmentation on ``gpu``): a thin entry point over ``registry.services``."""

from django.conf import settings

from common.jobs import TRAINING
from workers.tasks.base import chiplab_task, run_or_record_failure


@chiplab_task(
    queue="training", time_limit=settings.CHIPLAB_TRAIN_TIME_LIMIT, max_retries=2, tracks=TRAINING
)
def train_job(self, job_id: str) -> None:
    from registry.services import training_job_fail, training_job_run

    run_or_record_failure(
        self,
        run=lambda: training_job_run(job_id=job_id),
        fail=lambda reason: training_job_fail(job_id=job_id, reason=reason),
        subject=f"training job {job_id}",
        unavailable="database, storage or MLflow unavailable",
    )
