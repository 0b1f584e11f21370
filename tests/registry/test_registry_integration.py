"""End to end on real services: MLflow server (SQL backend, S3 artifacts) + a Celery worker.

Train on simulated support sets through the API, find the run and the version in MLflow,
promote, segment with the promoted encoder, roll back.
"""

import numpy as np
import pytest

from registry import selectors, services, tracking
from registry.models import TrainingJob
from tests.registry.helpers import TINY_PARAMS, sim_support_set

pytestmark = [pytest.mark.integration]


@pytest.fixture
def on_server(mlflow_server, settings, tmp_path, default_weights):
    settings.MLFLOW_TRACKING_URI = mlflow_server
    settings.CHIPLAB_MODEL_CACHE_DIR = tmp_path / "models"
    settings.CHIPLAB_AUTO_PROMOTE_MARGIN = None
    services.encoder_cache_clear()
    yield mlflow_server
    services.encoder_cache_clear()


def test_train_promote_segment_rollback(
    transactional_db, on_server, celery_worker, world, client_for, wait
):
    services.registry_init()
    support = sim_support_set(world.curator, world.dataset(), seeds=(0, 1))
    resp = client_for(world.curator).post(
        f"/api/labs/{world.lab.pk}/training-jobs/",
        {"support_set_versions": [str(support.pk)], "params": TINY_PARAMS},
        format="json",
    )
    assert resp.status_code == 201, resp.json()
    job_id = resp.json()["id"]

    def done():
        job = TrainingJob.objects.get(pk=job_id)
        return job if job.status in ("succeeded", "failed", "cancelled") else None

    job = wait(done, timeout=600, interval=1, what="training job")
    assert job.status == "succeeded", job.error
    detail = client_for(world.viewer).get(f"/api/training-jobs/{job_id}/").json()
    assert detail["progress"] == 1.0 and len(detail["history"]) == TINY_PARAMS["epochs"] + 1

    # the run and the registered version are in MLflow (server, S3 artifacts)
    c = tracking.client()
    run = c.get_run(job.mlflow_run_id)
    assert run.info.status == "FINISHED" and "holdout_acc" in run.data.metrics
    assert len(c.get_metric_history(job.mlflow_run_id, "train_loss")) == TINY_PARAMS["epochs"]
    version = job.result_version
    mv = c.get_model_version_by_alias(version.name, "challenger")
    assert int(mv.version) == version.version and mv.run_id == job.mlflow_run_id
    assert "lineage.json" in {a.path for a in c.list_artifacts(job.mlflow_run_id)}

    # promote through the API; the lab's jobs now resolve to it
    resp = client_for(world.curator).post(
        f"/api/model-versions/{version.pk}/promote", {"alias": "champion"}
    )
    assert resp.status_code == 200
    assert int(c.get_model_version_by_alias(version.name, "champion").version) == 1
    assert selectors.model_version_resolve(user=world.viewer, lab=world.lab) == version

    # segment with it (engine, weights fetched from the server's S3 artifacts)
    from workers.fewshot import sim
    from workers.fewshot.pipeline import segment

    encoder = services.encoder_load(model_version=version, device="cpu")
    s = sim.generate("sto_ge_interface", seed=5, size=(128, 128))
    chips = [c for c in support.chips if c["image"] == support.chips[0]["image"]]
    classes = sorted({c["class"] for c in chips})
    seg = segment(
        s.image,
        chip_size=16,
        encoder=encoder,
        support={
            i: [(c["row"], c["col"]) for c in chips if c["class"] == k][:3]
            for i, k in enumerate(classes)
        },
    )
    assert seg.labels.shape == (8, 8) and np.isfinite(seg.probs).all()

    # roll back: the lab falls back to the public default
    resp = client_for(world.curator).post(f"/api/models/{version.name}/rollback", {})
    assert resp.status_code == 200 and resp.json()["version"] is None
    assert selectors.model_version_resolve(user=world.viewer, lab=world.lab).lab is None
    assert "champion" not in c.get_registered_model(version.name).aliases
