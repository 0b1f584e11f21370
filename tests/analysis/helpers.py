"""Helpers of the analysis tests: simulated micrographs with known truth, uploaded, labelled."""

import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from tests.support.segmentation import segmentation_run
from workers.fewshot import sim
from workers.fewshot.chipping import ChipGrid, chip_truth

CHIP = 32
CASE = "sto_ge_interface"


def chip_mask(labels, *, chip_size: int, offset=(0, 0), shape) -> np.ndarray:
    """A chip label grid (rows, cols) painted on pixels (H, W) uint8, margins 255 (the
    exports' UNLABELLED): the chip map as a pixel mask, to compare pixel maps with."""
    lab = np.asarray(labels, np.uint8)
    mask = np.full(tuple(shape), 255, np.uint8)
    top, left = offset
    rows, cols = lab.shape
    block = lab.repeat(chip_size, 0).repeat(chip_size, 1)
    mask[top : top + rows * chip_size, left : left + cols * chip_size] = block
    return mask


def sim_tiff(
    *, size=(256, 256), seed=0, frames: int = 1, case: str = CASE
) -> tuple[bytes, sim.SimImage]:
    """A simulated micrograph as 16-bit TIFF bytes (ImageJ calibration) and its truth."""
    s = sim.generate(case, seed=seed, size=size)
    return sim.tiff_bytes(s, frames=frames), s


def truth_chips(s: sim.SimImage, *, per_class: int = 3, seed: int = 0) -> dict[int, list]:
    """``per_class`` pure chips (row, col) of every class, chosen reproducibly."""
    return sim.pure_chips(s, chip=CHIP, per_class=per_class, seed=seed)


def chip_truth_grid(s: sim.SimImage) -> np.ndarray:
    return chip_truth(s.truth, ChipGrid.for_shape(s.truth.shape, CHIP))


def upload_ready_image(
    world,
    *,
    dataset=None,
    frames: int = 1,
    seed: int = 0,
    size=(256, 256),
    uploader=None,
    case: str = CASE,
):
    """Upload a simulated TIFF through the catalog service and ingest it in-process."""
    from catalog.services import image_ingest, image_upload

    data, s = sim_tiff(frames=frames, seed=seed, size=size, case=case)
    dataset = dataset or world.dataset()
    image = image_upload(
        user=uploader or world.curator,
        dataset=dataset,
        upload=SimpleUploadedFile(f"sim{seed}-{frames}.tif", data),
    )
    image = image_ingest(image_id=image.pk)
    assert image.status == "ready", image.error
    return image, s


def labelled_schema(world, image, s):
    """The dataset's default schema with the simulator's classes, and the 32 px grid."""
    from labeling.services import class_create, grid_create, schema_get_or_create_default

    schema, _ = schema_get_or_create_default(user=world.curator, dataset=image.dataset)
    palette = ["#e41a1c", "#4daf4a", "#377eb8", "#984ea3"]
    classes = [
        class_create(user=world.curator, schema=schema, name=name, colour=palette[i])
        for i, name in enumerate(s.class_names)
    ]
    grid, _ = grid_create(user=world.annotator, image=image, chip_size=CHIP)
    return schema, classes, grid


def vote_truth(user, grid, schema, classes, chips: dict[int, list]):
    from labeling.services import votes_cast_many

    votes = [{"row": r, "col": c, "class": classes[k].pk} for k, rc in chips.items() for r, c in rc]
    votes_cast_many(user=user, grid=grid, schema=schema, votes=votes)


def run_job(client, version, images, params=None):
    """Create a segmentation job of support set ``version`` on ``images`` (one image of one
    frame) through the API, run it in-process as the worker would, and return its result."""
    body = {"support_set": str(version.pk), "images": [str(image.pk) for image in images]}
    if params is not None:
        body["params"] = params
    response = client.post("/api/segmentation-jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    segmentation_run(job_id=response.json()["id"])
    job = SegmentationJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    return SegmentationResult.objects.get(job=job)


def download(client, url) -> bytes:
    """An export's bytes: streamed or inline (local disk) or via the presigned redirect (S3)."""
    import requests

    response = client.get(url)
    if response.status_code == 302:
        fetched = requests.get(response["Location"], timeout=30)
        assert fetched.status_code == 200, url
        return fetched.content
    assert response.status_code == 200, (url, response.status_code)
    return b"".join(response.streaming_content) if response.streaming else response.content
