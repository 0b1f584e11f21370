"""Factories of registry: model versions and aliases."""

from registry.models import ModelAlias, ModelVersion, ModelVisibility, Source


def fourier_champion():
    """The training-free built-in encoder registered as the public champion (no MLflow)."""
    version = ModelVersion.objects.create(
        name="chiplab-fourier",
        version=1,
        encoder_kind="fourier",
        source=Source.BUILTIN,
        visibility=ModelVisibility.PUBLIC,
        mlflow_run_id="run-test",
    )
    ModelAlias.objects.create(name="chiplab-fourier", alias="champion", version=version)
    return version
