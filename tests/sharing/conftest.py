"""Fixtures of the sharing tests: two labs, each with a ready simulated image and its owner's
frozen support set, so that both can run segmentation jobs."""

import pytest

from tests.analysis.helpers import CHIP, truth_chips, upload_ready_image, vote_truth
from tests.factories import DatasetFactory, fourier_champion


def segmentable_in(world, *, user, lab):
    """A ready image in a new dataset of ``lab`` and ``user``'s frozen support set on it."""
    from labeling.services import (
        class_create,
        grid_create,
        schema_get_or_create_default,
        support_set_freeze,
    )

    dataset = DatasetFactory(lab=lab, created_by=user)
    image, s = upload_ready_image(world, dataset=dataset, uploader=user)
    schema, _ = schema_get_or_create_default(user=user, dataset=dataset)
    palette = ["#e41a1c", "#4daf4a", "#377eb8", "#984ea3"]
    classes = [
        class_create(user=user, schema=schema, name=name, colour=palette[i])
        for i, name in enumerate(s.class_names)
    ]
    grid, _ = grid_create(user=user, image=image, chip_size=CHIP)
    vote_truth(user, grid, schema, classes, truth_chips(s))
    version = support_set_freeze(user=user, schema=schema, rule="single_owner")
    return {"image": image, "version": version, "grid": grid, "lab": lab, "user": user}


@pytest.fixture
def two_labs(world):
    """Lab A (``world.lab``, its curator) and lab B (``world.other_lab``, its owner)."""
    fourier_champion()
    return (
        segmentable_in(world, user=world.curator, lab=world.lab),
        segmentable_in(world, user=world.outsider, lab=world.other_lab),
    )


def job_body(side, **extra):
    return {
        "support_set": str(side["version"].pk),
        "images": [str(side["image"].pk)],
        **extra,
    }
