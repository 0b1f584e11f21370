"""Training jobs on the gpu queue: a thin entry point over ``registry.services``."""

import logging

from django.conf import settings

from workers.tasks.base import TRANSIENT_ERRORS, chiplab_task

log = logging.getLogger(__name__)


@chiplab_task(queue="gpu", time_limit=settings.CHIPLAB_TRAIN_TIME_LIMIT, max_retries=2)
def train_job(self, job_id: str) -> None:
    from registry.services import training_job_fail, training_job_run

    try:
        training_job_run(job_id=job_id)
    except TRANSIENT_ERRORS:
        if self.request.retries >= self.max_retries:
            training_job_fail(job_id=job_id, reason="database, storage or MLflow unavailable")
        raise
    except Exception as err:  # a job must end as failed, never running forever
        log.exception("training job %s failed", job_id)
        training_job_fail(job_id=job_id, reason=f"{type(err).__name__}: {err}")
