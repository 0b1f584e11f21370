"""Fixtures of the analysis tests: a built-in model version and a support set voted on a
simulated micrograph with known truth."""

import pytest

from tests.analysis.helpers import labelled_schema, truth_chips, upload_ready_image, vote_truth
from tests.factories import fourier_champion


@pytest.fixture
def model_version(db):
    """The training-free built-in encoder as the public champion (no MLflow needed)."""
    return fourier_champion()


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
