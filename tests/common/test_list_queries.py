"""List endpoints run a fixed number of queries whatever the page holds (no query per row).

Each case lists a collection with a few rows, adds rows, and lists again: the two counts must
be equal. A serializer field that reads a relation per row (the job list once ran three
queries per job) fails here.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from catalog.models import Dataset
from tests.analysis.helpers import labelled_schema, truth_chips, upload_ready_image, vote_truth
from tests.factories import (
    DatasetFactory,
    LabFactory,
    MembershipFactory,
    ReadyImageFactory,
    UserFactory,
    fourier_champion,
)

pytestmark = pytest.mark.django_db


def _queries(client, url: str, n_rows: int) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    assert len(rows) == n_rows, (url, len(rows), n_rows)
    return len(captured.captured_queries)


def _assert_flat(client, url: str, add, *, before: int, after: int) -> None:
    """Queries of ``url`` listing ``before`` rows equal those listing ``after`` rows, where
    ``add(n)`` creates n more rows."""
    first = _queries(client, url, before)
    add(after - before)
    second = _queries(client, url, after)
    assert first == second, f"{url}: {first} queries for {before} rows, {second} for {after}"


def test_datasets_and_their_images(client_for, world):
    client = client_for(world.curator)
    world.dataset()
    existing = Dataset.objects.filter(lab=world.lab).count()
    _assert_flat(
        client,
        "/api/datasets/",
        lambda n: [world.dataset() for _ in range(n)],
        before=existing,
        after=existing + 4,
    )
    dataset = world.dataset()
    ReadyImageFactory(dataset=dataset, uploaded_by=world.curator)
    _assert_flat(
        client,
        f"/api/datasets/{dataset.pk}/images/",
        lambda n: [ReadyImageFactory(dataset=dataset, uploaded_by=world.curator) for _ in range(n)],
        before=1,
        after=5,
    )


def test_labs_and_members(client_for):
    user = UserFactory()
    MembershipFactory(user=user, role=Role.OWNER)

    def more_labs(n):
        for _ in range(n):
            MembershipFactory(user=user, lab=LabFactory(), role=Role.CURATOR)

    client = client_for(user)
    _assert_flat(client, "/api/labs/", more_labs, before=1, after=5)
    lab = user.memberships.first().lab
    _assert_flat(
        client,
        f"/api/labs/{lab.pk}/members/",
        lambda n: [MembershipFactory(lab=lab) for _ in range(n)],
        before=1,
        after=5,
    )


def test_grids_of_an_image(client_for, world):
    from labeling.services import grid_create

    image = ReadyImageFactory(
        dataset=DatasetFactory(lab=world.lab, created_by=world.curator),
        uploaded_by=world.curator,
    )
    sizes = iter(range(16, 64, 4))
    grid_create(user=world.annotator, image=image, chip_size=next(sizes))
    _assert_flat(
        client_for(world.annotator),
        f"/api/images/{image.pk}/grids/",
        lambda n: [
            grid_create(user=world.annotator, image=image, chip_size=next(sizes)) for _ in range(n)
        ],
        before=1,
        after=5,
    )


def test_segmentation_jobs_and_results(client_for, world):
    from labeling.services import support_set_freeze
    from tests.support.segmentation import segmentation_run

    fourier_champion()
    image, s = upload_ready_image(world)
    schema, classes, grid = labelled_schema(world, image, s)
    vote_truth(world.annotator, grid, schema, classes, truth_chips(s))
    version = support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    client = client_for(world.annotator)
    body = {"support_set": str(version.pk), "images": [str(image.pk)]}

    def more_jobs(n):
        for _ in range(n):
            response = client.post("/api/segmentation-jobs/", body, format="json")
            assert response.status_code == 201, response.json()

    more_jobs(1)
    _assert_flat(client, "/api/segmentation-jobs/", more_jobs, before=1, after=4)

    def more_results(n):
        for _ in range(n):
            response = client.post("/api/segmentation-jobs/", body, format="json")
            segmentation_run(job_id=response.json()["id"])

    more_results(1)
    _assert_flat(client, f"/api/images/{image.pk}/results/", more_results, before=1, after=3)


def test_model_versions(client_for, world):
    from registry.models import ModelVersion, ModelVisibility, Source

    champion = fourier_champion()

    def more_versions(n):
        start = ModelVersion.objects.filter(name=champion.name).count() + 1
        for v in range(start, start + n):
            ModelVersion.objects.create(
                name=champion.name,
                version=v,
                encoder_kind="fourier",
                source=Source.BUILTIN,
                visibility=ModelVisibility.PUBLIC,
                mlflow_run_id=f"run-{v}",
            )

    _assert_flat(client_for(world.viewer), "/api/model-versions/", more_versions, before=1, after=5)
