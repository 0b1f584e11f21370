"""E2E fixtures: Debian's Chromium driven by Playwright against a live Django server.

Never runs ``playwright install``: the browser is the system's /usr/bin/chromium. Without it the
e2e tests skip locally and fail in CI (``CI=true``).
"""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from tests.common.held_jobs import held_jobs
from tests.factories import LabFactory, MembershipFactory
from tests.support.services import IN_CI, ROOT

# Playwright's sync API runs an event loop in this thread; the ORM calls the fixtures make
# from it are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHIPLAB_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
PASSWORD = "correct horse battery"  # tests.factories.UserFactory's password
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def _require_chromium():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts(request):
    """Directory for this test's screenshots: test-artifacts/e2e/<test name>/."""
    name = re.sub(r"[^\w.-]+", "_", request.node.name)
    path = ARTIFACTS / name
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.png"):
        old.unlink()
    return path


class Shots:
    def __init__(self, page, path):
        self.page, self.path, self.n = page, path, 0

    def __call__(self, name: str):
        self.n += 1
        self.page.screenshot(path=str(self.path / f"{self.n:02d}-{name}.png"))


@pytest.fixture
def new_page(browser, live_server, artifacts):
    """Factory of pages (one browser context each, so sessions stay apart)."""
    contexts = []

    def make(*, width=1440, height=900):
        context = browser.new_context(
            viewport={"width": width, "height": height},
            accept_downloads=True,
            base_url=live_server.url,
        )
        context.set_default_timeout(30_000)
        # expect() has its own deadline (5 s by default): the same 30 s, for a loaded CI machine
        expect.set_options(timeout=30_000)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        # HTTP errors are shown to the user by the app; only script errors count here.
        page.on(
            "console",
            lambda msg: (
                msg.type == "error"
                and not msg.text.startswith("Failed to load resource")
                and page.errors.append(msg.text)
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(new_page, artifacts, request):
    page = new_page()
    page.shot = Shots(page, artifacts)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(artifacts / "zz-failure.png"))


def sign_in(page, username, password=PASSWORD):
    page.goto("/")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("who").filter(has_text=username).wait_for()


@pytest.fixture
def lab_owner(transactional_db):
    """A lab ("Interfaces lab") with its owner."""
    lab = LabFactory(name="Interfaces lab")
    return MembershipFactory(lab=lab, role=Role.OWNER).user


@pytest.fixture
def other_lab_owner(transactional_db):
    lab = LabFactory(name="Particles lab")
    return MembershipFactory(lab=lab, role=Role.OWNER).user


def simulated_tiff(path: Path, *, size=1024, case="sto_ge_interface", seed=0):
    """A calibrated 16-bit TIFF of a simulated micrograph (and its truth)."""
    from workers.fewshot import sim

    s = sim.generate(case, seed=seed, size=(size, size))
    path.write_bytes(sim.tiff_bytes(s))
    return s


@pytest.fixture
def champion_model(transactional_db):
    """A built-in encoder as the public champion: the bundled default if its weights are
    committed, else the training-free Fourier encoder (no MLflow needed either way)."""
    from registry.models import ModelAlias, ModelVersion, ModelVisibility, Source
    from workers.fewshot.encoders.default import BUNDLED_WEIGHTS

    kind = "default" if (BUNDLED_WEIGHTS / "config.json").is_file() else "fourier"
    name = f"chiplab-{kind}"
    version = ModelVersion.objects.create(
        name=name,
        version=1,
        encoder_kind=kind,
        source=Source.BUILTIN,
        visibility=ModelVisibility.PUBLIC,
        mlflow_run_id="run-e2e",
    )
    ModelAlias.objects.create(name=name, alias="champion", version=version)
    return version


def pure_chips(s, *, chip: int, per_class: int, seed: int = 0) -> dict[int, list[tuple[int, int]]]:
    """``per_class`` chips of each simulated class that contain only that class."""
    from workers.fewshot import sim

    return sim.pure_chips(s, chip=chip, per_class=per_class, seed=seed)


def click_chip(page, row: int, col: int, *, chip: int, ox: int = 0, oy: int = 0):
    """Click the centre of chip (row, col) on the viewer canvas, using its published transform."""
    canvas = page.get_by_test_id("viewer-canvas")
    t = canvas.evaluate("c => ({s: +c.dataset.scale, x: +c.dataset.tx, y: +c.dataset.ty})")
    canvas.click(
        position={
            "x": t["x"] + (ox + (col + 0.5) * chip) * t["s"],
            "y": t["y"] + (oy + (row + 0.5) * chip) * t["s"],
        }
    )


@pytest.fixture
def labelled_dataset(lab_owner, tmp_path):
    """A ready simulated 512 px image with three classes and a 32 px grid (set up through
    services)."""
    return make_dataset(lab_owner, tmp_path)


def make_dataset(
    owner, tmp_path, *, png=False, title="Crowd set", size=512, case="sto_ge_interface"
):
    """A ready simulated image in a new dataset of the owner's lab, with the simulator's
    classes (STO, Ge and vacuum for the default case) and a 32 px grid (set up through
    services). ``png``: an 8-bit PNG, which carries no pixel size (uncalibrated)."""
    import numpy as np
    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image as PILImage

    from catalog.models import Dataset
    from catalog.services import image_ingest, image_upload
    from labeling.services import class_create, grid_create, schema_get_or_create_default

    tif = tmp_path / "crowd.tif"
    s = simulated_tiff(tif, size=size, case=case)
    name, data = "crowd.tif", tif.read_bytes()
    if png:
        lo, hi = np.percentile(s.image, [0.1, 99.9])
        grey = (np.clip((s.image - lo) / max(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8)
        out = tmp_path / "crowd.png"
        PILImage.fromarray(grey).save(out)
        name, data = "crowd.png", out.read_bytes()
    lab = owner.memberships.get().lab
    dataset = Dataset.objects.create(lab=lab, title=title, created_by=owner)
    # Ingest here, and only here: a Celery worker started by an earlier test would otherwise
    # ingest the same image at the same time, and the two writes of its preview collide.
    with held_jobs("workers.tasks.ingest.ingest_image"):
        image = image_upload(user=owner, dataset=dataset, upload=SimpleUploadedFile(name, data))
    image = image_ingest(image_id=image.pk)
    assert image.status == "ready", image.error
    schema, _ = schema_get_or_create_default(user=owner, dataset=dataset)
    classes = [
        class_create(user=owner, schema=schema, name=name, colour=colour)
        for name, colour in zip(s.class_names, ("#0072b2", "#e69f00", "#009e73"), strict=True)
    ]
    grid, _ = grid_create(user=owner, image=image, chip_size=32)
    return {
        "sim": s,
        "image": image,
        "dataset": dataset,
        "schema": schema,
        "classes": classes,
        "grid": grid,
        "lab": lab,
    }


def second_image(
    owner, d, tmp_path, *, name="second-area.tif", size=384, seed=7, case="sto_ge_interface"
):
    """Another ready simulated image (by default another seed of the same case) in the
    dataset of ``make_dataset``'s ``d``, uploaded as ``name``."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from catalog.services import image_ingest, image_upload

    path = tmp_path / name
    simulated_tiff(path, size=size, seed=seed, case=case)
    with held_jobs("workers.tasks.ingest.ingest_image"):
        image = image_upload(
            user=owner,
            dataset=d["dataset"],
            upload=SimpleUploadedFile(name, path.read_bytes()),
        )
    image = image_ingest(image_id=image.pk)
    assert image.status == "ready", image.error
    return image


def mark_objects(page, *indices: int) -> None:
    """On the support step, tick "objects" on the class items at ``indices`` (curators)."""
    items = page.get_by_test_id("class-item")
    for k in indices:
        items.nth(k).get_by_test_id("class-kind").check()
        expect(items.nth(k).get_by_test_id("class-kind")).to_be_checked()


def vote(user, d, *, per_class=2, classes=None, chip=32, seed=0):
    """``user`` labels ``per_class`` pure chips of each simulated class (or of ``classes``,
    indices into d["classes"]) on d["grid"]."""
    from labeling.services import votes_cast_many

    chips = pure_chips(d["sim"], chip=chip, per_class=per_class, seed=seed)
    keep = range(len(d["classes"])) if classes is None else classes
    votes_cast_many(
        user=user,
        grid=d["grid"],
        schema=d["schema"],
        votes=[
            {"row": r, "col": c, "class": d["classes"][k].pk} for k in keep for r, c in chips[k]
        ],
    )
    return chips


def run_job(owner, d, **params):
    """Freeze ``owner``'s support set of ``make_dataset``'s ``d`` and run a segmentation job of
    its image here (not on a worker): the finished job."""
    from analysis.services import segmentation_job_create
    from labeling.services import support_set_freeze
    from tests.support.segmentation import segmentation_run

    version = support_set_freeze(user=owner, schema=d["schema"], rule="single_owner")
    with held_jobs("workers.tasks.segment.segment_job"):
        job = segmentation_job_create(
            user=owner, images=[d["image"].pk], support_set=version.pk, **params
        )
    segmentation_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def image_box(page, width: int, height: int) -> dict:
    """Where the micrograph (width x height image pixels) is drawn on the page."""
    canvas = page.get_by_test_id("viewer-canvas")
    box = canvas.bounding_box()
    t = canvas.evaluate("c => ({s: +c.dataset.scale, x: +c.dataset.tx, y: +c.dataset.ty})")
    return {
        "x": box["x"] + t["x"],
        "y": box["y"] + t["y"],
        "width": width * t["s"],
        "height": height * t["s"],
    }


def overlaps(a: dict, b: dict) -> bool:
    """Whether two bounding boxes ({x, y, width, height}) share any area."""
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def segment_and_wait(page):
    """On the Segment step: click Segment once it is enabled (the support set loaded) and wait
    until the result's map is drawn (a real worker: up to 3 min on a loaded CI machine);
    returns the viewer canvas."""
    button = page.get_by_test_id("segment")
    expect(button).to_be_enabled()
    button.click()
    canvas = page.get_by_test_id("viewer-canvas")
    expect(canvas).to_have_attribute("data-overlay", "drawn", timeout=180_000)
    return canvas
