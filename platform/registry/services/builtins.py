"""The built-in encoders: registered from committed files as public champions (idempotent)."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from .. import tracking
from ..models import AliasEvent, ModelVersion, ModelVisibility, Source
from ..selectors import CHAMPION, alias_holder, public_champion
from .aliases import _move_alias, aliases_sync
from .registration import BUILTIN_EXPERIMENT, mirror

log = logging.getLogger(__name__)

FOURIER_MODEL = "chiplab-fourier"
#: the built-ins' weights are made by this project's code from its own simulator (no third-party
#: data), and are released under the project's licence (pyproject.toml)
BUILTIN_LICENCE = "BSD-3-Clause"


#: a built-in's card: its accuracy where neither its training nor the choice of the core's
#: settings looked (the README's headline table: ``python -m workers.fewshot.bench --set unseen``
#: and ``--set real``, measured 2026-12-05 with the committed weights)
EVALUATION = (
    "Held out: chip mIoU with 3 examples per class on micrographs of an independent simulator: "
    "lattices {lattices:.3f}, particles {particles:.3f}, textures {textures:.3f}; the real MoO3 "
    "micrograph 1.000 (2026-12-05)."
)


def builtin_models() -> dict[str, str]:
    """Registered name -> engine encoder kind of the built-in encoders."""
    return {settings.CHIPLAB_DEFAULT_MODEL: "default", FOURIER_MODEL: "fourier"}


def builtin_card(kind: str) -> dict[str, Any]:
    if kind == "default":
        return {
            "summary": "Chiplab's default chip encoder: a small CNN fused with Fourier and "
            "intensity features, meta-trained episodically on simulated micrographs.",
            "trained_on": "workers.fewshot.sim.random_scene (simulated lattices, particles, "
            "supports, noise); no lab data.",
            "intended_use": "Few-shot chip classification of EM micrographs with 2-10 support "
            "chips per class.",
            "limitations": "Trained on simulations only; fine-tune on a lab's support sets for "
            "unusual contrast or textures. Weakest on particles of one material that differ "
            "only in shape or thickness profile, and on textures from three examples per "
            "class (five map better). Training adds to particles only: left out of training, "
            "no group of unseen micrographs scores lower (python -m "
            "workers.fewshot.bench.lofo).",
            "evaluation": EVALUATION.format(lattices=0.968, particles=0.712, textures=0.705),
            "licence": BUILTIN_LICENCE,
        }
    return {
        "summary": "Training-free Fourier descriptor (radial/angular spectrum, lattice "
        "spacing, symmetry harmonics, intensity statistics).",
        "trained_on": "nothing (no learned weights)",
        "intended_use": "Lattice/texture discrimination; a baseline that needs no weights.",
        "limitations": "Cannot be fine-tuned; weak on shape-only differences.",
        "evaluation": EVALUATION.format(lattices=0.957, particles=0.636, textures=0.604),
        "licence": BUILTIN_LICENCE,
    }


def write_builtin(kind: str, dest: Path) -> Path:
    """The encoder directory (config.json + weights.pt) of a built-in, from committed files."""
    # torch (encoders): loaded by the worker that builds or loads a model, never by a web process
    from workers.fewshot.encoders import build_encoder, save_encoder

    if kind == "default":
        # torch (encoders): loaded by the worker that builds or loads a model, never by the web
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
    fresh Django database); absent (logged and registered from the committed files). Then sets
    MLflow's aliases of every mirrored model to the mirror's (a sync a failure left behind).
    Talks to MLflow: never call it inside a transaction.
    """
    done = []
    for name, kind in builtin_models().items():
        try:
            done.append(_init_builtin(name, kind))
        except FileNotFoundError as err:
            log.warning("registry: skipping built-in %s: %s", name, err)
    aliases_sync()
    return [ModelVersion.objects.get(pk=v.pk) for v in done]


def builtins_ensure() -> None:
    """Register the built-ins unless a public champion exists (a first job on an install that
    skipped ``chiplab_registry_init``). Talks to MLflow: never call it inside a transaction."""
    if public_champion() is None:
        registry_init()


def builtin_sha(kind: str) -> str:
    """sha256 of the committed weights of a built-in ("" for training-free encoders)."""
    if kind != "default":
        return ""
    # torch (encoders): loaded by the worker that builds or loads a model, never by a web process
    from workers.fewshot.encoders.default import BUNDLED_WEIGHTS

    config = BUNDLED_WEIGHTS / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"committed default weights missing in {BUNDLED_WEIGHTS}")
    return json.loads(config.read_text())["sha256"]


def builtin_config(kind: str) -> dict:
    """The builder options of a built-in as this code builds it, as stored (JSON values)."""
    # torch (encoders): loaded by the worker that builds or loads a model, never by a web process
    from workers.fewshot.encoders import build_encoder

    return json.loads(json.dumps(build_encoder(kind, device="cpu").config()))


def _init_builtin(name: str, kind: str) -> ModelVersion:
    """Mirror what MLflow has; register a new version when the committed weights or the
    encoder's options (e.g. a feature group added to its embedding) changed.

    Versions are immutable: a version id always means the same embeddings (caches and
    re-derivation rely on it), so new weights or options become a new version and the new
    champion; results keep naming the version that made them. Its card (what it is, how it
    scored where it was never tuned) is a description, rewritten when this code's differs.
    """
    sha = builtin_sha(kind)
    if not ModelVersion.objects.filter(name=name).exists():
        for mv in sorted(
            tracking.client().search_model_versions(f"name='{name}'"), key=lambda m: int(m.version)
        ):
            _mirror_builtin(name, kind, mv, sha=(mv.tags or {}).get("weights_sha256", sha))
    latest = ModelVersion.objects.filter(name=name).order_by("-version").first()
    changed = latest is not None and (
        (sha and latest.weights_sha256 != sha) or latest.config != builtin_config(kind)
    )
    if latest is None or changed:
        latest = _mirror_builtin(name, kind, _log_builtin(name, kind, sha=sha), sha=sha)
        if latest.version > 1:
            _move_alias(
                version=latest,
                alias=CHAMPION,
                action=AliasEvent.Action.SET,
                user=None,
                note="committed weights or encoder options changed",
            )
    card = builtin_card(kind)
    if latest.card != card:  # the same weights, described anew (a measurement)
        latest.card = card
        latest.save(update_fields=["card"])
    if alias_holder(name=name, alias=CHAMPION) is None:
        _move_alias(
            version=latest,
            alias=CHAMPION,
            action=AliasEvent.Action.SET,
            user=None,
            note="built-in encoder registered",
        )
    return latest


def _mirror_builtin(name: str, kind: str, mv, *, sha: str) -> ModelVersion:
    # torch (encoders): loaded by the worker that builds or loads a model, never by a web process
    from workers.fewshot.encoders import build_encoder

    enc = build_encoder(kind, device="cpu")
    return mirror(
        name=name,
        mlflow_version=mv,
        kind=kind,
        source=Source.BUILTIN,
        lab=None,
        visibility=ModelVisibility.PUBLIC,
        card=builtin_card(kind),
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
        enc_dir = write_builtin(kind, Path(tmp) / "encoder")
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
        description=builtin_card(kind)["summary"],
        tags={"encoder_kind": kind, "source": "builtin", "weights_sha256": sha},
    )
