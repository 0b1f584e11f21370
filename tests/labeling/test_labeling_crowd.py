"""Crowd micro-tasks: panels, answers as votes, validation against the issued panel."""

import numpy as np
import pytest
from django.core import signing

from common.errors import Conflict, Invalid, NotFound
from labeling import crowd, selectors, services
from labeling.models import Vote
from tests.factories import (
    GridFactory,
    LabelClassFactory,
    LabelSchemaFactory,
    ReadyImageFactory,
)
from tests.labeling.helpers import cast

pytestmark = pytest.mark.django_db


def test_a_task_is_a_panel_of_at_most_nine_chips(world, lab):
    task = services.crowd_task_next(user=world.annotator, schema=lab.schema, grid=lab.grid, seed=1)
    assert len(task["chips"]) == 9 and task["grid"] == str(lab.grid.pk)
    assert task["class"]["id"] in {str(lab.sto.pk), str(lab.ge.pk)}
    assert task["question"] == f"Select every chip that shows {task['class']['name']}."
    chip = task["chips"][0]
    assert chip["image"] == str(lab.image.pk)
    assert chip["box"] == {"x": chip["col"] * 64, "y": chip["row"] * 64, "width": 64, "height": 64}
    assert chip["fraction"]["width"] == 0.25
    assert len({(c["row"], c["col"]) for c in task["chips"]}) == 9
    assert not Vote.objects.exists()  # issuing a task stores nothing


def test_the_same_seed_gives_the_same_task(world, lab):
    tasks = [
        services.crowd_task_next(user=world.annotator, schema=lab.schema, seed=7) for _ in range(2)
    ]
    assert tasks[0]["chips"] == tasks[1]["chips"] and tasks[0]["class"] == tasks[1]["class"]


def test_answers_become_votes(world, lab):
    task = services.crowd_task_next(user=world.annotator, schema=lab.schema, seed=3)
    panel = [(c["row"], c["col"]) for c in task["chips"]]
    votes = services.crowd_task_answer(
        user=world.annotator, task=task["task"], selected=[list(panel[0]), list(panel[4])]
    )
    assert len(votes) == 9 and Vote.objects.count() == 9
    stored = {(v.row, v.col): v for v in Vote.objects.all()}
    assert set(stored) == set(panel)
    assert {rc for rc, v in stored.items() if not v.negative} == {panel[0], panel[4]}
    assert all(
        str(v.label_class_id) == task["class"]["id"] and v.source == "task" for v in stored.values()
    )
    mine = selectors.votes_current(user=world.annotator, grid=lab.grid, schema=lab.schema)
    labelled = {(c["row"], c["col"]) for c in mine["chips"] if c["class"]}
    negated = {(c["row"], c["col"]) for c in mine["chips"] if c["not"] == [task["class"]["id"]]}
    assert labelled == {panel[0], panel[4]} and negated == set(panel) - labelled


def test_answers_are_counted_per_user_and_schema(world, lab):
    count = services.crowd_answers_count
    assert count(user=world.annotator, schema=lab.schema) == 0
    for done, seed in enumerate((3, 4)):
        task = services.crowd_task_next(user=world.annotator, schema=lab.schema, seed=seed)
        assert task["answered"] == done
        services.crowd_task_answer(user=world.annotator, task=task["task"], selected=[])
    assert count(user=world.annotator, schema=lab.schema) == 2
    assert services.crowd_task_next(user=world.annotator, schema=lab.schema)["answered"] == 2
    assert count(user=lab.second, schema=lab.schema) == 0  # plain clicks are not answers
    cast(lab.second, lab.grid, {(0, 0): lab.sto})
    assert count(user=lab.second, schema=lab.schema) == 0


