"""Training jobs (placeholder while being written)."""


def training_job_create(**kwargs):
    raise NotImplementedError


def training_job_cancel(**kwargs):
    raise NotImplementedError


def training_job_run(**kwargs):
    raise NotImplementedError


def training_job_fail(**kwargs):
    raise NotImplementedError
