"""Built-in registration, resolution, loading, promotion and roll-back (local MLflow store)."""

import numpy as np
import pytest
import torch

from common.errors import Forbidden, NotFound
from registry import selectors, services, tracking
from registry.models import AliasEvent, ModelAlias, ModelVersion, Source
from tests.registry.helpers import lab_version


@pytest.fixture
def registered(mlflow_store, db):
    return services.registry_init()


def test_init_registers_builtins_as_champions_idempotently(registered):
    names = {v.name: v for v in registered}
    assert set(names) == {"chiplab-default", "chiplab-fourier"}
    for version in names.values():
        assert version.version == 1 and version.aliases == ["champion"]
        assert version.lab is None and version.source == Source.BUILTIN
    again = services.registry_init()
    assert {v.pk for v in again} == {v.pk for v in registered}
    assert ModelVersion.objects.count() == 2
    c = tracking.client()
    assert int(c.get_model_version_by_alias("chiplab-default", "champion").version) == 1
    assert len(c.search_model_versions("name='chiplab-default'")) == 1


def test_init_mirrors_what_mlflow_already_has(registered):
    for model in (AliasEvent, ModelAlias, ModelVersion):  # a fresh Django database
        model.objects.all()._raw_delete(model.objects.db)
    again = services.registry_init()
    assert sorted(v.version for v in again) == [1, 1]
    assert len(tracking.client().search_model_versions("name='chiplab-default'")) == 1


def test_new_encoder_options_make_a_new_builtin_version(registered):
    """A built-in whose embedding changes without new weights (an added feature group) is a
    new version, champion from then on: version 1 keeps meaning what it made."""
    v1 = ModelVersion.objects.get(name="chiplab-default", version=1)
    ModelVersion.objects.filter(pk=v1.pk).update(config={**v1.config, "texture": None})
    again = {v.name: v for v in services.registry_init()}
    v2 = again["chiplab-default"]
    assert v2.version == 2 and v2.aliases == ["champion"]
    assert v2.config == services.builtin_config("default") != {**v1.config, "texture": None}
    assert again["chiplab-fourier"].version == 1  # unchanged options: no new version
    assert (
        int(tracking.client().get_model_version_by_alias("chiplab-default", "champion").version)
        == 2
    )


def test_a_builtin_card_is_rewritten_without_a_new_version(registered):
    """A built-in's card (its description and measured accuracy) is rewritten in place when
    this code's differs: the weights and options are the same, so is the version."""
    v1 = ModelVersion.objects.get(name="chiplab-default", version=1)
    assert v1.card["evaluation"].startswith("Held out: chip mIoU")
    ModelVersion.objects.filter(pk=v1.pk).update(card={"summary": "an older description"})
    again = {v.name: v for v in services.registry_init()}
    assert again["chiplab-default"].pk == v1.pk and again["chiplab-default"].version == 1
    assert ModelVersion.objects.get(pk=v1.pk).card == services.builtin_card("default")
    assert ModelVersion.objects.filter(name="chiplab-default").count() == 1


def test_resolve_is_a_read_and_builtins_ensure_registers(mlflow_store, world):
    """Resolving never registers (no MLflow write from a read); the write that needs a model
    (``builtins_ensure``, called before a job's transaction) registers the built-ins once."""
    with pytest.raises(NotFound, match="registered"):
        selectors.model_version_resolve(user=world.viewer, lab=world.lab)
    assert not ModelVersion.objects.exists()
    assert tracking.client().search_registered_models() == []
    services.builtins_ensure()
    version = selectors.model_version_resolve(user=world.viewer, lab=world.lab)
    assert version.name == "chiplab-default" and version.version == 1
    services.builtins_ensure()  # already there: nothing new
    assert ModelVersion.objects.count() == 2


