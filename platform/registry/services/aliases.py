"""The alias state machine (``champion``, ``challenger``): promotion and roll-back.

The database mirror (``ModelAlias``, the current holders, and ``AliasEvent``, the history) is
what jobs resolve against. Each promotion or roll-back moves it in one transaction; MLflow's
aliases are set to match after commit, outside any row lock (:func:`aliases_sync`). A failed
sync is logged and leaves the mirror as committed; running :func:`aliases_sync` again (as
``chiplab_registry_init`` does) brings MLflow back in line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import Conflict, Forbidden, Invalid, NotFound
from webhooks.services import event_emit

from .. import tracking
from ..models import AliasEvent, ModelAlias, ModelVersion
from ..selectors import CHALLENGER, CHAMPION, alias_holder

log = logging.getLogger(__name__)

ALIASES = (CHAMPION, CHALLENGER)


# --- the mirror (database only; callers hold a transaction) --------------------------------
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
    """Point the mirror's ``name@alias`` at ``version`` and record the move."""
    with transaction.atomic():
        current = (
            ModelAlias.objects.select_for_update().filter(name=version.name, alias=alias).first()
        )
        old = current.version if current else None
        if old is not None and old.pk == version.pk:
            return
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
    """Remove the mirror's ``name@alias`` (if held) and record it."""
    with transaction.atomic():
        current = ModelAlias.objects.select_for_update().filter(name=name, alias=alias).first()
        if current is None:
            return
        old = current.version
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


# --- MLflow, after commit ------------------------------------------------------------------
def aliases_sync(*, names: Iterable[str] | None = None) -> list[str]:
    """Set MLflow's aliases of the registered models ``names`` (every mirrored model when None)
    to the mirror's holders; idempotent. Returns the names MLflow could not be synced for
    (logged; the mirror is unchanged). Never call it while holding a row lock."""
    if names is None:
        names = ModelVersion.objects.values_list("name", flat=True).distinct()
    failed = []
    for name in sorted(set(names)):
        holders = dict(
            ModelAlias.objects.filter(name=name).values_list("alias", "version__version")
        )
        try:
            for alias in ALIASES:
                if alias in holders:
                    tracking.set_alias(name, alias, holders[alias])
                else:
                    tracking.delete_alias(name, alias)
        except Exception:  # MLflow down or out of step: the mirror stays the truth
            log.exception("registry: MLflow aliases of %s not synced; run aliases_sync", name)
            failed.append(name)
    return failed


def _sync_on_commit(names: set[str]) -> None:
    transaction.on_commit(lambda: aliases_sync(names=names))


def _require_manager(*, user, version: ModelVersion) -> None:
    if version.lab_id is None:
        if not (user.is_authenticated and user.is_staff):
            raise Forbidden("Built-in models are managed by platform administrators.")
        return
    require_role(user=user, lab_id=version.lab_id, role=Role.CURATOR)


# --- promotion and roll-back ---------------------------------------------------------------
def model_version_promote(
    *, user, version: ModelVersion, alias: str = CHAMPION, note: str = "", automatic: bool = False
) -> ModelVersion:
    """Move ``alias`` (champion by default) to ``version``, in one transaction.

    A lab has one champion: promoting a version of one of its models clears the champion of
    its other models (the previous holder is recorded, so a roll-back restores it).
    """
    if alias not in ALIASES:
        raise Invalid("Alias must be 'champion' or 'challenger'.", fields={"alias": ["invalid"]})
    if not automatic:
        _require_manager(user=user, version=version)
    action = AliasEvent.Action.AUTO_PROMOTE if automatic else AliasEvent.Action.PROMOTE
    with transaction.atomic():
        names, previous = {version.name}, None
        if alias == CHAMPION and version.lab_id is not None:
            others = (
                ModelAlias.objects.filter(lab_id=version.lab_id, alias=CHAMPION)
                .exclude(name=version.name)
                .select_related("version")
            )
            for other in others:
                previous = other.version
                names.add(other.name)
                _clear_alias(
                    name=other.name, alias=CHAMPION, user=user, note=f"champion moved to {version}"
                )
        _move_alias(
            version=version, alias=alias, action=action, user=user, note=note, previous=previous
        )
        event_emit("model.promoted", version.pk, alias=alias)
        if alias == CHAMPION and alias_holder(name=version.name, alias=CHALLENGER) == version:
            _clear_alias(name=version.name, alias=CHALLENGER, user=user, note="promoted")
        _sync_on_commit(names)
    version.refresh_from_db()
    return version


def model_rollback(
    *, user, name: str, alias: str = CHAMPION, to_version: int | None = None
) -> ModelVersion | None:
    """Move ``alias`` of ``name`` back to the version that held it before (or ``to_version``),
    in one transaction.

    Walks the alias history: the target is the previous holder recorded when the current
    holder was promoted. With no earlier holder the alias is cleared, so a lab falls back to
    the public default. Returns the new holder (None when cleared).
    """
    with transaction.atomic():
        row = (
            ModelAlias.objects.select_for_update()
            .filter(name=name, alias=alias)
            .select_related("version")
            .first()
        )
        current = row.version if row else None
        sample = current or ModelVersion.objects.filter(name=name).first()
        if sample is None:
            raise NotFound("Model not found.")
        _require_manager(user=user, version=sample)
        target = _rollback_target(name=name, alias=alias, current=current, to_version=to_version)
        if target is None and sample.lab_id is None:
            raise Conflict("The built-in model has no earlier version to roll back to.")
        if target is None or target.name != name:
            # no earlier holder (the lab falls back to the public default), or the lab's
            # champion came from another of its models (restored there below)
            _clear_alias(
                name=name,
                alias=alias,
                user=user,
                action=AliasEvent.Action.ROLLBACK,
                note=f"rolled back to {target}"
                if target
                else "no earlier version: the lab falls back to the public default",
            )
        if target is not None:
            _move_alias(
                version=target,
                alias=alias,
                action=AliasEvent.Action.ROLLBACK,
                user=user,
                record_previous=False,
            )
        _sync_on_commit({name} | ({target.name} if target else set()))
    return target


def _rollback_target(
    *, name: str, alias: str, current: ModelVersion | None, to_version: int | None
) -> ModelVersion | None:
    """The version ``alias`` goes back to: ``to_version``, else the holder before ``current``."""
    if to_version is not None:
        target = ModelVersion.objects.filter(name=name, version=to_version).first()
        if target is None:
            raise NotFound("Model version not found.")
        return target
    if current is None:
        raise Conflict(f"No version of {name} holds '{alias}'.")
    promoted = (
        AliasEvent.objects.filter(name=name, alias=alias, version=current)
        .exclude(action=AliasEvent.Action.ROLLBACK)
        .first()
    )
    return promoted.previous if promoted else None
