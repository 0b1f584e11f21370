"""E2E: classes per image (two materials in one dataset) in the Support step and in crowd
tasks, and the curator review page (agreement, gold accuracy, contested chips)."""

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from tests.e2e.conftest import Shots, make_dataset, second_image, sign_in, vote
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _second_material(owner, d, tmp_path):
    """A particle image in the same dataset, with two classes of its own (carbon, particle),
    labelled by the owner: 2 chips of each."""
    from labeling.services import class_create, grid_create, votes_cast_many

    image = second_image(
        owner, d, tmp_path, name="moo3.tif", size=512, seed=0, case="particles_round_faceted"
    )
    carbon = class_create(user=owner, schema=d["schema"], name="carbon support")
    particle = class_create(user=owner, schema=d["schema"], name="particle")
    grid, _ = grid_create(user=owner, image=image, chip_size=32)
    votes_cast_many(
        user=owner,
        grid=grid,
        schema=d["schema"],
        votes=[
            {"row": 0, "col": 0, "class": carbon.pk},
            {"row": 15, "col": 15, "class": carbon.pk},
            {"row": 3, "col": 4, "class": particle.pk},
            {"row": 9, "col": 11, "class": particle.pk},
        ],
    )
    return image, grid, carbon, particle


def test_an_image_only_asks_about_its_own_classes(page, new_page, artifacts, lab_owner, tmp_path):
    from labeling.models import ImageClasses

    d = make_dataset(lab_owner, tmp_path)
    vote(lab_owner, d, per_class=2)
    image, grid, _, _ = _second_material(lab_owner, d, tmp_path)
    sign_in(page, lab_owner.username)
    page.goto(f"/#/images/{image.pk}/support")
    items = page.get_by_test_id("class-item")
    expect(items).to_have_count(5)
    # the new colours are far apart: no two classes share a colour
    colours = [c.get_attribute("value") for c in page.get_by_test_id("class-colour").all()]
    assert len(set(colours)) == 5, colours
    here = {
        item.get_by_test_id("class-name").input_value(): item.get_attribute("data-here")
        for item in items.all()
    }
    assert here == {
        "STO": "false",
        "Ge": "false",
        "vacuum": "false",
        "carbon support": "true",
        "particle": "true",
    }
    guidance = page.get_by_test_id("guidance")
    expect(guidance).to_contain_text("Ready to segment")
    expect(page.get_by_test_id("not-here-note")).to_contain_text("STO, Ge, vacuum")
    page.shot("moo3-two-classes-of-five")

    # tick Ge on for this image: it is asked about (and nagged about) from now on
    items.nth(1).get_by_test_id("class-applies").check()
    expect(items.nth(1)).to_have_attribute("data-here", "true")
    expect(guidance).to_contain_text("Ge: add 2 more chips")
    expect(page.get_by_test_id("not-here-note")).to_contain_text("STO, vacuum")
    chosen = ImageClasses.objects.get(image=image, schema=d["schema"])
    assert {c.name for c in chosen.classes.all()} == {"Ge", "carbon support", "particle"}
    page.shot("ge-ticked")
    items.nth(1).get_by_test_id("class-applies").uncheck()
    expect(items.nth(1)).to_have_attribute("data-here", "false")
    expect(guidance).to_contain_text("Ready to segment")
    assert not page.errors, page.errors

    # an annotator's crowd tasks: the question always names a class of the task's image
    annotator = MembershipFactory(lab=d["lab"], role=Role.ANNOTATOR).user
    crowd = new_page()
    crowd.shot = Shots(crowd, artifacts)
    crowd.shot.n = 10  # after the owner's screenshots
    sign_in(crowd, annotator.username)
    allowed = {
        str(d["grid"].pk): {"STO", "Ge", "vacuum"},
        str(grid.pk): {"carbon support", "particle"},
    }
    seen = set()
    for i in range(6):
        with crowd.expect_response(lambda r: "/crowd-task" in r.url) as answer:
            if i == 0:
                crowd.goto("/#/crowd")
            else:
                crowd.get_by_test_id("crowd-skip").click()
        task = answer.value.json()
        assert task["class"]["name"] in allowed[task["grid"]], task["class"]["name"]
        expect(crowd.get_by_test_id("crowd-question")).to_contain_text(task["class"]["name"])
        expect(crowd.get_by_test_id("crowd-chip")).to_have_count(len(task["chips"]))
        seen.add(task["grid"])
        if i == 0:
            crowd.shot("crowd-task")
    assert not crowd.errors, crowd.errors