def test_resolve_prefers_lab_champion_and_hides_other_labs(registered, world):
    mine = lab_version(world.lab, world.curator)
    services.model_version_promote(user=world.curator, version=mine)
    assert selectors.model_version_resolve(user=world.viewer, lab=world.lab) == mine
    other = selectors.model_version_resolve(user=world.outsider, lab=world.other_lab)
    assert other.name == "chiplab-default"
    with pytest.raises(NotFound):
        selectors.model_version_resolve(
            user=world.outsider, lab=world.other_lab, version_id=mine.pk
        )
    with pytest.raises(NotFound):
        selectors.model_version_resolve(user=world.outsider, lab=world.lab)
    fourier = ModelVersion.objects.get(name="chiplab-fourier")
    assert (
        selectors.model_version_resolve(
            user=world.outsider, lab=world.other_lab, version_id=fourier.pk
        )
        == fourier
    )


def test_encoder_load_builtin_and_registered_are_cached(registered, world):
    from workers.fewshot.chipping import ChipGrid

    default = ModelVersion.objects.get(name="chiplab-default")
    enc = services.encoder_load(model_version=default, device="cpu")
    assert services.encoder_load(model_version=default, device="cpu") is enc
    emb = enc.embed(
        np.random.default_rng(0).random((64, 64), dtype=np.float32),
        ChipGrid.for_shape((64, 64), 32),
    )
    assert tuple(emb.shape) == (2, 2, enc.dim)
    mine = lab_version(world.lab, world.curator)
    services.encoder_cache_clear()
    loaded = services.encoder_load(model_version=mine, device="cpu")
    assert loaded.name == "resnet" and loaded.dim == mine.dim


def test_promote_and_rollback_walk_the_history(
    registered, world, django_capture_on_commit_callbacks
):
    v1 = lab_version(world.lab, world.curator)
    v2 = lab_version(world.lab, world.curator, name=v1.name.split(".", 1)[1])
    assert v2.version == 2
    with pytest.raises(Forbidden):
        services.model_version_promote(user=world.annotator, version=v1)
    with pytest.raises(NotFound):
        services.model_version_promote(user=world.outsider, version=v1)
    c = tracking.client()
    with django_capture_on_commit_callbacks(execute=True):  # MLflow is synced after commit
        services.model_version_promote(user=world.curator, version=v1)
        services.model_version_promote(user=world.curator, version=v2)
    assert int(c.get_model_version_by_alias(v1.name, "champion").version) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert services.model_rollback(user=world.curator, name=v1.name) == v1
    assert int(c.get_model_version_by_alias(v1.name, "champion").version) == 1
    v1.refresh_from_db()
    assert v1.aliases == ["champion"]
    # no earlier champion: the lab falls back to the public default
    with django_capture_on_commit_callbacks(execute=True):
        assert services.model_rollback(user=world.curator, name=v1.name) is None
    assert "champion" not in c.get_registered_model(v1.name).aliases
    assert selectors.model_version_resolve(user=world.viewer, lab=world.lab).lab is None
    actions = list(AliasEvent.objects.filter(name=v1.name).values_list("action", flat=True))
    assert actions[:2] == ["rollback", "rollback"]
    with pytest.raises(Forbidden):
        services.model_version_promote(
            user=world.owner, version=ModelVersion.objects.get(name="chiplab-fourier")
        )


def test_new_committed_weights_become_a_new_champion_version(registered, tmp_path, monkeypatch):
    from workers.fewshot.encoders import build_encoder, save_encoder
    from workers.fewshot.encoders import default as default_mod

    v1 = ModelVersion.objects.get(name="chiplab-default")
    new = tmp_path / "new-default"
    save_encoder(build_encoder("default", device="cpu", weights=None), new)
    monkeypatch.setattr(default_mod, "BUNDLED_WEIGHTS", new)
    services.registry_init()
    v2 = ModelVersion.objects.get(name="chiplab-default", version=2)
    assert v2.aliases == ["champion"] and v2.weights_sha256 != v1.weights_sha256
    v1.refresh_from_db()
    assert v1.aliases == []
    # version 1 still means its own weights: loaded from its MLflow artifacts
    services.encoder_cache_clear()
    old = services.encoder_load(model_version=v1, device="cpu")
    cur = services.encoder_load(model_version=v2, device="cpu")
    a = next(iter(old.state_dict().values()))
    b = next(iter(cur.state_dict().values()))
    assert not torch.equal(a, b)


