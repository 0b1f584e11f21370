"""Loading a model version checks its weights against the sha256 recorded at registration."""

import io
import json
from pathlib import Path

import pytest
import torch

from registry import services
from registry.services import WeightsMismatch
from tests.registry.helpers import lab_version


@pytest.fixture
def version(mlflow_store, world):
    """A lab's imported ResNet-18, loaded once (its files are now in the local model cache)."""
    services.registry_init()
    mine = lab_version(world.lab, world.curator)
    services.encoder_load(model_version=mine, device="cpu")
    services.encoder_cache_clear()
    return mine


def other_weights() -> bytes:
    """A valid ResNet-18 state dict, but not the registered one."""
    from workers.fewshot.encoders.resnet import resnet

    torch.manual_seed(1)
    buffer = io.BytesIO()
    torch.save(resnet("resnet18").state_dict(), buffer)
    return buffer.getvalue()


def tamper(directory: Path, *, consistent: bool) -> None:
    """Swap the weights; with ``consistent``, also rewrite config.json's sha256 to match (what
    someone able to write the model store would do)."""
    from workers.fewshot.encoders.io import sha256_file

    (directory / "weights.pt").write_bytes(other_weights())
    if consistent:
        config = json.loads((directory / "config.json").read_text())
        config["sha256"] = sha256_file(directory / "weights.pt")
        (directory / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("consistent", [True, False])
def test_tampered_cached_weights_are_refused(version, consistent):
    directory = services.artifact_dir(version)
    tamper(directory, consistent=consistent)
    with pytest.raises(WeightsMismatch) as info:
        services.encoder_load(model_version=version, device="cpu")
    message = str(info.value)
    assert version.name in message and version.weights_sha256 in message
    assert "not the ones registered" in message and "not loaded" in message
    assert info.value.code == "weights_mismatch" and info.value.status == 409
    # the altered copy is gone: the next load fetches the registered artifacts again
    assert not directory.exists()
    loaded = services.encoder_load(model_version=version, device="cpu")
    assert loaded.name == "resnet"


def test_tampered_weights_in_the_model_store_are_refused(version, tmp_path, settings):
    """The artifacts in MLflow's store itself were replaced: every fresh copy is refused."""
    stored = [p.parent for p in (tmp_path / "mlartifacts").rglob("weights.pt")]
    ours = [
        d
        for d in stored
        if json.loads((d / "config.json").read_text())["sha256"] == version.weights_sha256
    ]
    assert len(ours) == 1
    tamper(ours[0], consistent=True)
    settings.CHIPLAB_MODEL_CACHE_DIR = tmp_path / "fresh-cache"  # nothing cached
    for _ in range(2):
        with pytest.raises(WeightsMismatch):
            services.encoder_load(model_version=version, device="cpu")


def test_genuine_weights_load(version):
    encoder = services.encoder_load(model_version=version, device="cpu")
    assert encoder.dim == version.dim
    services.weights_verify(version=version, directory=services.artifact_dir(version))
