"""Writes about model versions: built-ins, loading, registration, import, promotion, roll-back."""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import Lab, Role
from accounts.selectors import require_role
from common.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge

from .. import tracking
from ..models import AliasEvent, ModelAlias, ModelVersion, ModelVisibility, Source
from ..selectors import CHALLENGER, CHAMPION, alias_holder

log = logging.getLogger(__name__)

BUILTIN_EXPERIMENT = "chiplab-builtin"
FOURIER_MODEL = "chiplab-fourier"
IMPORT_ARCHS = ("resnet18", "resnet34", "resnet50")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


def builtin_models() -> dict[str, str]:
    """Registered name -> engine encoder kind of the built-in encoders."""
    return {settings.CHIPLAB_DEFAULT_MODEL: "default", FOURIER_MODEL: "fourier"}


def lab_model_name(lab: Lab, name: str) -> str:
    """Registered names of lab models are ``<lab slug>.<name>`` (unique across labs)."""
    if not _NAME_RE.match(name or ""):
        raise Invalid(
            "Model names use lower-case letters, digits, '-' and '_' (at most 80).",
            fields={"name": ["invalid"]},
        )
    return f"{lab.slug}.{name}"


def experiment_for(lab: Lab | None) -> str:
    return f"chiplab-lab-{lab.slug}" if lab else BUILTIN_EXPERIMENT


# --- built-in encoders ------------------------------------------------------------------
#: the built-ins' weights are made by this project's code from its own simulator (no third-party
#: data), and are released under the project's licence (pyproject.toml)
BUILTIN_LICENCE = "BSD-3-Clause"


def _builtin_card(kind: str) -> dict[str, Any]:
    if kind == "default":
        return {
            "summary": "Chiplab's default chip encoder: a small CNN fused with Fourier and "
            "intensity features, meta-trained episodically on simulated micrographs.",
            "trained_on": "workers.fewshot.sim.random_scene (simulated lattices, particles, "
            "supports, noise); no lab data.",
            "intended_use": "Few-shot chip classification of EM micrographs with 2-10 support "
            "chips per class.",
            "limitations": "Trained on simulations only; fine-tune on a lab's support sets for "
            "unusual contrast or textures.",
            "licence": BUILTIN_LICENCE,
        }
    return {
        "summary": "Training-free Fourier descriptor (radial/angular spectrum, lattice "
        "spacing, symmetry harmonics, intensity statistics).",
        "trained_on": "nothing (no learned weights)",
        "intended_use": "Lattice/texture discrimination; a baseline that needs no weights.",
        "limitations": "Cannot be fine-tuned; weak on shape-only differences.",
        "licence": BUILTIN_LICENCE,
    }


def _write_builtin(kind: str, dest: Path) -> Path:
    """The encoder directory (config.json + weights.pt) of a built-in, from committed files."""
    from workers.fewshot.encoders import build_encoder, save_encoder

    if kind == "default":
        from workers.fewshot.encoders.default import BUNDLED_WEIGHTS

        if not (BUNDLED_WEIGHTS / "config.json").is_file():
            raise FileNotFoundError(f"committed default weights missing in {BUNDLED_WEIGHTS}")
        shutil.copytree(BUNDLED_WEIGHTS, dest)
        return dest
    save_encoder(build_encoder(kind, device="cpu"), dest, metadata={"builtin": True})
    return dest


def registry_init() -> list[ModelVersion]:
    """Register the built-in encoders as version 1 of their models, aliased champion (idempotent).

    Reconciles three states: already mirrored; registered in MLflow but not mirrored (e.g. a
    fresh Django database); absent (logged and registered from the committed files).
    """
    done = []
    for name, kind in builtin_models().items():
        try:
            done.append(_init_builtin(name, kind))
        except FileNotFoundError as err:
            log.warning("registry: skipping built-in %s: %s", name, err)
    return done


def _builtin_sha(kind: str) -> str:
    """sha256 of the committed weights of a built-in ("" for training-free encoders)."""
    if kind != "default":
        return ""
    from workers.fewshot.encoders.default import BUNDLED_WEIGHTS

    config = BUNDLED_WEIGHTS / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"committed default weights missing in {BUNDLED_WEIGHTS}")
    return json.loads(config.read_text())["sha256"]


