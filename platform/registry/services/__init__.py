"""Writes of the registry app, by concern: ``builtins`` (the engine's encoders),
``registration`` (new versions), ``loading`` (encoders of versions), ``aliases`` (promotion
and roll-back), ``imports`` (user weights), ``training`` (jobs) and ``training_runner``."""

from .aliases import aliases_sync, model_rollback, model_version_promote
from .builtins import builtin_card, builtin_config, builtins_ensure, registry_init
from .imports import model_version_import
from .loading import (
    WeightsMismatch,
    artifact_dir,
    encoder_cache_clear,
    encoder_load,
    weights_verify,
)
from .registration import version_register
from .training import training_job_cancel, training_job_create, training_job_fail
from .training_runner import training_job_run

__all__ = [
    "WeightsMismatch",
    "aliases_sync",
    "artifact_dir",
    "builtin_card",
    "builtin_config",
    "builtins_ensure",
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