def test_answers_are_checked_against_the_issued_panel(world, lab):
    task = services.crowd_task_next(user=world.annotator, schema=lab.schema, seed=3)
    panel = {(c["row"], c["col"]) for c in task["chips"]}
    outside = next((r, c) for r in range(4) for c in range(4) if (r, c) not in panel)
    with pytest.raises(Invalid, match="not in this task's panel") as err:
        services.crowd_task_answer(
            user=world.annotator, task=task["task"], selected=[list(outside)]
        )
    assert err.value.code == "not_in_panel"
    with pytest.raises(NotFound):
        services.crowd_task_answer(user=lab.second, task=task["task"], selected=[])
    forged = signing.dumps(
        {
            **signing.loads(task["task"], salt=crowd.SALT),
            "c": [[r, c] for r in range(4) for c in range(4)],
        }
    )
    with pytest.raises(Invalid, match="valid task"):
        services.crowd_task_answer(user=world.annotator, task=forged, selected=[])
    assert not Vote.objects.exists()
    services.crowd_task_answer(user=world.annotator, task=task["task"], selected=[])
    with pytest.raises(Conflict, match="already answered"):
        services.crowd_task_answer(user=world.annotator, task=task["task"], selected=[])
    assert Vote.objects.count() == 9


def test_tasks_avoid_chips_already_answered_for_that_class(world):
    image = ReadyImageFactory(dataset=world.dataset(), width=192, height=192)
    schema = LabelSchemaFactory(dataset=image.dataset, is_default=True)
    names = {str(LabelClassFactory(schema=schema, name=n).pk) for n in ("a", "b")}
    GridFactory(image=image, chip_size=64)  # 3 x 3
    asked = set()
    for _ in range(2):
        task = services.crowd_task_next(user=world.annotator, schema=schema)
        assert len(task["chips"]) == 9
        asked.add(task["class"]["id"])
        services.crowd_task_answer(user=world.annotator, task=task["task"], selected=[[0, 0]])
    assert asked == names
    with pytest.raises(Conflict) as err:
        services.crowd_task_next(user=world.annotator, schema=schema)
    assert err.value.code == "no_task"


def test_tasks_go_where_votes_disagree(world):
    image = ReadyImageFactory(dataset=world.dataset(), width=256, height=256)
    schema = LabelSchemaFactory(dataset=image.dataset, is_default=True)
    x = LabelClassFactory(schema=schema, name="x")
    y = LabelClassFactory(schema=schema, name="y")
    grid = GridFactory(image=image, chip_size=32)  # 8 x 8
    cast(world.annotator, grid, {(5, 5): x})
    cast(world.owner, grid, {(5, 5): y})
    for seed in range(4):
        task = services.crowd_task_next(user=world.curator, schema=schema, seed=seed)
        assert (5, 5) in {(c["row"], c["col"]) for c in task["chips"]}
        assert task["signals"]["model"] is False


def test_tasks_use_model_confidence_when_the_analysis_app_has_it(world, lab, monkeypatch):
    unsure = {(0, 1), (0, 3), (1, 0), (1, 2), (2, 1), (2, 3), (3, 0), (3, 2), (3, 3)}
    conf = np.ones((4, 4))
    for r, c in unsure:
        conf[r, c] = 0.2

    def latest_confidence(*, grid):
        return conf if grid.pk == lab.grid.pk else None

    monkeypatch.setattr("analysis.selectors.latest_confidence", latest_confidence)
    task = services.crowd_task_next(user=world.annotator, schema=lab.schema, seed=0)
    assert {(c["row"], c["col"]) for c in task["chips"]} == unsure
    assert task["signals"]["model"] is True


def test_crowd_tasks_need_an_annotator_and_classes(world, lab):
    from common.errors import Forbidden

    with pytest.raises(Forbidden):
        services.crowd_task_next(user=world.viewer, schema=lab.schema)
    for label_class in (lab.sto, lab.ge):
        services.class_remove(user=world.curator, label_class=label_class)
    with pytest.raises(Conflict, match="no classes"):
        services.crowd_task_next(user=world.annotator, schema=lab.schema)
