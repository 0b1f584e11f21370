"""Who may run and cancel segmentation jobs, and what the API says each user may do with a job."""

from __future__ import annotations

from accounts.models import ROLE_RANK, Role
from accounts.selectors import require_role
from labeling.models import ConsensusRule, SupportSetVersion

from ..models import SegmentationJob


def _is_own(version: SupportSetVersion, user) -> bool:
    return version.rule == ConsensusRule.SINGLE_OWNER and str(
        (version.params or {}).get("owner", "")
    ) == str(user.pk)


def _run_role(version: SupportSetVersion, user) -> str:
    """The role running a job on ``version`` needs: annotators run their own working set."""
    return Role.ANNOTATOR if _is_own(version, user) else Role.CURATOR


def cancel_role(job: SegmentationJob, user) -> str:
    """The role cancelling ``job`` needs: annotators cancel their own jobs."""
    return Role.ANNOTATOR if job.created_by_id == user.pk else Role.CURATOR


def require_run_role(*, user, lab_id, version: SupportSetVersion) -> None:
    require_role(user=user, lab_id=lab_id, role=Role.ANNOTATOR)
    if _run_role(version, user) == Role.CURATOR:
        require_role(user=user, lab_id=lab_id, role=Role.CURATOR)


def job_permissions(*, user, job: SegmentationJob, role: str | None) -> dict[str, bool]:
    """What ``user``, whose role in the job's lab is ``role`` (None: not a member), may do with
    ``job``, by the rules of rerun and cancel."""

    def has(needed: str) -> bool:
        return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]

    return {
        "rerun": has(_run_role(job.support_set, user)),
        "cancel": has(cancel_role(job, user)),
    }
