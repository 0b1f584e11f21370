"""Two kinds of particle marked as objects: a job's mask gives each particle one kind, by
default its pixels' majority, with the opt-in job param ``object_kinds`` the kind its shape
and intensity profile and its pixels' vote say together."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.analysis.helpers import (
    download,
    labelled_schema,
    run_job,
    truth_chips,
    upload_ready_image,
    vote_truth,
)
from workers.fewshot.objects import instances

pytestmark = pytest.mark.django_db


def _mask(client, result) -> np.ndarray:
    url = f"/api/segmentation-results/{result.pk}/export/mask.png"
    with PILImage.open(io.BytesIO(download(client, url))) as img:
        mask = np.asarray(img).astype(np.int64)
    mask[mask == 255] = -1  # uncovered margins
    return mask


def _kinds_per_particle(mask: np.ndarray, kinds: list[int]) -> np.ndarray:
    """The share of each particle's pixels in its majority kind (particles as a job finds
    them: specks under 8 px are none)."""
    return instances(mask, kinds).class_fraction


def test_each_particle_of_a_job_has_one_kind(client_for, world, model_version):
    from labeling.services import class_update, support_set_freeze

    image, s = upload_ready_image(world, case="particles_round_rod", size=(512, 512))
    schema, classes, grid = labelled_schema(world, image, s)
    assert s.class_names == ["carbon", "round", "rod"]
    for particle in classes[1:]:
        class_update(user=world.curator, label_class=particle, kind="objects")
    vote_truth(world.annotator, grid, schema, classes, truth_chips(s))
    version = support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    client = client_for(world.annotator)

    whole = run_job(client, version, [image], params={"object_kinds": True})
    assert whole.job.params["object_kinds"] is True
    split = run_job(client, version, [image])
    assert split.job.params["object_kinds"] is False

    by_shape, by_vote = _mask(client, whole), _mask(client, split)
    one_kind = _kinds_per_particle(by_shape, [1, 2])
    majority = _kinds_per_particle(by_vote, [1, 2])
    assert one_kind.size and (one_kind == 1.0).all()
    # chip by chip some particles come out part round, part rod: each takes its majority
    assert majority.size and (majority == 1.0).all()
    assert (by_shape != by_vote).any()  # the shapes name some particles' kind otherwise
    # both jobs report the particles of both kinds
    detail = client.get(f"/api/segmentation-results/{whole.pk}/").json()
    assert set(detail["objects"]) == {"round", "rod"}
    assert sum(o["n_total"] for o in detail["objects"].values()) >= one_kind.size // 2
