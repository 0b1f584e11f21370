"""Labeling services: grids, classes, append-only votes, consensus rules, freezing, warnings,
agreement."""

import pytest

from accounts.models import Role
from common.errors import Conflict, Forbidden, Invalid
from labeling import selectors, services
from labeling.models import GoldChip, SupportSetVersion, Vote
from tests.factories import MembershipFactory, ReadyImageFactory, VoteFactory
from tests.labeling.helpers import cast

pytestmark = pytest.mark.django_db


def current(user, lab):
    state = selectors.votes_current(user=user, grid=lab.grid, schema=lab.schema, scope="me")
    return {(c["row"], c["col"]): c["class"] for c in state["chips"]}


def chips_of(state):
    return {(c["row"], c["col"]): c["class"] for c in state["chips"]}


# --- grids -------------------------------------------------------------------------
def test_grid_geometry_crops_edges_and_is_created_once(world):
    image = ReadyImageFactory(dataset=world.dataset(), width=256, height=200)
    grid, created = services.grid_create(
        user=world.annotator, image=image, chip_size=32, offset_x=5, offset_y=3
    )
    assert created
    assert (grid.rows, grid.cols) == ((200 - 3) // 32, (256 - 5) // 32) == (6, 7)
    assert grid.margins == {
        "top": 3,
        "left": 5,
        "bottom": 200 - 3 - 6 * 32,
        "right": 256 - 5 - 7 * 32,
    }
    again, created = services.grid_create(
        user=world.curator, image=image, chip_size=32, offset_x=5, offset_y=3
    )
    assert not created and again.pk == grid.pk
    other, created = services.grid_create(user=world.annotator, image=image, chip_size=16)
    assert created and other.pk != grid.pk and image.grids.count() == 2


@pytest.mark.parametrize(
    "chip_size,offset,message",
    [
        (0, 0, "between 8 and 200"),
        (7, 0, "between 8 and 200"),
        (201, 0, "between 8 and 200"),
        (32, 32, "offset_x"),
        (32, -1, "offset_x"),
        (200, 10, "No complete chip"),
    ],
)
def test_bad_grids_are_refused(world, chip_size, offset, message):
    image = ReadyImageFactory(dataset=world.dataset(), width=200, height=256)
    with pytest.raises(Invalid, match=message):
        services.grid_create(
            user=world.annotator, image=image, chip_size=chip_size, offset_x=offset
        )


def test_tiny_images_take_chips_of_their_smaller_side(world):
    image = ReadyImageFactory(dataset=world.dataset(), width=6, height=4)
    grid, _ = services.grid_create(user=world.annotator, image=image, chip_size=4)
    assert (grid.rows, grid.cols) == (1, 1)
    with pytest.raises(Invalid, match="between 4 and 4"):
        services.grid_create(user=world.annotator, image=image, chip_size=3)


def test_grids_with_too_many_chips_are_refused(world, settings):
    settings.CHIPLAB_MAX_CHIPS_PER_GRID = 48
    image = ReadyImageFactory(dataset=world.dataset(), width=256, height=200)
    with pytest.raises(Invalid, match="at most 48"):
        services.grid_create(user=world.annotator, image=image, chip_size=16)  # 12 x 16 chips
    grid, _ = services.grid_create(user=world.annotator, image=image, chip_size=32)  # 6 x 8
    assert grid.rows * grid.cols == 48


def test_grids_need_a_ready_image_and_an_annotator(world):
    pending = ReadyImageFactory(dataset=world.dataset(), status="pending")
    with pytest.raises(Conflict, match="pending"):
        services.grid_create(user=world.annotator, image=pending, chip_size=32)
    ready = ReadyImageFactory(dataset=pending.dataset)
    with pytest.raises(Forbidden):
        services.grid_create(user=world.viewer, image=ready, chip_size=32)


# --- classes -----------------------------------------------------------------------
def test_classes_add_rename_recolour_remove(world, lab):
    assert lab.sto.colour != lab.ge.colour and lab.sto.order < lab.ge.order
    renamed = services.class_update(
        user=world.curator, label_class=lab.ge, name="Germanium", colour="#00FF00"
    )
    assert (renamed.name, renamed.colour) == ("Germanium", "#00ff00")
    with pytest.raises(Conflict, match="already a class"):
        services.class_create(user=world.curator, schema=lab.schema, name="sto")
    with pytest.raises(Invalid, match="#rrggbb"):
        services.class_update(user=world.curator, label_class=lab.sto, colour="red")
    cast(world.annotator, lab.grid, {(0, 0): lab.sto})
    services.class_remove(user=world.curator, label_class=lab.sto)
    lab.sto.refresh_from_db()
    assert lab.sto.removed_at is not None and lab.sto.votes.count() == 1  # history kept
    # the name is free again, and the removed class takes no new votes
    services.class_create(user=world.curator, schema=lab.schema, name="STO")
    with pytest.raises(Invalid, match="removed") as err:
        cast(world.annotator, lab.grid, {(0, 1): lab.sto})
    assert err.value.code == "class_removed"
    with pytest.raises(Conflict):
        services.class_update(user=world.curator, label_class=lab.sto, name="again")
    # undo the removal: refused while an active class has the name, then restored with votes
    with pytest.raises(Conflict, match="already"):
        services.class_update(user=world.curator, label_class=lab.sto, active=True)
    restored = services.class_update(
        user=world.curator, label_class=lab.sto, active=True, name="STO (old)"
    )
    assert restored.removed_at is None and restored.name == "STO (old)"
    assert restored.votes.count() == 1
    cast(world.annotator, lab.grid, {(0, 1): restored})  # takes votes again
    with pytest.raises(Forbidden):
        services.class_update(user=world.annotator, label_class=restored, active=False)
    services.class_update(user=world.curator, label_class=restored, active=False)
    restored.refresh_from_db()
    assert restored.removed_at is not None


def test_concurrent_edits_of_a_class_do_not_undo_each_other(world, lab):
    """Two requests holding the same stale row: a rename and a recolour both survive."""
    from labeling.models import LabelClass

    first, second = (LabelClass.objects.get(pk=lab.ge.pk) for _ in range(2))
    services.class_update(user=world.curator, label_class=first, name="Germanium")
    services.class_update(user=world.curator, label_class=second, colour="#cc79a7")
    lab.ge.refresh_from_db()
    assert (lab.ge.name, lab.ge.colour) == ("Germanium", "#cc79a7")


def test_annotators_cannot_manage_classes(world, lab):
    with pytest.raises(Forbidden):
        services.class_create(user=world.annotator, schema=lab.schema, name="vacuum")
    with pytest.raises(Forbidden):
        services.class_remove(user=world.annotator, label_class=lab.sto)


def test_default_schema_is_created_once(world, lab):
    again, created = services.schema_get_or_create_default(
        user=world.annotator, dataset=lab.dataset
    )
    assert not created and again.pk == lab.schema.pk and again.is_default


# --- votes -------------------------------------------------------------------------
def test_votes_are_append_only_and_the_latest_is_current(world, lab):
    a = world.annotator
    cast(a, lab.grid, {(1, 2): lab.sto})
    assert current(a, lab) == {(1, 2): str(lab.sto.pk)}
    cast(a, lab.grid, {(1, 2): lab.ge})  # re-click with another class
    assert current(a, lab) == {(1, 2): str(lab.ge.pk)}
    cast(a, lab.grid, {(1, 2): None}, schema=lab.schema)  # retraction
    assert current(a, lab) == {}
    history = list(Vote.objects.filter(user=a, row=1, col=2).values_list("label_class", flat=True))
    assert history == [lab.sto.pk, lab.ge.pk, None]


def test_bad_votes_are_refused(world, lab):
    with pytest.raises(Invalid, match="outside"):
        cast(world.annotator, lab.grid, {(4, 0): lab.sto})
    other_schema = services.schema_create(user=world.curator, dataset=lab.dataset, name="Other")
    stranger = services.class_create(user=world.curator, schema=other_schema, name="X")
    with pytest.raises(Invalid, match="Unknown class"):
        cast(world.annotator, lab.grid, {(0, 0): stranger}, schema=lab.schema)
    with pytest.raises(Invalid, match="one batch"):
        cast(world.annotator, lab.grid, {(0, 0): stranger, (0, 1): lab.sto})
    with pytest.raises(Invalid, match="schema"):
        cast(world.annotator, lab.grid, {(0, 0): None})
    with pytest.raises(Forbidden):
        cast(world.viewer, lab.grid, {(0, 0): lab.sto})
    assert not Vote.objects.exists()


def test_client_ids_make_retries_idempotent(world, lab):
    first = services.vote_cast(
        user=world.annotator, grid=lab.grid, row=0, col=0, label_class=lab.sto, client_id="abc"
    )
    retry = services.vote_cast(
        user=world.annotator, grid=lab.grid, row=0, col=0, label_class=lab.sto, client_id="abc"
    )
    assert retry.pk == first.pk and Vote.objects.count() == 1
    with pytest.raises(Conflict, match="already used"):
        services.vote_cast(
            user=world.annotator, grid=lab.grid, row=0, col=1, label_class=lab.sto, client_id="abc"
        )
    # client ids are per user
    services.vote_cast(
        user=lab.second, grid=lab.grid, row=0, col=0, label_class=lab.sto, client_id="abc"
    )
    assert Vote.objects.count() == 2


# --- consensus rules ---------------------------------------------------------------
@pytest.fixture
def voted(world, lab):
    """Annotators A and B, curator C and owner O vote on the 4 x 4 grid (see expectations)."""
    a, b, c, o = world.annotator, lab.second, world.curator, world.owner
    x, y = lab.sto, lab.ge
    cast(a, lab.grid, {(0, 0): x, (0, 1): x, (1, 0): y, (1, 1): x, (2, 2): y, (2, 0): x})
    cast(b, lab.grid, {(0, 0): x, (0, 1): y, (1, 0): y, (2, 2): x, (2, 0): x})
    cast(b, lab.grid, {(2, 2): y})  # B changes their mind
    cast(c, lab.grid, {(0, 0): x, (1, 0): x, (2, 0): x, (3, 3): x})
    cast(c, lab.grid, {(2, 0): None}, schema=lab.schema)  # C retracts
    cast(o, lab.grid, {(3, 3): y})  # the owner overrides the curator later
    return lab


def state(world, lab, rule, **kwargs):
    return chips_of(
        selectors.support_state(
            user=world.annotator, schema=lab.schema, grids=[lab.grid], rule=rule, **kwargs
        )
    )


def test_single_owner_is_that_users_latest_votes(world, voted):
    x, y = str(voted.sto.pk), str(voted.ge.pk)
    assert state(world, voted, "single_owner") == {
        (0, 0): x,
        (0, 1): x,
        (1, 0): y,
        (1, 1): x,
        (2, 2): y,
        (2, 0): x,
    }
    assert state(world, voted, "single_owner", owner=voted.second.pk) == {
        (0, 0): x,
        (0, 1): y,
        (1, 0): y,
        (2, 2): y,
        (2, 0): x,
    }


def test_majority_needs_min_votes_and_more_than_half(world, voted):
    x, y = str(voted.sto.pk), str(voted.ge.pk)
    # (0,1) is a tie, (1,1) has one vote, (3,3) is X vs Y
    assert state(world, voted, "majority") == {(0, 0): x, (1, 0): y, (2, 2): y, (2, 0): x}
    assert state(world, voted, "majority", min_votes=1) == {
        (0, 0): x,
        (1, 0): y,
        (2, 2): y,
        (2, 0): x,
        (1, 1): x,
    }
    assert state(world, voted, "majority", min_votes=3) == {(0, 0): x}


def test_curator_rule_takes_the_latest_curator_or_owner_vote(world, voted):
    x, y = str(voted.sto.pk), str(voted.ge.pk)
    assert state(world, voted, "curator") == {(0, 0): x, (1, 0): x, (3, 3): y}


def test_negative_answers_count_against_a_majority(world, lab):
    extra = [MembershipFactory(lab=world.lab, role=Role.ANNOTATOR).user for _ in range(2)]
    cast(world.annotator, lab.grid, {(0, 0): lab.sto})
    cast(lab.second, lab.grid, {(0, 0): lab.sto})
    for user in extra:  # "not STO" from crowd panels
        VoteFactory(
            user=user,
            grid=lab.grid,
            schema=lab.schema,
            label_class=lab.sto,
            negative=True,
            source="task",
        )
    assert state(world, lab, "majority") == {}  # 2 of 4 is not more than half
    VoteFactory(user=extra[0], grid=lab.grid, schema=lab.schema, label_class=lab.sto, source="task")
    assert state(world, lab, "majority") == {(0, 0): str(lab.sto.pk)}  # 3 of 4


def test_votes_of_removed_classes_leave_the_support_set(world, voted):
    services.class_remove(user=world.curator, label_class=voted.ge)
    x = str(voted.sto.pk)
    assert state(world, voted, "single_owner") == {(0, 0): x, (0, 1): x, (1, 1): x, (2, 0): x}


# --- freezing ----------------------------------------------------------------------
def test_freezing_numbers_immutable_versions(world, voted):
    v1 = services.support_set_freeze(user=world.curator, schema=voted.schema, rule="majority")
    assert v1.number == 1 and v1.chip_size == 64 and (v1.offset_x, v1.offset_y) == (0, 0)
    assert {(c["row"], c["col"]): c["class"] for c in v1.chips} == state(world, voted, "majority")
    assert all(
        c["grid"] == str(voted.grid.pk) and c["image"] == str(voted.image.pk) for c in v1.chips
    )
    assert [c["name"] for c in v1.classes] == ["STO", "Ge"]
    assert v1.params == {"min_votes": 2} and list(v1.grids.all()) == [voted.grid]
    by_user = {c["username"]: c["votes"] for c in v1.contributors}
    # supporters of the majority chips: (0,0) A B C, (1,0) A B, (2,2) A B, (2,0) A B
    assert by_user == {
        world.annotator.username: 4,
        voted.second.username: 4,
        world.curator.username: 1,
    }
    cast(world.annotator, voted.grid, {(3, 0): voted.sto})
    cast(voted.second, voted.grid, {(3, 0): voted.sto})
    v2 = services.support_set_freeze(user=world.curator, schema=voted.schema, rule="majority")
    assert v2.number == 2 and len(v2.chips) == len(v1.chips) + 1
    v1.refresh_from_db()
    assert len(v1.chips) == 4  # the earlier snapshot did not move
    own = services.support_set_freeze(
        user=world.annotator, schema=voted.schema, rule="single_owner"
    )
    assert own.number == 3 and own.params == {"owner": str(world.annotator.pk)}


def test_freeze_permissions(world, voted):
    with pytest.raises(Forbidden):
        services.support_set_freeze(user=world.annotator, schema=voted.schema, rule="majority")
    with pytest.raises(Forbidden):
        services.support_set_freeze(
            user=world.annotator, schema=voted.schema, rule="single_owner", owner=voted.second.pk
        )
    with pytest.raises(Forbidden):
        services.support_set_freeze(user=world.viewer, schema=voted.schema, rule="single_owner")
    version = services.support_set_freeze(
        user=world.curator, schema=voted.schema, rule="single_owner", owner=voted.second.pk
    )
    assert version.contributors[0]["id"] == str(voted.second.pk)


def test_freeze_refuses_fewer_than_two_classes_and_unknown_rules(world, lab):
    cast(world.annotator, lab.grid, {(0, 0): lab.sto, (3, 3): lab.sto})
    with pytest.raises(Invalid, match="at least 2 classes") as err:
        services.support_set_freeze(user=world.annotator, schema=lab.schema, rule="single_owner")
    assert err.value.code == "too_few_classes"
    with pytest.raises(Invalid, match="Unknown rule"):
        services.support_set_freeze(user=world.curator, schema=lab.schema, rule="loudest")
    assert not SupportSetVersion.objects.exists()


def test_classes_without_chips_are_left_out(world, lab):
    vacuum = services.class_create(user=world.curator, schema=lab.schema, name="vacuum")
    cast(
        world.annotator,
        lab.grid,
        {(0, 0): lab.sto, (3, 3): lab.sto, (0, 3): lab.ge, (3, 0): lab.ge},
    )
    version = services.support_set_freeze(
        user=world.annotator, schema=lab.schema, rule="single_owner"
    )
    assert [c["id"] for c in version.classes] == [str(lab.sto.pk), str(lab.ge.pk)]
    # vacuum is not one of the image's classes (its labels use STO and Ge): no warning
    warning = f"'{vacuum.name}' has no chips; it is left out of the support set."
    assert warning not in version.warnings
    # once it is ticked for the image, its missing chips are worth a warning
    services.image_classes_set(
        user=world.annotator, image=lab.image, schema=lab.schema, classes=[lab.sto.pk, vacuum.pk]
    )
    version = services.support_set_freeze(
        user=world.annotator, schema=lab.schema, rule="single_owner"
    )
    assert [c["id"] for c in version.classes] == [str(lab.sto.pk), str(lab.ge.pk)]
    assert warning in version.warnings


def test_support_sets_span_images_but_not_chip_sizes(world, lab):
    other = ReadyImageFactory(dataset=lab.dataset)
    same, _ = services.grid_create(user=world.annotator, image=other, chip_size=64)
    small, _ = services.grid_create(user=world.annotator, image=other, chip_size=32)
    cast(world.annotator, lab.grid, {(0, 0): lab.sto, (3, 3): lab.ge})
    cast(world.annotator, same, {(0, 0): lab.ge, (3, 3): lab.sto})
    version = services.support_set_freeze(
        user=world.annotator, schema=lab.schema, rule="single_owner"
    )
    assert {c["image"] for c in version.chips} == {str(lab.image.pk), str(other.pk)}
    assert set(version.grids.all()) == {lab.grid, same}
    cast(world.annotator, small, {(5, 5): lab.sto})
    with pytest.raises(Invalid, match="mix") as err:
        services.support_set_freeze(user=world.annotator, schema=lab.schema, rule="single_owner")
    assert err.value.code == "mixed_chip_sizes"
    with pytest.raises(Invalid, match="mix"):
        services.support_set_freeze(
            user=world.annotator, schema=lab.schema, rule="single_owner", grids=[lab.grid, small]
        )
    chosen = services.support_set_freeze(
        user=world.annotator, schema=lab.schema, rule="single_owner", grids=[lab.grid, same]
    )
    assert chosen.number == 2 and len(chosen.chips) == 4


# --- guidance warnings -------------------------------------------------------------
def test_guidance_warnings(world):
    image = ReadyImageFactory(dataset=world.dataset(), width=512, height=512)
    schema, _ = services.schema_get_or_create_default(user=world.curator, dataset=image.dataset)
    one = services.class_create(user=world.curator, schema=schema, name="one")
    many = services.class_create(user=world.curator, schema=schema, name="many")
    corner = services.class_create(user=world.curator, schema=schema, name="corner")
    spread = services.class_create(user=world.curator, schema=schema, name="spread")
    grid, _ = services.grid_create(user=world.annotator, image=image, chip_size=32)  # 16 x 16
    votes = {(15, 15): one}
    votes.update({(8, c): many for c in range(11)})  # row 8 is in the bottom half
    votes.update({(r, c): corner for r in (0, 7) for c in (0, 7)})  # top-left quadrant
    votes.update({(0, 15): spread, (15, 0): spread, (10, 10): spread})
    cast(world.annotator, grid, votes)
    version = services.support_set_freeze(user=world.annotator, schema=schema, rule="single_owner")
    assert version.warnings == [
        "'one' has only 1 chip; give at least 2 examples per class.",
        "'many' has 11 chips; more than 10 examples per class rarely improve a few-shot prototype.",
        "All 4 chips of 'corner' come from the top-left quadrant of one image; spread the "
        "examples over the image.",
    ]
    live = selectors.support_state(
        user=world.annotator, schema=schema, grids=[grid], rule="single_owner"
    )
    assert live["warnings"] == version.warnings
    assert {c["name"]: c["count"] for c in live["classes"]} == {
        "one": 1,
        "many": 11,
        "corner": 4,
        "spread": 3,
    }


# --- gold and agreement ------------------------------------------------------------
def test_gold_needs_a_curator_and_records_a_vote(world, lab):
    with pytest.raises(Forbidden):
        services.gold_set(
            user=world.annotator, grid=lab.grid, chips=[{"row": 0, "col": 0, "class": lab.sto}]
        )
    services.gold_set(
        user=world.curator, grid=lab.grid, chips=[{"row": 0, "col": 0, "class": lab.sto}]
    )
    services.gold_set(
        user=world.curator, grid=lab.grid, chips=[{"row": 0, "col": 0, "class": lab.ge.pk}]
    )
    gold = GoldChip.objects.get()
    assert gold.label_class == lab.ge and gold.set_by == world.curator
    assert list(Vote.objects.values_list("source", flat=True)) == ["gold", "gold"]
    services.gold_set(
        user=world.curator,
        grid=lab.grid,
        schema=lab.schema,
        chips=[{"row": 0, "col": 0, "class": None}],
    )
    assert not GoldChip.objects.exists()


def test_agreement_on_a_hand_computed_example(world, lab):
    a, b, c = world.annotator, lab.second, world.curator
    x, y = lab.sto, lab.ge
    # (0,0): A X, B X, C Y -> consensus X, 2/3; (0,1): A Y, B Y -> Y, 2/2;
    # (1,1): A X, B Y -> tie, no consensus; (2,2): A X only -> fewer than 2 voters
    cast(a, lab.grid, {(0, 0): x, (0, 1): y, (1, 1): x, (2, 2): x})
    cast(b, lab.grid, {(0, 0): x, (0, 1): y, (1, 1): y})
    cast(c, lab.grid, {(0, 0): y})
    # gold: (0,0) is Y, (1,1) is Y (setting gold also records C's vote on those chips)
    services.gold_set(
        user=c,
        grid=lab.grid,
        chips=[{"row": 0, "col": 0, "class": y}, {"row": 1, "col": 1, "class": y}],
    )
    report = selectors.agreement(user=world.curator, schema=lab.schema)
    per_chip = {
        (p["row"], p["col"]): (p["consensus"], p["agree"], p["voters"]) for p in report["per_chip"]
    }
    # C's gold vote on (1,1) breaks the tie: Y 2 of 3
    assert per_chip == {
        (0, 0): (str(x.pk), 2, 3),
        (0, 1): (str(y.pk), 2, 2),
        (1, 1): (str(y.pk), 2, 3),
    }
    assert report["overall"] == round((2 / 3 + 1 + 2 / 3) / 3, 4)
    users = {r["username"]: r for r in report["annotators"]}
    # A: agrees on (0,0) and (0,1), not (1,1) -> 2/3; gold: (0,0) X != Y, (1,1) X != Y -> 0/2
    assert (users[a.username]["consensus_agree"], users[a.username]["consensus_chips"]) == (2, 3)
    assert users[a.username]["agreement_with_gold"] == 0.0
    # B: all three consensus chips agree; gold (0,0) X wrong, (1,1) Y right -> 1/2
    assert users[b.username]["agreement_with_consensus"] == 1.0
    assert users[b.username]["agreement_with_gold"] == 0.5
    # C: (0,0) Y vs consensus X wrong, (1,1) right -> 1/2; gold 2/2
    assert users[c.username]["agreement_with_consensus"] == 0.5
    assert users[c.username]["agreement_with_gold"] == 1.0
    assert report["gold_chips"] == 2
    # below curator the gold chips (0,0) and (1,1) are left out: only (0,1) is rated
    seen = selectors.agreement(user=world.viewer, schema=lab.schema)
    assert [(p["row"], p["col"], p["agree"], p["voters"]) for p in seen["per_chip"]] == [
        (0, 1, 2, 2)
    ]
    assert seen["overall"] == 1.0
    users = {r["username"]: r for r in seen["annotators"]}
    assert (users[a.username]["consensus_agree"], users[a.username]["consensus_chips"]) == (1, 1)
    # below curator nobody's gold accuracy is shown (the gold leak: vote, read, repeat)
    assert all(r["agreement_with_gold"] is None and r["gold_chips"] == 0 for r in users.values())


def test_agreement_counts_tied_chips_as_disagreement(world, lab):
    a, b, c = world.annotator, lab.second, world.curator
    x, y = lab.sto, lab.ge
    # (0,0): A X, B Y -> tie 1:1, agreement 1/2; (0,1): A X, B X, C X -> X, 3/3;
    # (1,1): A X, B Y, C "not X" -> tie; Y is the tied class with the best agreement (1/2,
    # X has 1/3) -> 1/2
    cast(a, lab.grid, {(0, 0): x, (0, 1): x, (1, 1): x})
    cast(b, lab.grid, {(0, 0): y, (0, 1): x, (1, 1): y})
    cast(c, lab.grid, {(0, 1): x})
    VoteFactory(
        user=c,
        grid=lab.grid,
        schema=lab.schema,
        row=1,
        col=1,
        label_class=x,
        negative=True,
        source="task",
    )
    report = selectors.agreement(user=world.viewer, schema=lab.schema)
    per_chip = {
        (p["row"], p["col"]): (p["consensus"], p["tied"], p["agree"], p["voters"], p["agreement"])
        for p in report["per_chip"]
    }
    assert per_chip == {
        (0, 0): (None, True, 1, 2, 0.5),
        (0, 1): (str(x.pk), False, 3, 3, 1.0),
        (1, 1): (None, True, 1, 2, 0.5),
    }
    assert report["overall"] == round((0.5 + 1 + 0.5) / 3, 4)
    # tied chips have no consensus to agree with: per-annotator figures only use (0,1)
    users = {r["username"]: r for r in report["annotators"]}
    for user in (a, b, c):
        assert (
            users[user.username]["consensus_agree"],
            users[user.username]["consensus_chips"],
        ) == (1, 1)
    # the consensus labels are unchanged: a tie is still no label under the majority rule
    live = selectors.support_state(
        user=world.viewer, schema=lab.schema, grids=[lab.grid], rule="majority"
    )
    assert chips_of(live) == {(0, 1): str(x.pk)}


def test_gold_outside_the_grid_names_the_chips_field(world, lab):
    with pytest.raises(Invalid) as error:
        services.gold_set(
            user=world.curator, grid=lab.grid, chips=[{"row": 9, "col": 0, "class": lab.sto}]
        )
    assert error.value.code == "outside_grid"
    assert error.value.fields == {"chips": ["row/col out of range"]}
    assert not Vote.objects.exists() and not GoldChip.objects.exists()


def test_agreement_is_for_members_only(world, lab):
    from common.errors import NotFound

    with pytest.raises(NotFound):
        selectors.agreement(user=world.outsider, schema=lab.schema)