def _init_builtin(name: str, kind: str) -> ModelVersion:
    """Mirror what MLflow has; register a new version when the committed weights changed.

    Versions are immutable: a version id always means the same weights (embedding caches
    are keyed by it), so new committed weights become a new version and the new champion.
    """
    sha = _builtin_sha(kind)
    if not ModelVersion.objects.filter(name=name).exists():
        for mv in sorted(
            tracking.client().search_model_versions(f"name='{name}'"), key=lambda m: int(m.version)
        ):
            _mirror_builtin(name, kind, mv, sha=(mv.tags or {}).get("weights_sha256", sha))
    latest = ModelVersion.objects.filter(name=name).order_by("-version").first()
    if latest is None or (sha and latest.weights_sha256 != sha):
        latest = _mirror_builtin(name, kind, _log_builtin(name, kind, sha=sha), sha=sha)
        if latest.version > 1:
            _move_alias(
                version=latest,
                alias=CHAMPION,
                action=AliasEvent.Action.SET,
                user=None,
                note="committed weights changed",
            )
    if alias_holder(name=name, alias=CHAMPION) is None:
        _move_alias(
            version=latest,
            alias=CHAMPION,
            action=AliasEvent.Action.SET,
            user=None,
            note="built-in encoder registered",
        )
    return ModelVersion.objects.get(pk=latest.pk)


def _mirror_builtin(name: str, kind: str, mv, *, sha: str) -> ModelVersion:
    from workers.fewshot.encoders import build_encoder

    enc = build_encoder(kind, device="cpu")
    return _mirror(
        name=name,
        mlflow_version=mv,
        kind=kind,
        source=Source.BUILTIN,
        lab=None,
        visibility=ModelVisibility.PUBLIC,
        card=_builtin_card(kind),
        lineage={"data": "simulated" if kind == "default" else "none"},
        config=enc.config(),
        dim=enc.dim,
        sha256=sha,
    )


def _log_builtin(name: str, kind: str, *, sha: str):
    c = tracking.client()
    run = c.create_run(
        tracking.experiment_id(BUILTIN_EXPERIMENT),
        run_name=f"builtin-{kind}",
        tags={"chiplab.source": "builtin"},
    )
    run_id = run.info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        enc_dir = _write_builtin(kind, Path(tmp) / "encoder")
        doc = json.loads((enc_dir / "config.json").read_text())
        c.log_param(run_id, "encoder_kind", kind)
        c.log_param(run_id, "weights_sha256", doc.get("sha256", ""))
        for key in ("command", "best"):
            if key in doc.get("metadata", {}):
                c.set_tag(run_id, f"train.{key}", json.dumps(doc["metadata"][key])[:5000])
        c.log_artifacts(run_id, str(enc_dir), "encoder")
    c.set_terminated(run_id)
    return tracking.register_version(
        name=name,
        run_id=run_id,
        description=_builtin_card(kind)["summary"],
        tags={"encoder_kind": kind, "source": "builtin", "weights_sha256": sha},
    )


def _mirror(
    *,
    name: str,
    mlflow_version,
    kind: str,
    source: str,
    lab: Lab | None,
    visibility: str,
    card: dict,
    lineage: dict,
    metrics: dict | None = None,
    config: dict | None = None,
    dim: int = 0,
    sha256: str = "",
    user=None,
) -> ModelVersion:
    """Create the Django row of a registered MLflow version (the registry of permissions)."""
    try:
        with transaction.atomic():
            return ModelVersion.objects.create(
                name=name,
                version=int(mlflow_version.version),
                mlflow_run_id=mlflow_version.run_id or "",
                encoder_kind=kind,
                source=source,
                lab=lab,
                visibility=visibility,
                artifact_uri=mlflow_version.source,
                card=card,
                lineage=lineage,
                metrics=metrics or {},
                config=config or {},
                dim=dim,
                weights_sha256=sha256,
                created_by=user,
            )
    except IntegrityError:  # mirrored concurrently
        return ModelVersion.objects.get(name=name, version=int(mlflow_version.version))


# --- loading ----------------------------------------------------------------------------
_cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
_cache_lock = threading.Lock()