def test_curator_reviews_agreement_gold_and_contested_chips(page, new_page, lab_owner, tmp_path):
    from labeling.models import Vote
    from labeling.services import gold_set, votes_cast_many

    d = make_dataset(lab_owner, tmp_path)
    sto, ge, vacuum = d["classes"]
    a = MembershipFactory(lab=d["lab"], role=Role.ANNOTATOR, user__username="ada").user
    b = MembershipFactory(lab=d["lab"], role=Role.ANNOTATOR, user__username="bo").user
    grid, schema = d["grid"], d["schema"]

    def cast(user, votes):
        votes_cast_many(
            user=user,
            grid=grid,
            schema=schema,
            votes=[{"row": r, "col": c, "class": k.pk} for (r, c), k in votes.items()],
        )

    # gold on four chips (hidden from annotators); both annotate them and three contested chips
    gold_set(
        user=lab_owner,
        grid=grid,
        chips=[
            {"row": 0, "col": 0, "class": sto.pk},
            {"row": 1, "col": 1, "class": sto.pk},
            {"row": 14, "col": 14, "class": ge.pk},
            {"row": 15, "col": 15, "class": ge.pk},
        ],
    )
    cast(a, {(0, 0): sto, (1, 1): sto, (14, 14): ge, (15, 15): ge})  # all right
    cast(b, {(0, 0): sto, (1, 1): ge, (14, 14): sto, (15, 15): ge})  # half right
    cast(a, {(5, 5): sto, (6, 6): ge, (7, 7): vacuum, (8, 8): sto})
    cast(b, {(5, 5): ge, (6, 6): ge, (7, 7): sto, (8, 8): sto})
    c = MembershipFactory(lab=d["lab"], role=Role.ANNOTATOR, user__username="cy").user
    votes_cast_many(
        user=c, grid=grid, schema=schema, votes=[{"row": 6, "col": 6, "class": vacuum.pk}]
    )

    sign_in(page, lab_owner.username)
    page.get_by_test_id("nav-review").click()
    page.get_by_test_id("review-dataset").select_option(str(d["dataset"].pk))
    people = page.get_by_test_id("review-annotator")
    expect(people).to_have_count(4)  # ada, bo, cy and the owner (the gold votes' consensus)
    rows = {
        r.locator("td").nth(0).inner_text(): r.get_by_test_id("review-gold-accuracy").inner_text()
        for r in people.all()
    }
    assert rows["ada"] == "100 %" and rows["bo"] == "50 %", rows
    chips = page.get_by_test_id("review-chip")
    # contested: (1,1) and (14,14) (gold chips, 2 of 3), (5,5) and (7,7) ties, (6,6) 2 of 3
    expect(page.get_by_test_id("review-contested")).to_have_text("5")
    expect(chips).to_have_count(5)
    expect(chips.first).to_contain_text("tie")
    expect(chips.locator("canvas")).to_have_count(5)
    expect(page.get_by_test_id("review-gold")).to_have_count(2)
    page.shot("review")

    first = chips.first
    row, col = int(first.get_attribute("data-row")), int(first.get_attribute("data-col"))
    first.get_by_test_id("review-accept").first.click()
    expect(chips).to_have_count(4)
    expect(page.get_by_test_id("review-contested")).to_have_text("4")
    stored = Vote.objects.filter(source="review").get()
    assert (stored.row, stored.col, stored.user_id) == (row, col, lab_owner.pk)
    target = chips.filter(has=page.get_by_test_id("review-reject")).first
    target.get_by_test_id("review-reject").click()
    expect(chips).to_have_count(3)
    assert Vote.objects.filter(source="review", negative=True).count() == 1
    page.shot("after-decisions")
    assert not page.errors, page.errors

    # an annotator is told the page is for curators; the API refuses them
    other = new_page()
    sign_in(other, a.username)
    other.goto("/#/review")
    expect(other.get_by_test_id("review-read-only")).to_be_visible()
    status = other.evaluate(
        "async (id) => (await fetch(`/api/schemas/${id}/review`)).status", str(schema.pk)
    )
    assert status == 403
    # on the crowd page, ada (4 gold answers) is told her accuracy comes after 10 of them
    other.get_by_test_id("nav-crowd").click()
    other.get_by_test_id("crowd-dataset").select_option(str(d["dataset"].pk))
    expect(other.get_by_test_id("crowd-gold")).to_contain_text("appears after 10 of them")
    expect(other.get_by_test_id("crowd-chip")).to_have_count(9)
    assert not other.errors, other.errors
