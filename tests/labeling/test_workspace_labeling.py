"""The workspace's labeling helpers: example clicks carried to a new chip size, and the
"label these next" suggestions from the newest result on a grid."""

import numpy as np
import pytest

from common.errors import Forbidden, Invalid
from labeling import selectors, services
from labeling.models import Grid, Vote
from labeling.services.carry import carry_map
from tests.analysis.helpers import labelled_schema, truth_chips, upload_ready_image, vote_truth
from tests.factories import DatasetFactory, ReadyImageFactory, fourier_champion
from tests.labeling.helpers import cast
from tests.support.segmentation import segmentation_run
from workers.fewshot.chipping import ChipGrid
from workers.fewshot.pipeline import rescale_support

pytestmark = pytest.mark.django_db


def _grid(chip, rows, cols, ox=0, oy=0):
    return Grid(chip_size=chip, offset_x=ox, offset_y=oy, rows=rows, cols=cols)


# --- the mapping -----------------------------------------------------------------------
def test_halving_gives_the_four_chips_inside_and_doubling_the_chip_around():
    old = _grid(64, 4, 4)
    moved, lost = carry_map({(1, 2): "a"}, source=old, target=_grid(32, 8, 8))
    assert moved == {(2, 4): "a", (2, 5): "a", (3, 4): "a", (3, 5): "a"} and lost == 0
    moved, lost = carry_map({(1, 2): "a", (3, 3): "b"}, source=old, target=_grid(128, 2, 2))
    assert moved == {(0, 1): "a", (1, 1): "b"} and lost == 0


def test_a_chip_two_classes_cover_equally_is_left_out_and_the_majority_wins():
    old = _grid(64, 4, 4)
    moved, lost = carry_map({(0, 0): "a", (0, 1): "b"}, source=old, target=_grid(128, 2, 2))
    assert moved == {} and lost == 2
    moved, lost = carry_map(
        {(0, 0): "a", (1, 0): "a", (0, 1): "b"}, source=old, target=_grid(128, 2, 2)
    )
    assert moved == {(0, 0): "a"} and lost == 1  # the lone "b" example found no place


def test_an_offset_grid_takes_chips_covered_at_least_half():
    old = _grid(64, 4, 4)
    # shifted by half a chip in x: the example covers half of two new chips
    moved, _ = carry_map({(1, 1): "a"}, source=old, target=_grid(64, 4, 3, ox=32))
    assert moved == {(1, 0): "a", (1, 1): "a"}
    # shifted in x and y: a quarter of four chips each, none mostly covered
    moved, lost = carry_map({(1, 1): "a"}, source=old, target=_grid(64, 3, 3, ox=32, oy=32))
    assert moved == {} and lost == 1
    # ...unless its neighbours are examples of the same class
    block = {(r, c): "a" for r in (1, 2) for c in (1, 2)}
    moved, _ = carry_map(block, source=old, target=_grid(64, 3, 3, ox=32, oy=32))
    assert moved[(1, 1)] == "a"


@pytest.mark.parametrize("factor", [0.5, 2])
def test_agrees_with_the_library_rescale_support(factor):
    rng = np.random.default_rng(100)
    size = 512
    for _ in range(20):
        picks = rng.choice(16 * 16, size=12, replace=False)
        support = {k: [divmod(int(p), 16) for p in picks[k::3]] for k in range(3)}
        new = ChipGrid.for_shape((size, size), int(32 * factor), (0, 0))
        expected = rescale_support(support, factor, new)
        labels = {rc: k for k, v in support.items() for rc in v}
        moved, _ = carry_map(
            labels, source=_grid(32, 16, 16), target=_grid(new.chip_size, new.rows, new.cols)
        )
        assert moved == {rc: k for k, v in expected.items() for rc in v}


# --- the service -----------------------------------------------------------------------
def test_examples_are_carried_as_own_votes_and_going_back_restores_the_originals(world, lab):
    cast(world.annotator, lab.grid, {(0, 0): lab.sto, (3, 3): lab.ge, (1, 1): lab.sto})
    cast(
        world.annotator, lab.grid, {(1, 1): None}, schema=lab.schema
    )  # retracted: not an example any more
    cast(lab.second, lab.grid, {(2, 2): lab.ge})  # someone else's: not carried
    small, _ = services.grid_create(user=world.annotator, image=lab.image, chip_size=32)

    answer = services.votes_carry(
        user=world.annotator, source=lab.grid, target=small, schema=lab.schema
    )
    assert (answer["examples"], answer["carried"], answer["lost"], answer["reason"]) == (
        2,
        8,
        0,
        "",
    )
    mine = selectors.votes_current(user=world.annotator, grid=small, schema=lab.schema)
    got = {(c["row"], c["col"]): c["class"] for c in mine["chips"]}
    sto, ge = str(lab.sto.pk), str(lab.ge.pk)
    assert got == {
        **{(r, c): sto for r in (0, 1) for c in (0, 1)},
        **{(r, c): ge for r in (6, 7) for c in (6, 7)},
    }
    assert not Vote.objects.filter(grid=small).exclude(user=world.annotator).exists()

    # again (a retry), or back onto the labelled old grid: nothing changes
    count = Vote.objects.count()
    again = services.votes_carry(
        user=world.annotator, source=lab.grid, target=small, schema=lab.schema
    )
    back = services.votes_carry(
        user=world.annotator, source=small, target=lab.grid, schema=lab.schema
    )
    assert again["reason"] == back["reason"] == "target_labelled"
    assert Vote.objects.count() == count
    old = selectors.votes_current(user=world.annotator, grid=lab.grid, schema=lab.schema)
    assert {(c["row"], c["col"]) for c in old["chips"]} == {(0, 0), (3, 3)}

    # the other annotator has no examples on the old grid of their own but (2, 2)
    theirs = services.votes_carry(user=lab.second, source=lab.grid, target=small, schema=lab.schema)
    assert theirs["carried"] == 4


