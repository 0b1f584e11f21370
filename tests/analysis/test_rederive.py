"""Re-deriving a published result from its dataset version's provenance alone."""

import json

import pytest
from django.core.management import call_command

from analysis import artefacts
from catalog.models import DatasetVersion
from common import storage
from publishing.versions import dataset_version_create
from tests.analysis.helpers import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(client_for, world, segmentable):
    """A finished result of the annotator's support set, published in version 1."""
    artefacts.MEMORY_CACHE.clear()
    result = run_job(client_for(world.annotator), segmentable["version"], [segmentable["image"]])
    version = dataset_version_create(
        user=world.curator, dataset=segmentable["image"].dataset, results=[result.pk]
    )
    return version, result


def url(version, result_id) -> str:
    return f"/api/dataset-versions/{version.pk}/results/{result_id}/rederive"


def test_a_published_result_rederives_bit_identical(client_for, world, published):
    version, result = published
    response = client_for(world.viewer).post(url(version, result.pk))
    assert response.status_code == 200, response.json()
    report = response.json()
    assert report["identical"] is True, report
    assert report["result"] == str(result.pk)
    assert report["chip_labels"] == {"identical": True, "differing": 0, "total": 64}
    assert report["pixel_mask"]["identical"] and report["pixel_mask"]["total"] == 256 * 256
    assert report["fractions"]["rederived"] == result.fractions
    assert report["code_version"]["published"] == result.job.code_version
    assert report["model_version"]["name"] == "chiplab-fourier"


def test_a_changed_provenance_is_reported_not_hidden(client_for, world, published):
    """The report compares what comes out: parameters that no longer match what made the
    result (here a manifest edited to smooth the chip map heavily) re-derive to something
    else, and parameters that cannot have made it are refused."""
    version, result = published
    manifest = version.manifest
    manifest["results"][0]["params"]["smooth"] = 5.0
    DatasetVersion.objects.filter(pk=version.pk).update(manifest=manifest)
    report = client_for(world.viewer).post(url(version, result.pk)).json()
    assert report["identical"] is False
    assert report["chip_labels"]["differing"] > 0 or report["pixel_mask"]["differing"] > 0

    manifest["results"][0]["params"]["chip_size"] = 64  # the support chips fall off the grid
    DatasetVersion.objects.filter(pk=version.pk).update(manifest=manifest)
    response = client_for(world.viewer).post(url(version, result.pk))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_rederivable"


def test_a_frozen_file_that_changed_is_refused(client_for, world, published):
    version, result = published
    key = version.manifest["support_sets"][0]["key"]
    with storage.open_(key) as fh:
        frozen = fh.read()
    storage.put_bytes(key, frozen.replace(b'"rule"', b'"rule" '))
    response = client_for(world.viewer).post(url(version, result.pk))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "checksum_mismatch"


def test_bounds_and_access(client_for, world, published, settings):
    version, result = published
    viewer = client_for(world.viewer)
    assert viewer.post(url(version, "00000000-0000-0000-0000-000000000000")).status_code == 404
    # outsiders do not learn that a private version exists; anonymous users must sign in
    assert client_for(world.outsider).post(url(version, result.pk)).status_code == 404
    assert client_for().post(url(version, result.pk)).status_code in (401, 403)
    settings.CHIPLAB_REDERIVE_MAX_PIXELS = 1000
    response = viewer.post(url(version, result.pk))
    assert response.status_code == 413
    assert "CHIPLAB_REDERIVE_MAX_PIXELS" in response.json()["error"]["message"]


def test_the_command_rederives_every_result_of_a_version(published, capsys):
    version, result = published
    call_command("chiplab_rederive", str(version.pk))
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["result"], r["identical"]) for r in reports] == [(str(result.pk), True)]
    with pytest.raises(SystemExit) as stopped:
        call_command("chiplab_rederive", str(version.pk), "--result", "not-a-result")
    assert stopped.value.code == 2
