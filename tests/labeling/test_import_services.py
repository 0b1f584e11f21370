"""Annotation import (service): masks and CSVs become votes or gold answers, chip by chip."""

import io

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from common.errors import Forbidden, Invalid, NotFound, TooLarge, Unsupported
from labeling import selectors, services
from labeling.models import GoldChip, Vote, VoteSource
from labeling.services import imports
from tests.labeling.helpers import cast

pytestmark = pytest.mark.django_db
CHIP = 64  # the lab fixture's grid: 256 x 256 px in 4 x 4 chips


def png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def tiff(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def chips_mask(layout: dict[tuple[int, int], int], *, fill: int = 0) -> np.ndarray:
    """A 256^2 uint8 mask whose chip (r, c) is all ``layout[(r, c)]`` (else ``fill``)."""
    mask = np.full((256, 256), fill, np.uint8)
    for (r, c), value in layout.items():
        mask[r * CHIP : (r + 1) * CHIP, c * CHIP : (c + 1) * CHIP] = value
    return mask


def mine(user, lab) -> dict[tuple[int, int], str]:
    state = selectors.votes_current(user=user, grid=lab.grid, schema=lab.schema)
    return {(c["row"], c["col"]): c["class"] for c in state["chips"]}


def test_integer_mask_gives_each_chip_its_majority_class(world, lab):
    mask = chips_mask({(0, 0): 1, (0, 1): 2, (2, 2): 2})
    # chip (1, 1): 70 % STO, 30 % Ge: above 0.6, below the default 0.75
    mask[CHIP : 2 * CHIP, CHIP : 2 * CHIP] = 1
    mask[CHIP : 2 * CHIP, CHIP : CHIP + 19] = 2  # 19 of 64 columns ~ 30 %
    # chip (3, 3): half background, half STO: not enough STO
    mask[3 * CHIP : 4 * CHIP, 3 * CHIP : 3 * CHIP + 32] = 1
    report = services.annotations_import(
        user=world.annotator,
        grid=lab.grid,
        data=png(mask),
        classes={"1": "STO", "2": str(lab.ge.pk), "0": None},
    )
    assert report["format"] == "mask" and report["target"] == "votes"
    assert report["chips"] == 16 and report["labelled"] == 3 and report["skipped"] == 13
    assert report["skipped_reasons"] == {"mixed": 2, "unlabelled": 11}
    assert {c["name"]: c["chips"] for c in report["classes"]} == {"STO": 1, "Ge": 2}
    sto, ge = str(lab.sto.pk), str(lab.ge.pk)
    assert mine(world.annotator, lab) == {(0, 0): sto, (0, 1): ge, (2, 2): ge}
    votes = Vote.objects.filter(user=world.annotator)
    assert {v.client_id for v in votes} == {
        f"import:{report['import']}:{r}:{c}" for r, c in [(0, 0), (0, 1), (2, 2)]
    }
    assert {v.source for v in votes} == {VoteSource.CLICK}

    # a lower threshold takes the 70 % chip; the import replaces the user's current labels
    report = services.annotations_import(
        user=world.annotator,
        grid=lab.grid,
        data=png(mask),
        classes={"1": "STO", "2": "Ge", "0": None},
        threshold=0.6,
    )
    assert report["labelled"] == 4 and report["skipped_reasons"] == {"mixed": 1, "unlabelled": 11}
    assert mine(world.annotator, lab)[(1, 1)] == sto


def test_a_tie_is_skipped_even_at_the_lowest_threshold(world, lab):
    mask = chips_mask({})
    mask[:CHIP, :32] = 1
    mask[:CHIP, 32:CHIP] = 2
    report = services.annotations_import(
        user=world.annotator,
        grid=lab.grid,
        data=png(mask),
        classes={"1": "STO", "2": "Ge", "0": None},
        threshold=0.5,
    )
    assert report["labelled"] == 0 and report["skipped_reasons"]["mixed"] == 1


def test_rgb_mask_with_a_colour_table_and_transparent_background(world, lab):
    rgba = np.zeros((256, 256, 4), np.uint8)  # transparent black everywhere
    rgba[:CHIP, :CHIP] = (255, 0, 0, 255)
    rgba[CHIP : 2 * CHIP, :CHIP] = (0, 0, 255, 255)
    report = services.annotations_import(
        user=world.annotator,
        grid=lab.grid,
        data=png(rgba, "RGBA"),
        classes={"#FF0000": "STO", "#0000ff": "Ge"},
    )
    assert report["labelled"] == 2
    assert mine(world.annotator, lab) == {(0, 0): str(lab.sto.pk), (1, 0): str(lab.ge.pk)}


def test_sixteen_bit_tiff_mask(world, lab):
    mask = chips_mask({(3, 0): 1}).astype(np.uint16) * 1000
    report = services.annotations_import(
        user=world.annotator, grid=lab.grid, data=tiff(mask), classes={"1000": "Ge", "0": None}
    )
    assert report["labelled"] == 1 and mine(world.annotator, lab) == {(3, 0): str(lab.ge.pk)}


def test_csv_with_and_without_header(world, lab):
    report = services.annotations_import(
        user=world.annotator,
        grid=lab.grid,
        data=b"class,row,col\nSTO,0,0\nGe,1,2\nGe,1,2\n",
    )
    assert report["format"] == "csv" and report["threshold"] is None
    assert report["labelled"] == 2
    assert report["skipped_reasons"] == {"not_listed": 14, "unlabelled": 0}
    report = services.annotations_import(
        user=world.annotator,
        grid=lab.grid,
        data=b"3,3,s\n2,2,g\n0,1,bg\n",
        classes={"s": "STO", "g": "Ge", "bg": None},
    )
    assert report["labelled"] == 2 and report["skipped_reasons"]["unlabelled"] == 1
    sto, ge = str(lab.sto.pk), str(lab.ge.pk)
    assert mine(world.annotator, lab) == {(0, 0): sto, (1, 2): ge, (3, 3): sto, (2, 2): ge}


def test_gold_import_sets_reference_answers_and_the_curators_votes(world, lab):
    cast(world.curator, lab.grid, {(0, 0): lab.ge})
    services.gold_set(
        user=world.curator, grid=lab.grid, chips=[{"row": 0, "col": 0, "class": lab.ge}]
    )
    report = services.annotations_import(
        user=world.curator,
        grid=lab.grid,
        data=b"row,col,class\n0,0,STO\n0,1,Ge\n",
        target="gold",
    )
    assert report["target"] == "gold" and report["labelled"] == 2
    gold = {(g.row, g.col): g.label_class_id for g in GoldChip.objects.filter(grid=lab.grid)}
    assert gold == {(0, 0): lab.sto.pk, (0, 1): lab.ge.pk}  # the earlier answer was replaced
    assert mine(world.curator, lab) == {(0, 0): str(lab.sto.pk), (0, 1): str(lab.ge.pk)}
    latest = Vote.objects.filter(user=world.curator).order_by("-id")[:2]
    assert {v.source for v in latest} == {VoteSource.GOLD}


def test_roles_and_labs(world, lab):
    data = b"0,0,STO\n"
    with pytest.raises(Forbidden):
        services.annotations_import(user=world.annotator, grid=lab.grid, data=data, target="gold")
    with pytest.raises(Forbidden):
        services.annotations_import(user=world.viewer, grid=lab.grid, data=data)
    with pytest.raises(NotFound):
        services.annotations_import(user=world.outsider, grid=lab.grid, data=data)
    assert not Vote.objects.exists() and not GoldChip.objects.exists()


@pytest.mark.parametrize(
    ("data", "classes", "code", "field"),
    [
        (png(chips_mask({}, fill=1)[:128]), {"1": "STO"}, "size_mismatch", "file"),
        (png(chips_mask({(0, 0): 2}, fill=1)), {"1": "STO"}, "unknown_value", "classes"),
        (png(chips_mask({}, fill=1)), {"1": "Vacuum"}, "unknown_class", "classes"),
        (png(chips_mask({}, fill=1)), None, "invalid", "classes"),
        (png(chips_mask({}, fill=1)), {"#ff0000": "STO"}, "invalid", "classes"),
        (png(chips_mask({}, fill=1)), {"1": "STO", "#ff0000": "Ge"}, "invalid", "classes"),
        (png(chips_mask({}, fill=1)), {"one": "STO"}, "invalid", "classes"),
        (png(np.zeros((256, 256, 3), np.uint8)), {"0": "STO"}, "invalid", "classes"),
        (tiff(np.zeros((2, 256, 256), np.uint8)), {"0": "STO"}, "invalid", "file"),
        (tiff(np.zeros((256, 256), np.float32)), {"0": "STO"}, "invalid", "file"),
        (b"\x89PNG\r\n\x1a\nbroken", {"0": "STO"}, "invalid", "file"),
        (b"row,col,class\n0,0,STO\n9,0,Ge\n", None, "outside_grid", "file"),
        (b"0,0,STO\n0,0,Ge\n", None, "conflict_in_file", "file"),
        (b"0,0,STO\n1,x,Ge\n", None, "invalid", "file"),
        (b"0,0,STO\n1,1,Mud\n", None, "unknown_class", "classes"),
        (b"r,c,k\n0,0,STO\n", None, "invalid", "file"),
        (b"\n\n", None, "invalid", "file"),
        (b"\xff\xfe0,0,STO", None, "invalid", "file"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(world, lab, data, classes, code, field):
    with pytest.raises(Invalid) as err:
        services.annotations_import(user=world.annotator, grid=lab.grid, data=data, classes=classes)
    assert err.value.code == code, err.value.message
    assert field in err.value.fields
    assert not Vote.objects.exists()


def test_binary_junk_is_an_unsupported_format(world, lab):
    with pytest.raises(Unsupported):
        services.annotations_import(user=world.annotator, grid=lab.grid, data=b"\x00\x01junk")


def test_threshold_and_target_are_checked(world, lab):
    for threshold in (0.49, 1.01):
        with pytest.raises(Invalid, match="threshold"):
            services.annotations_import(
                user=world.annotator, grid=lab.grid, data=b"0,0,STO\n", threshold=threshold
            )
    with pytest.raises(Invalid, match="Import as"):
        services.annotations_import(
            user=world.annotator, grid=lab.grid, data=b"0,0,STO\n", target="labels"
        )


def test_sizes_are_bounded(world, lab, monkeypatch, settings):
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 10)
    with pytest.raises(TooLarge):
        services.annotations_import(user=world.annotator, grid=lab.grid, data=b"0,0,STO\n1,1,Ge\n")
    monkeypatch.setattr(imports, "MAX_IMPORT_BYTES", 1024**2)
    monkeypatch.setattr(imports, "MAX_MASK_PIXELS", 255 * 256)
    with pytest.raises(TooLarge, match="at most"):
        services.annotations_import(
            user=world.annotator, grid=lab.grid, data=png(chips_mask({})), classes={"0": None}
        )
    with pytest.raises(TooLarge, match="at most"):
        services.annotations_import(
            user=world.annotator,
            grid=lab.grid,
            data=tiff(chips_mask({})),
            classes={"0": None},
        )
    settings.CHIPLAB_MAX_CHIPS_PER_GRID = 2
    with pytest.raises(TooLarge, match="more than 2"):
        services.annotations_import(
            user=world.annotator, grid=lab.grid, data=b"0,0,STO\n0,1,STO\n0,2,STO\n"
        )
    assert not Vote.objects.exists()


def test_a_removed_class_takes_no_import(world, lab):
    services.class_remove(user=world.curator, label_class=lab.ge)
    with pytest.raises(Invalid) as err:
        services.annotations_import(user=world.annotator, grid=lab.grid, data=b"0,0,Ge\n")
    assert err.value.code == "unknown_class"