def test_carry_is_refused_across_images_and_for_viewers(world, lab):
    other = ReadyImageFactory(dataset=lab.dataset)
    elsewhere, _ = services.grid_create(user=world.annotator, image=other, chip_size=32)
    with pytest.raises(Invalid, match="same image"):
        services.votes_carry(
            user=world.annotator, source=lab.grid, target=elsewhere, schema=lab.schema
        )
    small, _ = services.grid_create(user=world.annotator, image=lab.image, chip_size=32)
    with pytest.raises(Forbidden):
        services.votes_carry(user=world.viewer, source=lab.grid, target=small, schema=lab.schema)
    nothing = services.votes_carry(
        user=world.annotator, source=lab.grid, target=small, schema=lab.schema
    )
    assert nothing["reason"] == "no_examples" and nothing["carried"] == 0


# --- the API -----------------------------------------------------------------------------
def test_carry_api(client_for, world, lab):
    cast(world.annotator, lab.grid, {(0, 0): lab.sto, (3, 3): lab.ge})
    small, _ = services.grid_create(user=world.annotator, image=lab.image, chip_size=32)
    url = f"/api/grids/{small.pk}/carry"
    body = {"from_grid": str(lab.grid.pk), "schema": str(lab.schema.pk)}

    assert client_for(world.outsider).post(url, body, format="json").status_code == 404
    assert client_for(world.viewer).post(url, body, format="json").status_code == 403
    bad = client_for(world.annotator).post(url, {"from_grid": "nope"}, format="json")
    assert bad.status_code == 400 and "from_grid" in bad.json()["error"]["fields"]
    unknown = {"from_grid": "00000000-0000-0000-0000-000000000000"}
    assert client_for(world.annotator).post(url, unknown, format="json").status_code == 404

    response = client_for(world.annotator).post(url, body, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["from_chip_size"] == 64 and data["examples"] == 2 and data["carried"] == 8
    assert {"row": 7, "col": 7, "class": str(lab.ge.pk)} in data["chips"]


def test_carry_from_another_labs_grid_is_not_found(client_for, world, lab):
    # the outsider's own grid, carried onto a grid of ours (and the other way round)
    theirs_image = ReadyImageFactory(
        dataset=DatasetFactory(lab=world.other_lab, created_by=world.outsider)
    )
    theirs, _ = services.grid_create(user=world.outsider, image=theirs_image, chip_size=32)
    response = client_for(world.annotator).post(
        f"/api/grids/{lab.grid.pk}/carry", {"from_grid": str(theirs.pk)}, format="json"
    )
    assert response.status_code == 404
    response = client_for(world.outsider).post(
        f"/api/grids/{theirs.pk}/carry", {"from_grid": str(lab.grid.pk)}, format="json"
    )
    assert response.status_code == 404


# --- label these next --------------------------------------------------------------------
@pytest.fixture
def segmented(client_for, world):
    fourier_champion()
    image, s = upload_ready_image(world)
    schema, classes, grid = labelled_schema(world, image, s)
    chips = truth_chips(s)
    vote_truth(world.annotator, grid, schema, classes, chips)
    version = services.support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    return {"image": image, "schema": schema, "grid": grid, "version": version, "chips": chips}


def test_next_chips_before_and_after_a_result(client_for, world, segmented):
    grid, schema = segmented["grid"], segmented["schema"]
    url = f"/api/grids/{grid.pk}/next-chips?schema={schema.pk}&n=6"
    annotator = client_for(world.annotator)
    early = annotator.get(url)
    assert early.status_code == 409 and early.json()["error"]["code"] == "no_result"

    job = annotator.post(
        "/api/segmentation-jobs/",
        {"support_set": str(segmented["version"].pk), "images": [str(segmented["image"].pk)]},
        format="json",
    )
    assert job.status_code == 201, job.json()
    segmentation_run(job_id=job.json()["id"])

    response = annotator.get(url)
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["strategy"] == "mixed"  # the job's embeddings were cached
    picks = [(c["row"], c["col"]) for c in data["chips"]]
    assert len(picks) == len(set(picks)) == 6
    examples = {tuple(rc) for rcs in segmented["chips"].values() for rc in rcs}
    assert not examples & set(picks)
    assert all(0 <= r < grid.rows and 0 <= c < grid.cols for r, c in picks)
    scores = [c["score"] for c in data["chips"]]
    assert scores == sorted(scores, reverse=True) or len(set(scores)) > 1

    assert client_for(world.outsider).get(url).status_code == 404
    assert client_for(world.viewer).get(url).status_code == 403
    too_many = annotator.get(f"/api/grids/{grid.pk}/next-chips?n=500")
    assert too_many.status_code == 400 and "n" in too_many.json()["error"]["fields"]
