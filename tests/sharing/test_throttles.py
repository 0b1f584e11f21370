"""Creation of jobs, training jobs and imports is throttled per user; reads are not."""

import pytest
from django.core.cache import cache
from django.urls import get_resolver

from common.throttling import CREATION_SCOPES
from tests.sharing.conftest import job_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    def lower(**scopes):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **scopes,
            },
        }
        cache.clear()

    yield lower
    cache.clear()


def test_job_creation_is_throttled_per_user(client_for, world, two_labs, rates):
    a, _b = two_labs
    rates(jobs="2/min")
    curator = client_for(world.curator)
    assert curator.post("/api/segmentation-jobs/", job_body(a), format="json").status_code == 201
    first = curator.post("/api/segmentation-jobs/", job_body(a), format="json").json()["id"]
    throttled = curator.post(f"/api/segmentation-jobs/{first}/rerun")  # re-runs count too
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    # reading is free, and another member has their own allowance
    assert curator.get("/api/segmentation-jobs/").status_code == 200
    owner = client_for(world.owner)
    assert owner.post("/api/segmentation-jobs/", job_body(a), format="json").status_code == 201


def test_training_and_imports_are_throttled(client_for, world, rates):
    rates(training="1/hour", imports="1/hour")
    curator = client_for(world.curator)
    training = f"/api/labs/{world.lab.pk}/training-jobs/"
    imports = f"/api/labs/{world.lab.pk}/model-versions/import"
    # refused on their merits (no support set, no file) but counted: the throttle comes first
    assert curator.post(training, {}, format="json").status_code == 400
    assert curator.post(training, {}, format="json").status_code == 429
    assert curator.post(imports, {}, format="multipart").status_code == 400
    assert curator.post(imports, {}, format="multipart").status_code == 429
    assert curator.get(training).status_code == 200


def test_every_throttled_view_is_routed():
    """A renamed or moved view must not silently lose its throttle."""
    routed = set()

    def walk(patterns):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns)
            elif getattr(p.callback, "view_class", None):
                cls = p.callback.view_class
                routed.add(f"{cls.__module__}.{cls.__name__}")

    walk(get_resolver().url_patterns)
    assert set(CREATION_SCOPES) <= routed, set(CREATION_SCOPES) - routed


def test_search_is_throttled_per_address(client_for, world, rates):
    rates(search="2/min")
    anonymous = client_for(None)
    answers = [anonymous.get("/api/search/", {"q": "titan"}).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