def encoder_load(*, model_version: ModelVersion, device="cpu"):
    """The engine encoder of a version, cached per process by (version id, device).

    Built-ins load from the committed files (no network); other versions from a local copy of
    their MLflow artifacts (fetched once into ``CHIPLAB_MODEL_CACHE_DIR``). Weights are read
    with ``weights_only=True`` and checked against their recorded sha256.
    """
    key = (str(model_version.pk), str(device))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    encoder = _load_uncached(model_version, device)
    with _cache_lock:
        _cache[key] = encoder
        _cache.move_to_end(key)
        while len(_cache) > max(1, settings.CHIPLAB_ENCODER_CACHE_SIZE):
            _cache.popitem(last=False)
    return encoder


def encoder_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


class WeightsMismatch(Conflict):
    """A version's weights file is not the one whose sha256 was recorded at registration."""

    code = "weights_mismatch"


def _load_uncached(version: ModelVersion, device):
    from workers.fewshot.encoders import build_encoder, load_encoder
    from workers.fewshot.encoders.io import ChecksumError

    if version.source == Source.BUILTIN:
        try:
            # the engine checks the committed weights against their config.json, whose sha256
            # is the one recorded for this version
            if _builtin_sha(version.encoder_kind) == version.weights_sha256:
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
        return _write_builtin(version.encoder_kind, dest)
    return tracking.download(version.artifact_uri, dest)


# --- registration of a new version ------------------------------------------------------
def version_register(
    *,
    lab: Lab,
    name: str,
    run_id: str,
    kind: str,
    source: str,
    encoder_dir: Path,
    card: dict,
    lineage: dict,
    metrics: dict,
    user=None,
    log_artifacts: bool = True,
) -> ModelVersion:
    """Log ``encoder_dir`` to the run (unless done), register it under ``name``, mirror it."""
    owner = ModelVersion.objects.filter(name=name).values_list("lab_id", flat=True).first()
    if owner is not None and owner != lab.pk:
        raise Conflict("That model name belongs to another lab.")
    c = tracking.client()
    if log_artifacts:
        c.log_artifacts(run_id, str(encoder_dir), "encoder")
    doc = json.loads((Path(encoder_dir) / "config.json").read_text())
    mv = tracking.register_version(
        name=name,
        run_id=run_id,
        description=card.get("summary", ""),
        tags={"encoder_kind": kind, "source": source, "lab": lab.slug},
    )
    return _mirror(
        name=name,
        mlflow_version=mv,
        kind=kind,
        source=source,
        lab=lab,
        visibility=ModelVisibility.LAB,
        card=card,
        lineage=lineage,
        metrics=metrics,
        config=doc.get("config", {}),
        dim=int(doc.get("dim", 0)),
        sha256=doc.get("sha256", ""),
        user=user,
    )


# --- aliases ----------------------------------------------------------------------------
def _move_alias(
    *,
    version: ModelVersion,
    alias: str,
    action: str,
    user,
    note: str = "",
    previous: ModelVersion | None = None,
    record_previous: bool = True,
) -> None:
    """Point ``name@alias`` at ``version`` in MLflow and in the mirror; record the move."""
    with transaction.atomic():
        current = (
            ModelAlias.objects.select_for_update().filter(name=version.name, alias=alias).first()
        )
        old = current.version if current else None
        if old is not None and old.pk == version.pk:
            return
        tracking.set_alias(version.name, alias, version.version)
        if current:
            current.version = version
            current.save(update_fields=["version", "updated"])
        else:
            ModelAlias.objects.create(
                name=version.name, alias=alias, lab=version.lab, version=version
            )
        _sync_alias_list(old)
        _sync_alias_list(version)
        AliasEvent.objects.create(
            name=version.name,
            alias=alias,
            lab=version.lab,
            version=version,
            previous=(previous or old) if record_previous else old,
            action=action,
            note=note,
            user=user,
        )


def _clear_alias(
    *, name: str, alias: str, user, note: str = "", action: str = AliasEvent.Action.CLEAR
) -> None:
    with transaction.atomic():
        current = ModelAlias.objects.select_for_update().filter(name=name, alias=alias).first()
        if current is None:
            return
        old = current.version
        tracking.delete_alias(name, alias)
        current.delete()
        _sync_alias_list(old)
        AliasEvent.objects.create(
            name=name,
            alias=alias,
            lab=old.lab,
            version=None,
            previous=old,
            action=action,
            note=note,
            user=user,
        )


