"""Writes of the registry app (see ``versions`` and ``training``)."""

from .training import (
    training_job_cancel,
    training_job_create,
    training_job_fail,
    training_job_run,
)
from .versions import (
    WeightsMismatch,
    artifact_dir,
    encoder_cache_clear,
    encoder_load,
    model_rollback,
    model_version_import,
    model_version_promote,
    registry_init,
    version_register,
    weights_verify,
)

__all__ = [
    "WeightsMismatch",
    "artifact_dir",
    "encoder_cache_clear",
    "encoder_load",
    "model_rollback",
    "model_version_import",
    "model_version_promote",
    "registry_init",
    "training_job_cancel",
    "training_job_create",
    "training_job_fail",
    "training_job_run",
    "version_register",
    "weights_verify",
]
