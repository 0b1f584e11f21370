"""Factories of registry: model versions and aliases."""

from registry.models import ModelAlias, ModelVersion, ModelVisibility, Source


def fourier_champion():
    """The training-free built-in encoder registered as the public champion (no MLflow).

    Calling it again returns the same version (factories of jobs call it for every job)."""
    version, _ = ModelVersion.objects.get_or_create(
        name="chiplab-fourier",
        version=1,
        defaults={
            "encoder_kind": "fourier",
            "source": Source.BUILTIN,
            "visibility": ModelVisibility.PUBLIC,
            "mlflow_run_id": "run-test",
        },
    )
    ModelAlias.objects.get_or_create(
        name="chiplab-fourier", alias="champion", defaults={"version": version}
    )
    return version