def _sync_alias_list(version: ModelVersion | None) -> None:
    if version is None:
        return
    version.aliases = sorted(
        ModelAlias.objects.filter(version=version).values_list("alias", flat=True)
    )
    version.save(update_fields=["aliases"])


def _require_manager(*, user, version: ModelVersion) -> None:
    if version.lab_id is None:
        if not (user.is_authenticated and user.is_staff):
            raise Forbidden("Built-in models are managed by platform administrators.")
        return
    require_role(user=user, lab_id=version.lab_id, role=Role.CURATOR)


def model_version_promote(
    *, user, version: ModelVersion, alias: str = CHAMPION, note: str = "", automatic: bool = False
) -> ModelVersion:
    """Move ``alias`` (champion by default) to ``version``.

    A lab has one champion: promoting a version of one of its models clears the champion of
    its other models (the previous holder is recorded, so a roll-back restores it).
    """
    if alias not in (CHAMPION, CHALLENGER):
        raise Invalid("Alias must be 'champion' or 'challenger'.", fields={"alias": ["invalid"]})
    if not automatic:
        _require_manager(user=user, version=version)
    previous = None
    if alias == CHAMPION and version.lab_id is not None:
        others = (
            ModelAlias.objects.filter(lab_id=version.lab_id, alias=CHAMPION)
            .exclude(name=version.name)
            .select_related("version")
        )
        for other in others:
            previous = other.version
            _clear_alias(
                name=other.name, alias=CHAMPION, user=user, note=f"champion moved to {version}"
            )
    action = AliasEvent.Action.AUTO_PROMOTE if automatic else AliasEvent.Action.PROMOTE
    _move_alias(
        version=version, alias=alias, action=action, user=user, note=note, previous=previous
    )
    if alias == CHAMPION and alias_holder(name=version.name, alias=CHALLENGER) == version:
        _clear_alias(name=version.name, alias=CHALLENGER, user=user, note="promoted")
    version.refresh_from_db()
    return version


def model_rollback(
    *, user, name: str, alias: str = CHAMPION, to_version: int | None = None
) -> ModelVersion | None:
    """Move ``alias`` of ``name`` back to the version that held it before (or ``to_version``).

    Walks the alias history: the target is the previous holder recorded when the current
    holder was promoted. With no earlier holder the alias is cleared, so a lab falls back to
    the public default. Returns the new holder (None when cleared).
    """
    current = alias_holder(name=name, alias=alias)
    sample = current or ModelVersion.objects.filter(name=name).first()
    if sample is None:
        raise NotFound("Model not found.")
    _require_manager(user=user, version=sample)
    if to_version is not None:
        target = ModelVersion.objects.filter(name=name, version=to_version).first()
        if target is None:
            raise NotFound("Model version not found.")
    else:
        if current is None:
            raise Conflict(f"No version of {name} holds '{alias}'.")
        promoted = (
            AliasEvent.objects.filter(name=name, alias=alias, version=current)
            .exclude(action=AliasEvent.Action.ROLLBACK)
            .first()
        )
        target = promoted.previous if promoted else None
        if target is not None and target.name != name:
            # the lab's champion came from another of its models: restore it there
            _clear_alias(
                name=name,
                alias=alias,
                user=user,
                action=AliasEvent.Action.ROLLBACK,
                note=f"rolled back to {target}",
            )
            _move_alias(
                version=target,
                alias=alias,
                action=AliasEvent.Action.ROLLBACK,
                user=user,
                record_previous=False,
            )
            return target
    if target is None:
        if sample.lab_id is None:
            raise Conflict("The built-in model has no earlier version to roll back to.")
        _clear_alias(
            name=name,
            alias=alias,
            user=user,
            action=AliasEvent.Action.ROLLBACK,
            note="no earlier version: the lab falls back to the public default",
        )
        return None
    _move_alias(
        version=target,
        alias=alias,
        action=AliasEvent.Action.ROLLBACK,
        user=user,
        record_previous=False,
    )
    return target