def _alias_state(*names):
    """The mirror's aliases, the history's length and MLflow's aliases of ``names``."""
    c = tracking.client()
    return (
        sorted(ModelAlias.objects.filter(name__in=names).values_list("name", "alias", "version")),
        AliasEvent.objects.filter(name__in=names).count(),
        {n: {k: int(v) for k, v in c.get_registered_model(n).aliases.items()} for n in names},
    )


def test_a_failed_mlflow_sync_leaves_the_committed_move_and_resyncs(
    registered, world, monkeypatch, django_capture_on_commit_callbacks
):
    """MLflow is told after commit: when it fails, the promotion stands (jobs use it), the
    failure is reported by ``aliases_sync``, and running it again brings MLflow in line."""
    v1 = lab_version(world.lab, world.curator)
    v2 = lab_version(world.lab, world.curator, name=v1.name.split(".", 1)[1])
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_promote(user=world.curator, version=v1)
    calls = []

    def down(*args):
        calls.append(args)
        raise ConnectionError("MLflow is down")

    monkeypatch.setattr(tracking, "set_alias", down)
    with django_capture_on_commit_callbacks() as callbacks:
        services.model_version_promote(user=world.curator, version=v2)
        assert calls == []  # nothing is sent to MLflow inside the transaction
    for callback in callbacks:
        callback()  # the sync after commit fails, and says so in the log only
    assert calls == [(v1.name, "champion", 2)]
    assert selectors.model_version_resolve(user=world.viewer, lab=world.lab) == v2
    assert int(tracking.client().get_model_version_by_alias(v1.name, "champion").version) == 1
    assert services.aliases_sync(names=[v1.name]) == [v1.name]  # still down: reported
    monkeypatch.undo()
    assert services.aliases_sync(names=[v1.name]) == []
    assert services.aliases_sync(names=[v1.name]) == []  # idempotent
    assert _alias_state(v1.name)[2] == {v1.name: {"champion": 2}}


def test_a_failure_inside_a_promotion_or_rollback_changes_nothing(
    registered, world, monkeypatch, django_capture_on_commit_callbacks
):
    """Moving the lab's champion to another of its models (and back) clears one alias and
    sets another: a failure between the two rolls both back (one transaction), and MLflow is
    not touched."""
    from registry.services import aliases

    a = lab_version(world.lab, world.curator, name="a")
    b = lab_version(world.lab, world.curator, name="b")
    real_move = aliases._move_alias

    def broken(**kwargs):
        raise RuntimeError("database went away")

    def fails_atomically(change):
        before = _alias_state(a.name, b.name)
        monkeypatch.setattr(aliases, "_move_alias", broken)  # runs after the clear
        with (
            django_capture_on_commit_callbacks(execute=True) as callbacks,
            pytest.raises(RuntimeError),
        ):
            change()
        monkeypatch.setattr(aliases, "_move_alias", real_move)
        assert callbacks == [] and _alias_state(a.name, b.name) == before

    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_promote(user=world.curator, version=a)
    fails_atomically(lambda: services.model_version_promote(user=world.curator, version=b))
    with django_capture_on_commit_callbacks(execute=True):
        services.model_version_promote(user=world.curator, version=b)
    assert _alias_state(a.name, b.name)[2] == {a.name: {}, b.name: {"champion": 1}}
    fails_atomically(lambda: services.model_rollback(user=world.curator, name=b.name))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.model_rollback(user=world.curator, name=b.name) == a
    assert _alias_state(a.name, b.name)[2] == {a.name: {"champion": 1}, b.name: {}}
