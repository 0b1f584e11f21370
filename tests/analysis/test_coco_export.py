"""The COCO export of a result's pixel map, read back with pycocotools (the official reader)."""

import io
import json

import numpy as np
import pytest
from PIL import Image as PILImage
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from analysis import artefacts, exports
from analysis.models import JobStatus, SegmentationResult
from tests.analysis.helpers import download
from tests.analysis.test_analysis_api import create, job_body, run

CLASSES = [
    {"index": 0, "id": "a", "name": "STO", "colour": "#ff0000"},
    {"index": 1, "id": "b", "name": "Ge", "colour": "#00ff00", "kind": "objects"},
    {"index": 2, "id": "c", "name": "vacuum", "colour": "#0000ff"},
]
GRID = {"chip_size": 8, "offset": (2, 3)}

# pycocotools 2.0.11 calls np.array(copy=False), which numpy 2 deprecates
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _coco(document: dict) -> COCO:
    coco = COCO()
    coco.dataset = document
    coco.createIndex()
    return coco


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (40, 64), (301, 173)])
@pytest.mark.parametrize("share", [0.0, 0.02, 0.5, 0.98, 1.0])
def test_rle_is_the_one_pycocotools_writes(shape, share):
    binary = np.random.default_rng(shape[0] + int(share * 100)).random(shape) < share
    expected = coco_mask.encode(np.asfortranarray(binary.astype(np.uint8)))
    mine = exports.coco_rle(binary)
    assert mine["counts"] == expected["counts"].decode()
    assert mine["size"] == list(expected["size"])


def test_coco_document_decodes_to_the_mask_class_by_class():
    rng = np.random.default_rng(3)
    mask = rng.integers(0, 3, (48, 40)).astype(np.uint8)
    mask[:6] = exports.UNLABELLED  # an uncovered margin
    mask[10:20, 5:9] = 1
    mask[mask == 2] = 0  # vacuum absent: it gets no annotation but stays a category
    provenance = {"job": "j1", "image": {"id": "i1", "sha256": "ab" * 32, "filename": "x.tif"}}
    document = json.loads(exports.mask_coco(mask, CLASSES, **GRID, provenance=provenance))

    coco = _coco(document)
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["STO", "Ge", "vacuum"]
    assert coco.loadCats([2])[0]["supercategory"] == "objects"
    assert coco.loadImgs([1])[0] == {"id": 1, "width": 40, "height": 48, "file_name": "x.tif"}
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert sorted(a["category_id"] for a in anns) == [1, 2]
    for ann in anns:
        index = ann["category_id"] - 1
        decoded = coco.annToMask(ann)
        np.testing.assert_array_equal(decoded, (mask == index).astype(np.uint8))
        assert ann["area"] == int((mask == index).sum()) == int(coco_mask.area(ann["segmentation"]))
        assert ann["bbox"] == coco_mask.toBbox(ann["segmentation"]).tolist()
        assert ann["iscrowd"] == 1
    # no annotation covers the margin
    covered = sum(coco.annToMask(a) for a in anns)
    assert covered[:6].sum() == 0 and covered[6:].min() == 1
    # the same provenance conventions as the mask PNG's text chunks
    assert document["info"][exports.PROVENANCE_KEY] == provenance
    table = document["info"][exports.CLASS_TABLE_KEY]
    assert table["chip_size"] == 8 and table["offset"] == [2, 3] and table["unlabelled"] == 255


def test_an_empty_map_has_categories_and_no_annotations():
    mask = np.full((4, 4), exports.UNLABELLED, np.uint8)
    document = json.loads(exports.mask_coco(mask, CLASSES, **GRID))
    assert document["annotations"] == [] and len(document["categories"]) == 3
    assert exports.PROVENANCE_KEY not in document["info"]


@pytest.mark.django_db
def test_a_job_writes_a_coco_export_that_matches_its_mask(client_for, world, segmentable):
    artefacts.MEMORY_CACHE.clear()
    client = client_for(world.annotator)
    job = run(create(client, **job_body(segmentable)).json()["id"])
    assert job.status == JobStatus.SUCCEEDED, job.error
    result = SegmentationResult.objects.get(job=job)
    base = f"/api/segmentation-results/{result.pk}/export/"
    links = client.get(f"/api/segmentation-results/{result.pk}/").json()["links"]
    assert "coco.json" in links
    with PILImage.open(io.BytesIO(download(client, base + "mask.png"))) as img:
        mask = np.asarray(img)
    document = json.loads(download(client, base + "coco.json"))
    coco = _coco(document)
    names = [c["name"] for c in result.classes]
    assert [c["name"] for c in document["categories"]] == names
    for ann in coco.loadAnns(coco.getAnnIds()):
        np.testing.assert_array_equal(coco.annToMask(ann), mask == ann["category_id"] - 1)
    assert sum(a["area"] for a in document["annotations"]) == int((mask != 255).sum())
    assert document["info"][exports.PROVENANCE_KEY] == result.provenance
    assert document["images"][0]["file_name"] == result.image.original_filename
    # another lab's user gets the usual 404
    outsider = client_for(world.outsider)
    assert outsider.get(base + "coco.json").status_code == 404
