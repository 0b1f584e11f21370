"""Reads of model versions, aliases and training jobs; who may see what is decided here."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet

from accounts.models import Lab, Membership, Role
from accounts.selectors import require_role
from common.errors import NotFound

from .models import AliasEvent, ModelAlias, ModelVersion, ModelVisibility, TrainingJob

CHAMPION = "champion"
CHALLENGER = "challenger"
#: built-in registered models that serve labs without a champion of their own, in order
FALLBACK_MODELS = ("chiplab-fourier",)


def _public() -> Q:
    return Q(lab__isnull=True) | Q(visibility=ModelVisibility.PUBLIC)


def model_versions_visible_to(*, user) -> QuerySet[ModelVersion]:
    """Public versions plus every version owned by one of the user's labs."""
    qs = ModelVersion.objects.select_related("lab")
    if not user.is_authenticated:
        return qs.filter(_public())
    member_labs = Membership.objects.filter(user=user).values("lab_id")
    return qs.filter(_public() | Q(lab_id__in=member_labs))


def model_version_get(*, user, version_id) -> ModelVersion:
    version = model_versions_visible_to(user=user).filter(pk=version_id).first()
    if version is None:
        raise NotFound("Model version not found.")
    return version


def model_names_visible_to(*, user) -> list[str]:
    return sorted(set(model_versions_visible_to(user=user).values_list("name", flat=True)))


def model_get(*, user, name: str) -> QuerySet[ModelVersion]:
    """Visible versions of one registered model (newest first); NotFound when none."""
    versions = model_versions_visible_to(user=user).filter(name=name).order_by("-version")
    if not versions.exists():
        raise NotFound("Model not found.")
    return versions


def alias_history(*, name: str) -> QuerySet[AliasEvent]:
    """Alias moves of a registered model (callers check visibility through ``model_get``)."""
    return AliasEvent.objects.filter(name=name).select_related("version", "previous", "user")


def alias_holder(*, name: str, alias: str) -> ModelVersion | None:
    row = ModelAlias.objects.filter(name=name, alias=alias).select_related("version").first()
    return row.version if row else None


def lab_champion(*, lab_id) -> ModelVersion | None:
    """The lab's own champion (one per lab, whatever registered model holds it)."""
    row = (
        ModelAlias.objects.filter(lab_id=lab_id, alias=CHAMPION)
        .select_related("version")
        .order_by("-updated")
        .first()
    )
    return row.version if row else None


def public_champion() -> ModelVersion | None:
    for name in (settings.CHIPLAB_DEFAULT_MODEL, *FALLBACK_MODELS):
        version = alias_holder(name=name, alias=CHAMPION)
        if version is not None:
            return version
    return None


def model_version_resolve(*, user, lab, version_id=None) -> ModelVersion:
    """The model version a job of ``lab`` should use (a read: it never registers anything).

    With ``version_id``: that version if it is public or owned by ``lab`` (else NotFound).
    Without: the lab's ``champion`` if it has one, else the public default's champion, else
    NotFound (writes that need one call ``registry.services.builtins_ensure`` first).
    """
    lab_id = lab.pk if isinstance(lab, Lab) else lab
    require_role(user=user, lab_id=lab_id, role=Role.VIEWER)
    if version_id is not None:
        version = (
            ModelVersion.objects.filter(pk=version_id).filter(_public() | Q(lab_id=lab_id)).first()
        )
        if version is None:
            raise NotFound("Model version not found.")
        return version
    version = lab_champion(lab_id=lab_id) or public_champion()
    if version is None:
        raise NotFound("No model is registered yet.")
    return version


def training_jobs_of(*, user, lab_id) -> QuerySet[TrainingJob]:
    require_role(user=user, lab_id=lab_id, role=Role.VIEWER)
    return TrainingJob.objects.filter(lab_id=lab_id).select_related(
        "base_version", "result_version"
    )


def training_job_get(*, user, job_id) -> TrainingJob:
    job = (
        TrainingJob.objects.select_related("base_version", "result_version")
        .filter(pk=job_id)
        .first()
    )
    if (
        job is None
        or not user.is_authenticated
        or not Membership.objects.filter(user=user, lab_id=job.lab_id).exists()
    ):
        raise NotFound("Training job not found.")
    return job


def _summary(name: str, versions: list[ModelVersion]) -> dict:
    latest = max(versions, key=lambda v: v.version)
    aliases = {
        row.alias: row.version.version
        for row in ModelAlias.objects.filter(name=name).select_related("version")
    }
    return {
        "name": name,
        "lab": latest.lab_id,
        "lab_slug": latest.lab.slug if latest.lab else None,
        "encoder_kind": latest.encoder_kind,
        "visibility": "public" if latest.is_public else "lab",
        "aliases": aliases,
        "latest_version": latest.version,
        "versions": len(versions),
    }


def models_visible_to(*, user, lab_id=None) -> list[dict]:
    """One summary per registered model the user may see (optionally of one lab)."""
    qs = model_versions_visible_to(user=user)
    if lab_id is not None:
        qs = qs.filter(lab_id=lab_id)
    by_name: dict[str, list[ModelVersion]] = {}
    for version in qs.order_by("name", "version"):
        by_name.setdefault(version.name, []).append(version)
    return [_summary(name, versions) for name, versions in sorted(by_name.items())]


def model_detail(*, user, name: str) -> dict:
    versions = list(model_get(user=user, name=name))
    return {
        **_summary(name, versions),
        "version_list": versions,
        "alias_history": list(alias_history(name=name)[:200]),
    }
