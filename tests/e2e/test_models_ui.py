"""E2E: the models page (champion, versions with cards and licences, promotion, roll-back,
training) and choosing a model in the Segment step."""

import io
import time
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in, vote

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def builtins(transactional_db):
    """The two built-in encoders as ``registry_init`` mirrors them (public, with their cards,
    each its model's champion; chiplab-default is the platform default), without MLflow."""
    from registry.models import ModelAlias, ModelVersion, ModelVisibility, Source
    from registry.services.builtins import builtin_card

    out = {}
    for kind in ("default", "fourier"):
        name = f"chiplab-{kind}"
        version = ModelVersion.objects.create(
            name=name,
            version=1,
            encoder_kind=kind,
            source=Source.BUILTIN,
            visibility=ModelVisibility.PUBLIC,
            mlflow_run_id="run-e2e",
            card=builtin_card(kind),
            aliases=["champion"],
        )
        ModelAlias.objects.create(name=name, alias="champion", version=version)
        out[kind] = version
    return out


@pytest.fixture
def local_mlflow(settings, tmp_path):
    """The web process's MLflow registry: a fresh local store (SQLite + files)."""
    settings.MLFLOW_TRACKING_URI = f"sqlite:///{tmp_path / 'mlflow.sqlite3'}"
    settings.MLFLOW_ARTIFACT_ROOT = (tmp_path / "mlartifacts").as_uri()
    settings.CHIPLAB_MODEL_CACHE_DIR = tmp_path / "models"
    return settings.MLFLOW_TRACKING_URI


def _row(page, name):
    return page.locator(f'[data-testid="model-version"][data-name="{name}"]')


def test_models_page_lists_builtins_and_a_curator_promotes_a_version(
    page, new_page, lab_owner, builtins, local_mlflow
):
    """The built-ins are listed with their cards and licence; a curator makes the lab's own
    (imported) version its champion, then rolls back to the public default. A viewer sees
    the same list without the controls."""
    from accounts.models import Role
    from registry.selectors import lab_champion
    from tests.factories import MembershipFactory
    from tests.registry.helpers import lab_version

    lab = lab_owner.memberships.get().lab
    curator = MembershipFactory(lab=lab, role=Role.CURATOR).user
    viewer = MembershipFactory(lab=lab, role=Role.VIEWER).user
    own = lab_version(lab, lab_owner, name="r18-import")

    sign_in(page, curator.username)
    page.get_by_test_id("nav-models").click()
    champion = page.get_by_test_id("champion")
    expect(page.get_by_test_id("champion-name")).to_have_text("chiplab-default v1")
    expect(page.get_by_test_id("champion-note")).to_contain_text("public default")
    expect(page.get_by_test_id("champion-evaluation")).to_have_text(
        builtins["default"].card["evaluation"]
    )
    expect(page.get_by_test_id("rollback")).to_have_count(0)
    rows = page.get_by_test_id("model-version")
    expect(rows).to_have_count(3)
    for kind in ("default", "fourier"):
        row = _row(page, f"chiplab-{kind}")
        expect(row.get_by_test_id("model-licence")).to_have_text("Licence BSD-3-Clause")
        expect(row).to_contain_text(builtins[kind].card["summary"])
        # what each scored on micrographs neither its training nor the settings saw
        expect(row.get_by_test_id("model-evaluation")).to_have_text(
            builtins[kind].card["evaluation"]
        )
        expect(row.get_by_test_id("promote")).to_have_count(0)
        expect(row.get_by_test_id("model-download")).to_have_attribute(
            "href", f"/api/model-versions/{builtins[kind].pk}/download"
        )
    expect(_row(page, "chiplab-default").get_by_test_id("lab-champion")).to_be_visible()
    expect(_row(page, own.name)).to_contain_text("imported")
    # an imported version's card has no such measurement: nothing is shown for it
    expect(_row(page, own.name).get_by_test_id("model-evaluation")).to_have_count(0)
    page.shot("models")

    # the zip holds the encoder and its card
    with page.expect_download() as info:
        _row(page, "chiplab-fourier").get_by_test_id("model-download").click()
    with zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes())) as zf:
        assert {"card.json", "encoder/config.json"} <= set(zf.namelist()), zf.namelist()

    _row(page, own.name).get_by_test_id("promote").click()
    expect(page.get_by_test_id("champion-name")).to_have_text(f"{own.name} v1")
    expect(page.get_by_test_id("champion-note")).to_contain_text("the lab's own champion")
    expect(page.get_by_test_id("champion-evaluation")).to_have_count(0)  # not measured here
    expect(_row(page, own.name).get_by_test_id("lab-champion")).to_be_visible()
    expect(_row(page, own.name).get_by_test_id("model-aliases")).to_contain_text("champion")
    expect(_row(page, "chiplab-default").get_by_test_id("lab-champion")).to_have_count(0)
    expect(champion).to_have_attribute("data-version", str(own.pk))
    page.shot("promoted")
    assert lab_champion(lab_id=lab.pk) == own

    other = new_page()
    sign_in(other, viewer.username)
    other.goto("/#/models")
    expect(other.get_by_test_id("champion-name")).to_have_text(f"{own.name} v1")
    expect(other.get_by_test_id("model-version")).to_have_count(3)
    expect(other.get_by_test_id("promote")).to_have_count(0)
    expect(other.get_by_test_id("rollback")).to_have_count(0)
    expect(other.get_by_test_id("training-form")).to_have_count(0)
    expect(other.get_by_test_id("training-read-only")).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("rollback").click()
    expect(page.get_by_test_id("champion-name")).to_have_text("chiplab-default v1")
    expect(page.get_by_test_id("toasts")).to_contain_text("the lab uses the public default")
    assert lab_champion(lab_id=lab.pk) is None
    assert not page.errors, page.errors
    assert not other.errors, other.errors