# --- import of user weights -------------------------------------------------------------
def model_version_import(
    *,
    user,
    lab: Lab,
    upload,
    arch: str,
    name: str = "",
    input_size: int = 64,
    layer: str = "layer4",
    description: str = "",
) -> ModelVersion:
    """Validate an uploaded ResNet state dict and register it as a new lab model version.

    Validation: readable with ``torch.load(weights_only=True)`` (no pickled code), a dict of
    tensors fitting ``arch`` (keys and shapes), and a forward pass giving finite embeddings
    of the expected shape. Anything else is a 400 with the reason.
    """
    require_role(user=user, lab_id=lab.pk, role=Role.CURATOR)
    if arch not in IMPORT_ARCHS:
        raise Invalid(
            f"Supported architectures: {', '.join(IMPORT_ARCHS)}.", fields={"arch": ["invalid"]}
        )
    if upload.size is not None and upload.size > settings.CHIPLAB_MAX_MODEL_UPLOAD_BYTES:
        raise TooLarge(
            f"Model files are limited to {settings.CHIPLAB_MAX_MODEL_UPLOAD_BYTES} bytes."
        )
    full_name = lab_model_name(lab, name or f"{arch}-import")
    with tempfile.TemporaryDirectory(prefix="chiplab-import-") as tmp:
        path = Path(tmp) / "upload.pt"
        with path.open("wb") as dst:
            for chunk in upload.chunks():
                dst.write(chunk)
        encoder = _validated_resnet(path, arch=arch, input_size=input_size, layer=layer)
        from workers.fewshot.encoders import save_encoder
        from workers.fewshot.encoders.io import sha256_file

        upload_sha = sha256_file(path)
        enc_dir = Path(tmp) / "encoder"
        save_encoder(
            encoder, enc_dir, metadata={"imported_from": upload.name, "upload_sha256": upload_sha}
        )
        c = tracking.client()
        run = c.create_run(
            tracking.experiment_id(experiment_for(lab)),
            run_name=f"import-{arch}",
            tags={"chiplab.source": "imported", "chiplab.lab": lab.slug},
        )
        run_id = run.info.run_id
        for key, value in {
            "arch": arch,
            "input_size": input_size,
            "layer": layer,
            "upload_sha256": upload_sha,
            "filename": upload.name,
        }.items():
            c.log_param(run_id, key, value)
        card = {
            "summary": description or f"Imported {arch} state dict ({upload.name}).",
            "trained_on": "unknown: weights supplied by the lab (see the uploader's notes)",
            "intended_use": "Feature extractor for few-shot chip classification.",
            "limitations": "Not trained on micrographs by Chiplab; compare against the "
            "champion on held-out episodes before promoting.",
            "licence": "unknown: set by the lab that supplied the weights",
        }
        lineage = {
            "imported": {"filename": upload.name, "sha256": upload_sha, "by": str(user.pk)},
            "labs": [lab.slug],
        }
        c.log_dict(run_id, lineage, "lineage.json")
        version = version_register(
            lab=lab,
            name=full_name,
            run_id=run_id,
            kind="resnet",
            source=Source.IMPORTED,
            encoder_dir=enc_dir,
            card=card,
            lineage=lineage,
            metrics={},
            user=user,
        )
        c.set_terminated(run_id)
    return version


def _validated_resnet(path: Path, *, arch: str, input_size: int, layer: str):
    import numpy as np
    import torch

    from workers.fewshot.chipping import ChipGrid
    from workers.fewshot.encoders import build_encoder
    from workers.fewshot.encoders.resnet import StateDictError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable or unsafe file is the user's input error
        raise Invalid(
            f"Not a PyTorch state dict loadable with weights_only=True: "
            f"{(str(err).splitlines() or [type(err).__name__])[0][:300]}",
            fields={"file": ["invalid"]},
        ) from None
    if not isinstance(state, dict) or not state:
        raise Invalid(
            "The file does not hold a state dict (a mapping of tensor names to tensors).",
            fields={"file": ["invalid"]},
        )
    try:
        encoder = build_encoder(
            "resnet", device="cpu", weights=state, arch=arch, input_size=input_size, layer=layer
        )
    except (StateDictError, ValueError, RuntimeError, TypeError) as err:
        raise Invalid(str(err)[:1000], fields={"file": ["invalid"]}) from None
    probe = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    emb = encoder.embed(probe, ChipGrid.for_shape((64, 64), 32))
    if tuple(emb.shape) != (2, 2, encoder.dim) or not bool(torch.isfinite(emb).all()):
        raise Invalid(
            "The weights do not produce finite embeddings of the expected shape.",
            fields={"file": ["invalid"]},
        )
    return encoder
