"""Particles and OME-Zarr: the instance map (instances.png), the page's particle table
(particles.json), the one particle-table writer (the library's, which the platform's CSV builds
on) and the OME-Zarr export, as functions and through a job and the API."""

import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
import tifffile
import zarr
from PIL import Image as PILImage

from analysis import artefacts, exports, maps
from analysis.models import JobStatus, SegmentationJob, SegmentationResult
from tests.analysis.helpers import download
from tests.support.segmentation import segmentation_run
from workers.fewshot import objects

CLASSES = [
    {"index": 0, "id": "a", "name": "support", "colour": "#808080", "kind": "region"},
    {"index": 1, "id": "b", "name": "=particle", "colour": "#e69f00", "kind": "objects"},
]


def _discs(shape=(96, 128)) -> np.ndarray:
    """A label map (0 = background, 1 = particles): three discs, one cut by the edge."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for cy, cx, r in ((30, 30, 9), (60, 90, 12), (0, 64, 6)):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    return labels


# --- the instance map -----------------------------------------------------------------
def test_instances_png_codes_every_id_in_rgb_and_reads_back():
    ids = np.array([[0, 1, 255], [256, 65_535, 65_536], [1_000_000, 16_777_215, 7]], np.int32)
    data = exports.instances_png(ids)
    with PILImage.open(io.BytesIO(data)) as img:
        assert img.mode == "RGB" and img.size == (3, 3)
        rgb = np.asarray(img)
    assert tuple(rgb[1, 2]) == (1, 0, 0)  # 65536 = R 1
    assert np.array_equal(exports.read_instances_png(data), ids)
    with pytest.raises(ValueError, match="16777215"):
        exports.instances_png(np.array([[1 << 24]]))


def test_boxes_and_the_page_table_point_at_the_particles_of_the_instance_map():
    labels = _discs()
    inst = objects.instances(labels, 1, pixel_size=0.5, pixel_unit="nm")
    assert inst.n == 3
    rows = [{"class": "p", **row} for row in objects.instance_rows(inst)]
    boxes = maps.instance_boxes(inst.labels, inst.n)
    for i, (x0, y0, x1, y1) in enumerate(boxes, start=1):
        ys, xs = np.nonzero(inst.labels == i)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    doc = json.loads(maps.particles_json(rows, boxes))
    assert doc["n_total"] == 3 and doc["truncated"] is False
    assert doc["columns"][:2] == ["id", "class"] and "equivalent_diameter_nm" in doc["columns"]
    col = doc["columns"].index
    for row, box in zip(doc["rows"], doc["boxes"], strict=True):
        x0, y0, x1, y1 = box
        inside = inst.labels[y0:y1, x0:x1] == row[col("id")]
        assert inside.sum() == row[col("area_px")]  # the box holds the whole particle
    assert [r[col("edge")] for r in doc["rows"]] == [bool(e) for e in inst.edge]
    cut = json.loads(maps.particles_json(rows, boxes, limit=2))
    assert len(cut["rows"]) == len(cut["boxes"]) == 2 and cut["truncated"] is True
    assert cut["n_total"] == 3


# --- one particle table ---------------------------------------------------------------
def test_the_platform_particle_csv_is_the_library_table_with_class_and_provenance():
    inst = objects.instances(_discs(), 1, pixel_size=0.5, pixel_unit="nm")
    library = list(csv.DictReader(io.StringIO(objects.instances_table_csv(inst))))
    rows = [{"class": "=particle", **row} for row in objects.instance_rows(inst)]
    text = maps.particles_csv(rows, provenance={"job": "j1", "image": {"id": "i1"}})
    platform = list(csv.DictReader(io.StringIO(text)))
    assert list(platform[0]) == ["class", *library[0], "job", "image"]
    for mine, theirs in zip(platform, library, strict=True):
        assert {k: mine[k] for k in theirs} == theirs  # same columns, same values
        assert mine["class"] == "'=particle"  # formula-safe
        assert (mine["job"], mine["image"]) == ("j1", "i1")
    assert "equivalent_diameter_nm" in library[0]
    empty = maps.particles_csv([]).splitlines()
    assert empty == [",".join(["class", *objects.table_header([])])]


# --- OME-Zarr -------------------------------------------------------------------------
def _zarr_file(data: bytes, tmp_path):
    path = tmp_path / "result.ome.zarr.zip"
    path.write_bytes(data)
    return zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")


def test_ome_zarr_holds_the_map_confidence_particles_and_reference(tmp_path):
    labels = _discs()
    inst = objects.instances(labels, 1)
    mask = labels.astype(np.uint8)
    mask[:, -5:] = exports.UNLABELLED
    rng = np.random.default_rng(0)
    confidence = rng.random(mask.shape).astype(np.float32)
    confidence[0, 0] = np.nan
    reference = rng.integers(0, 256, mask.shape, dtype=np.uint8)
    geometry = {"chip_size": 16, "offset": (0, 0)}
    data = exports.mask_ome_zarr(
        mask,
        confidence,
        CLASSES,
        **geometry,
        instances=inst.labels,
        reference=reference,
        pixel_size=0.25,
        pixel_unit="um",
        provenance={"job": "j1"},
    )
    # read with zarr itself, as another tool would
    root = _zarr_file(data, tmp_path)
    assert root.metadata.zarr_format == 2
    ms = root.attrs["multiscales"][0]
    assert ms["version"] == "0.4" and [a["name"] for a in ms["axes"]] == ["y", "x"]
    assert {a["unit"] for a in ms["axes"]} == {"micrometer"}
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [0.25, 0.25]
    assert root.attrs[exports.CLASS_TABLE_KEY]["classes"][1]["name"] == "=particle"
    assert root.attrs[exports.PROVENANCE_KEY] == {"job": "j1"}
    assert list(root["labels"].attrs["labels"]) == ["classes", "particles"]
    label_attrs = root["labels/classes"].attrs["image-label"]
    assert {c["label-value"]: c["rgba"] for c in label_attrs["colors"]}[1] == [230, 159, 0, 255]
    assert np.array_equal(root["labels/classes/0"][:], mask)
    assert np.array_equal(root["labels/particles/0"][:], inst.labels)
    assert root["labels/particles/0"].dtype == np.uint32
    want = np.nan_to_num(confidence, nan=0.0)
    assert np.array_equal(root["0"][:], want)
    assert np.array_equal(root["reference/0"][:], reference)
    # the same map as the PNG and OME-TIFF exports
    with PILImage.open(io.BytesIO(exports.mask_png(mask, CLASSES, **geometry))) as img:
        assert np.array_equal(np.asarray(img), root["labels/classes/0"][:])
    tif = exports.mask_ome_tiff(mask, CLASSES, **geometry, pixel_size=0.25, pixel_unit="um")
    assert np.array_equal(tifffile.imread(io.BytesIO(tif)), root["labels/classes/0"][:])
    assert exports.read_ome_zarr(data)["particles"].max() == inst.n


def _ngff_models():
    """ome-zarr-models' NGFF 0.4 models. Its 1.6 release leaves two forward references to
    pydantic-zarr unresolved under pydantic 2.14 (1.7 caps pydantic below 2.13 for it):
    resolved here, the models themselves unchanged."""
    from ome_zarr_models.v04 import image, image_label, labels
    from pydantic_zarr.v2 import ArraySpec, GroupSpec

    names = {"GroupSpec": GroupSpec, "ArraySpec": ArraySpec}
    for model in (labels.Labels, image_label.ImageLabel, image.Image):
        model.model_rebuild(_types_namespace=names)
    return image.Image, labels.Labels, image_label.ImageLabel


def test_ome_zarr_export_is_valid_ngff(tmp_path):
    image_model, labels_model, label_model = _ngff_models()
    mask = _discs().astype(np.uint8)
    inst = objects.instances(mask.astype(np.int64), 1)
    mask[:, -5:] = exports.UNLABELLED
    data = exports.mask_ome_zarr(
        mask,
        np.ones(mask.shape, np.float32),
        CLASSES,
        chip_size=16,
        offset=(0, 0),
        instances=inst.labels,
        reference=np.zeros(mask.shape, np.uint8),
        pixel_size=0.5,
        pixel_unit="nm",
    )
    root = _zarr_file(data, tmp_path)
    image = image_model.from_zarr(root)  # raises on anything the specification forbids
    assert image.attributes.multiscales[0].axes[0].unit == "nanometer"
    assert labels_model.from_zarr(root["labels"]).attributes.labels == ["classes", "particles"]
    for name in ("classes", "particles"):
        label_model.from_zarr(root["labels"][name])
    image_model.from_zarr(root["reference"])


def test_ome_zarr_without_calibration_objects_or_reference(tmp_path):
    mask = np.zeros((40, 30), np.uint8)
    data = exports.mask_ome_zarr(
        mask, np.ones(mask.shape), CLASSES, chip_size=8, offset=(0, 0), reference=np.zeros((3, 3))
    )
    root = _zarr_file(data, tmp_path)
    ms = root.attrs["multiscales"][0]
    assert all("unit" not in a for a in ms["axes"])
    assert ms["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 1.0]
    assert list(root["labels"].attrs["labels"]) == ["classes"]
    assert "reference" not in root  # a reference of another size is left out
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert ".zgroup" in names and "labels/classes/0/.zarray" in names
    with pytest.raises(ValueError, match="shape"):
        exports.mask_ome_zarr(mask, np.ones((3, 3)), CLASSES, chip_size=8, offset=(0, 0))


# --- through a job and the API ---------------------------------------------------------
@pytest.mark.django_db
def test_a_job_with_objects_exports_the_instance_map_table_and_ome_zarr(
    client_for, world, segmentable, tmp_path
):
    from labeling.services import support_set_freeze

    artefacts.MEMORY_CACHE.clear()
    target = segmentable["classes"][-1]
    curator = client_for(world.curator)
    assert (
        curator.patch(f"/api/classes/{target.pk}/", {"kind": "objects"}, format="json").status_code
        == 200
    )
    version = support_set_freeze(
        user=world.annotator, schema=segmentable["schema"], rule="single_owner"
    )
    client = client_for(world.annotator)
    body = {"support_set": str(version.pk), "images": [str(segmentable["image"].pk)]}
    job_id = client.post("/api/segmentation-jobs/", body, format="json").json()["id"]
    segmentation_run(job_id=job_id)
    job = SegmentationJob.objects.get(pk=job_id)
    assert job.status == JobStatus.SUCCEEDED, job.error
    result = SegmentationResult.objects.get(job=job)
    detail = client.get(f"/api/segmentation-results/{result.pk}/").json()
    for kind in ("particles.json", "instances.png", "mask.ome.zarr.zip", "histogram.svg"):
        assert kind in detail["links"], kind
    base = f"/api/segmentation-results/{result.pk}/export/"
    # the size histogram: the result's distribution, bar for bar
    dist = detail["stats"]["objects"][target.name]
    svg = ET.fromstring(download(client, base + "histogram.svg"))
    bars = [el for el in svg.iter("{http://www.w3.org/2000/svg}rect") if el.get("class") == "bar"]
    assert [int(b.get("data-count")) for b in bars] == dist["histogram"]["counts"]
    with PILImage.open(io.BytesIO(download(client, base + "histogram.png"))) as img:
        assert img.format == "PNG" and img.width >= 400
    with PILImage.open(io.BytesIO(download(client, base + "overlay.png"))) as img:
        assert img.width == 256 and img.height > 256  # native size, then legend and scale bar

    rows = list(csv.DictReader(io.StringIO(download(client, base + "particles.csv").decode())))
    ids = exports.read_instances_png(download(client, base + "instances.png"))
    assert ids.shape == (256, 256) and ids.max() == len(rows) >= 1
    areas = np.bincount(ids.ravel(), minlength=len(rows) + 1)[1:]
    assert areas.tolist() == [int(float(r["area_px"])) for r in rows]
    table = json.loads(download(client, base + "particles.json"))
    assert table["n_total"] == len(rows) and len(table["rows"]) == len(rows)
    col = table["columns"].index
    assert [r[col("id")] for r in table["rows"]] == [int(r["id"]) for r in rows]
    assert all(r[col("class")] == target.name for r in table["rows"])
    for row, (x0, y0, x1, y1) in zip(table["rows"], table["boxes"], strict=True):
        assert (ids[y0:y1, x0:x1] == row[col("id")]).sum() == row[col("area_px")]

    stored = download(client, base + "mask.ome.zarr.zip")
    root = _zarr_file(stored, tmp_path)
    with PILImage.open(io.BytesIO(download(client, base + "mask.png"))) as img:
        mask = np.asarray(img)
    tif = tifffile.imread(io.BytesIO(download(client, base + "mask.ome.tif")))
    assert np.array_equal(root["labels/classes/0"][:], mask)
    assert np.array_equal(root["labels/classes/0"][:], tif)
    assert np.array_equal(root["labels/particles/0"][:], ids)
    with PILImage.open(io.BytesIO(download(client, base + "confidence.png"))) as img:
        conf8 = np.asarray(img).astype(np.float32) / 255
    assert np.abs(root["0"][:] - conf8).max() <= 0.5 / 255 + 1e-6
    image = segmentable["image"]
    ms = root.attrs["multiscales"][0]
    assert image.pixel_unit == "nm"  # the simulated TIFF is calibrated
    assert {a.get("unit") for a in ms["axes"]} == {"nanometer"}
    scale = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == pytest.approx([image.pixel_size] * 2)
    assert "reference" in root and root["reference/0"].shape == (256, 256)

    outsider = client_for(world.outsider)
    for kind in ("particles.json", "instances.png", "mask.ome.zarr.zip", "histogram.svg"):
        assert outsider.get(base + kind).status_code == 404


def test_a_failing_ome_zarr_export_reports_its_own_error(monkeypatch):
    """A store that fails while opening (as under a worker's memory cap) must not be hidden by
    the AttributeError its close() raises."""
    import zarr

    def no_memory(*args, **kwargs):
        raise MemoryError("cannot allocate")

    monkeypatch.setattr(zarr, "create_group", no_memory)
    mask = np.zeros((8, 8), np.uint8)
    with pytest.raises(MemoryError):
        exports.mask_ome_zarr(mask, np.ones(mask.shape), CLASSES, chip_size=4, offset=(0, 0))