def test_segment_with_a_chosen_model(page, celery_worker, lab_owner, builtins, labelled_dataset):
    """The selector offers the lab champion (chosen) and the other versions; the job uses the
    one chosen, and its result names it."""
    from analysis.models import SegmentationJob

    d = labelled_dataset
    vote(lab_owner, d)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{d['image'].pk}/segment")
    select = page.get_by_test_id("model-version")
    expect(select.locator("option")).to_have_count(2)
    expect(select).to_have_value(str(builtins["default"].pk))
    expect(select.locator("option:checked")).to_contain_text("chiplab-default v1")
    expect(select.locator("option:checked")).to_contain_text("(lab champion)")
    select.select_option(str(builtins["fourier"].pk))
    segment = page.get_by_test_id("segment")
    expect(segment).to_be_enabled()
    segment.click()
    expect(page.get_by_test_id("viewer-canvas")).to_have_attribute(
        "data-overlay", "drawn", timeout=180_000
    )
    expect(page.get_by_test_id("result-meta")).to_contain_text("model chiplab-fourier v1")
    page.shot("fourier-result")
    job = SegmentationJob.objects.get()
    assert job.model_version == builtins["fourier"]
    assert job.results.get().provenance["model_version"]["name"] == "chiplab-fourier"
    assert not page.errors, page.errors


