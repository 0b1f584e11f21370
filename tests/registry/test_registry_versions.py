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


def test_resolve_defaults_to_public_champion_lazily(mlflow_store, world):
    version = selectors.model_version_resolve(user=world.viewer, lab=world.lab)
    assert version.name == "chiplab-default" and version.version == 1


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


def test_promote_and_rollback_walk_the_history(registered, world):
    v1 = lab_version(world.lab, world.curator)
    v2 = lab_version(world.lab, world.curator, name=v1.name.split(".", 1)[1])
    assert v2.version == 2
    with pytest.raises(Forbidden):
        services.model_version_promote(user=world.annotator, version=v1)
    with pytest.raises(NotFound):
        services.model_version_promote(user=world.outsider, version=v1)
    services.model_version_promote(user=world.curator, version=v1)
    services.model_version_promote(user=world.curator, version=v2)
    c = tracking.client()
    assert int(c.get_model_version_by_alias(v1.name, "champion").version) == 2
    assert services.model_rollback(user=world.curator, name=v1.name) == v1
    assert int(c.get_model_version_by_alias(v1.name, "champion").version) == 1
    v1.refresh_from_db()
    assert v1.aliases == ["champion"]
    # no earlier champion: the lab falls back to the public default
    assert services.model_rollback(user=world.curator, name=v1.name) is None
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
