"""Fixtures of the analysis tests: a built-in model version and a support set voted on a
simulated micrograph with known truth."""

import pytest

from tests.analysis.helpers import labelled_schema, truth_chips, upload_ready_image, vote_truth


@pytest.fixture
def model_version(db):
    """The training-free built-in encoder as the public champion (no MLflow needed)."""
    from registry.models import ModelAlias, ModelVersion, ModelVisibility, Source

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


@pytest.fixture
def segmentable(world, model_version):
    """A ready simulated image with the annotator's own frozen support set on it."""
    from labeling.services import support_set_freeze

    image, s = upload_ready_image(world)
    schema, classes, grid = labelled_schema(world, image, s)
    vote_truth(world.annotator, grid, schema, classes, truth_chips(s))
    version = support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    return {
        "image": image,
        "sim": s,
        "schema": schema,
        "classes": classes,
        "grid": grid,
        "version": version,
        "model_version": model_version,
    }