def test_training_job_from_a_frozen_support_set(
    page, settings, celery_worker, mlflow_server, lab_owner, builtins, labelled_dataset
):
    """A curator fine-tunes the champion on a frozen support set with the smallest settings:
    the job is listed with its progress, and its new version when it is done."""
    from labeling.services import support_set_freeze
    from registry.models import TrainingJob

    settings.MLFLOW_TRACKING_URI = mlflow_server  # the registry the worker writes to
    d = labelled_dataset
    vote(lab_owner, d, per_class=4)
    version = support_set_freeze(
        user=lab_owner, schema=d["schema"], rule="single_owner", grids=[d["grid"]]
    )
    sign_in(page, lab_owner.username)
    page.goto("/#/models")
    expect(page.get_by_test_id("training-empty")).to_be_visible()
    sets = page.get_by_test_id("training-set")
    expect(sets).to_have_count(1)
    expect(sets.first).to_contain_text("Crowd set")
    expect(sets.first).to_contain_text(f"v{version.number}")
    expect(sets.first).to_contain_text("STO 4 · Ge 4 · vacuum 4")
    expect(page.get_by_test_id("training-base")).to_have_value(str(builtins["default"].pk))
    # nothing chosen: said at once, nothing sent
    page.get_by_test_id("training-start").click()
    expect(page.get_by_test_id("training-form").get_by_test_id("error-box")).to_contain_text(
        "Choose at least one"
    )
    sets.first.get_by_test_id("training-set-check").check()
    page.get_by_test_id("training-epochs").fill("1")
    page.locator("[data-testid=training-form] details summary").click()
    page.get_by_test_id("training-episodes").fill("1")
    page.get_by_test_id("training-holdout").fill("1")
    t0 = time.perf_counter()
    page.get_by_test_id("training-start").click()
    jobs = page.get_by_test_id("training-job")
    expect(jobs).to_have_count(1)
    expect(jobs.first.get_by_test_id("training-progress")).to_be_visible()
    page.shot("training-queued")
    job = TrainingJob.objects.get()
    assert job.params["epochs"] == 1 and job.params["episodes_per_epoch"] == 1
    assert job.support_set_versions == [str(version.pk)]
    assert job.base_version == builtins["default"]

    expect(jobs.first).to_have_attribute("data-status", "succeeded", timeout=240_000)
    print(f"\ntraining job (1 epoch, 1 episode): {time.perf_counter() - t0:.1f} s click -> done")
    job.refresh_from_db()
    name = job.result_version.name
    expect(jobs.first.get_by_test_id("training-result")).to_have_text(f"{name} v1")
    row = _row(page, name)
    expect(row).to_be_visible()
    expect(row.get_by_test_id("model-aliases")).to_contain_text("challenger")
    expect(row.get_by_test_id("model-licence")).to_contain_text("data licences CC-BY-4.0")
    expect(row.get_by_test_id("model-accuracy")).to_contain_text("%")
    page.shot("training-done")
    row.get_by_test_id("promote").click()
    expect(page.get_by_test_id("champion-name")).to_have_text(f"{name} v1")
    assert not page.errors, page.errors


def test_cancel_a_queued_training_job(page, lab_owner, builtins, labelled_dataset, hold_jobs):
    """No worker takes the job here: it waits with its progress shown, and Cancel stops it."""
    from labeling.services import support_set_freeze
    from registry.models import TrainingJob

    hold_jobs("workers.tasks.train.train_job")
    d = labelled_dataset
    vote(lab_owner, d, per_class=4)
    support_set_freeze(user=lab_owner, schema=d["schema"], rule="single_owner", grids=[d["grid"]])
    sign_in(page, lab_owner.username)
    page.goto("/#/models")
    page.get_by_test_id("training-set-check").check()
    page.get_by_test_id("training-start").click()
    jobs = page.get_by_test_id("training-job")
    expect(jobs.first).to_have_attribute("data-status", "queued")
    expect(jobs.first.get_by_test_id("training-progress")).to_have_text("waiting for a worker")
    jobs.first.get_by_test_id("training-cancel").click()
    expect(jobs.first).to_have_attribute("data-status", "cancelled")
    expect(jobs.first.get_by_test_id("training-cancel")).to_have_count(0)
    page.shot("training-cancelled")
    assert TrainingJob.objects.get().status == "cancelled"
    assert not page.errors, page.errors


def test_a_support_set_too_small_to_hold_out_is_marked(page, lab_owner, builtins, labelled_dataset):
    """Three chips per class: the set can train beside a larger one but holds nothing out."""
    from labeling.services import support_set_freeze

    d = labelled_dataset
    vote(lab_owner, d, per_class=3)
    support_set_freeze(user=lab_owner, schema=d["schema"], rule="single_owner", grids=[d["grid"]])
    sign_in(page, lab_owner.username)
    page.goto("/#/models")
    sets = page.get_by_test_id("training-set")
    expect(sets).to_have_count(1)
    expect(sets.first.get_by_test_id("training-set-small")).to_contain_text("too few chips")
    vote(lab_owner, d, per_class=4, seed=1)  # now four per class: it holds chips out
    support_set_freeze(user=lab_owner, schema=d["schema"], rule="single_owner", grids=[d["grid"]])
    page.reload()
    expect(sets).to_have_count(2)
    expect(sets.first.get_by_test_id("training-set-small")).to_have_count(0)  # newest first
    assert not page.errors, page.errors
