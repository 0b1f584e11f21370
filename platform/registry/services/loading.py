"""Loading encoders of registered versions: a per-process cache, artifacts, weight checks."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from django.conf import settings

from common.errors import Conflict
from common.lru import Lru

from .. import tracking
from ..models import ModelVersion, Source
from .builtins import builtin_sha, write_builtin

log = logging.getLogger(__name__)

#: loaded encoders, at most CHIPLAB_ENCODER_CACHE_SIZE (read at each load: tests change it)
_cache = Lru(lambda: max(1, settings.CHIPLAB_ENCODER_CACHE_SIZE))


def encoder_load(*, model_version: ModelVersion, device="cpu"):
    """The engine encoder of a version, cached per process by (version id, device).

    Built-ins load from the committed files (no network); other versions from a local copy of
    their MLflow artifacts (fetched once into ``CHIPLAB_MODEL_CACHE_DIR``). Weights are read
    with ``weights_only=True`` and checked against their recorded sha256.
    """
    key = (str(model_version.pk), str(device))
    encoder = _cache.get(key)
    if encoder is None:
        encoder = _load_uncached(model_version, device)
        _cache.put(key, encoder)
    return encoder


def encoder_cache_clear() -> None:
    _cache.clear()


class WeightsMismatch(Conflict):
    """A version's weights file is not the one whose sha256 was recorded at registration."""

    code = "weights_mismatch"


def _load_uncached(version: ModelVersion, device):
    # torch (encoders): loaded by the process that runs a model, never by every web process
    from workers.fewshot.encoders import build_encoder, load_encoder
    from workers.fewshot.encoders.io import ChecksumError

    if version.source == Source.BUILTIN:
        try:
            # the engine checks the committed weights against their config.json, whose sha256
            # is the one recorded for this version
            if builtin_sha(version.encoder_kind) == version.weights_sha256:
                return build_encoder(version.encoder_kind, device=device)
            log.info("registry: %s is not the committed build, loading its artifacts", version)
        except FileNotFoundError:  # committed files absent here: use the registered copy
            log.warning("registry: built-in %s not on disk, loading its MLflow artifacts", version)
        except ChecksumError as err:
            log.error("registry: refusing the committed weights of %s: %s", version, err)
            raise WeightsMismatch(
                f"The committed weights of model {version.name} version {version.version} are "
                f"not the ones registered (sha256 {version.weights_sha256}). They were not "
                "loaded; ask a platform administrator to restore them."
            ) from None
    directory = artifact_dir(version)
    weights_verify(version=version, directory=directory)
    return load_encoder(directory, device=device)


def weights_verify(*, version: ModelVersion, directory: Path) -> None:
    """Refuse a version's encoder files unless their weights hash to the recorded sha256.

    The engine only compares the weights with the config.json beside them, which whoever
    could change one could change too; the sha256 recorded in the database when the version
    was registered is the reference. A mismatching local copy is discarded (the next load
    fetches the registered artifacts again) and :class:`WeightsMismatch` says what happened.
    """
    # torch (encoders package): loaded by the process that runs a model
    from workers.fewshot.encoders.io import sha256_file

    expected = version.weights_sha256
    if not expected:  # nothing recorded (a training-free encoder): config.json is all there is
        return
    label = f"{version.name} version {version.version}"
    try:
        name = json.loads((directory / "config.json").read_text())["weights"]
        if not isinstance(name, str) or Path(name).name != name:
            raise ValueError(f"weights file {name!r} is not a file name")
        found = sha256_file(directory / name)
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.error("registry: files of %s in %s unreadable: %r", label, directory, err)
        found, problem = "", f"its files are unreadable ({type(err).__name__})"
    else:
        problem = f"they hash to sha256 {found}"
    if found == expected:
        return
    log.error("registry: refusing %s from %s: %s, not %s", label, directory, problem, expected)
    cache_dir = Path(settings.CHIPLAB_MODEL_CACHE_DIR).resolve()
    if cache_dir in directory.resolve().parents:
        shutil.rmtree(directory, ignore_errors=True)
    raise WeightsMismatch(
        f"The weights of model {label} are not the ones registered (sha256 {expected}): "
        f"{problem}. They were not loaded; the model's stored files may have been altered or "
        "damaged. Ask a platform administrator to check the model store."
    )


def artifact_dir(version: ModelVersion) -> Path:
    """A local directory with the version's encoder files (downloaded on first use)."""
    dest = Path(settings.CHIPLAB_MODEL_CACHE_DIR) / str(version.pk) / "encoder"
    if (dest / "config.json").is_file():
        return dest
    if version.source == Source.BUILTIN and not version.artifact_uri:
        return write_builtin(version.encoder_kind, dest)
    return tracking.download(version.artifact_uri, dest)
