"""Two owners leaving at the same time cannot leave a lab without an owner."""

import pytest
from django.db import transaction

from accounts import services
from accounts.models import Membership, Role
from common.errors import Conflict
from tests.factories import LabFactory, MembershipFactory
from tests.support.threads import in_thread


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("second", ["leave", "demote"])
def test_concurrent_owner_changes_keep_an_owner(second):
    """The first owner's removal is still uncommitted when the second owner acts.

    Without a lock on the lab both see the other owner still there (Postgres, read committed)
    and the lab ends with none. With it, the second waits, then sees the truth and is refused.
    SQLite serialises writing transactions anyway, so there this guards against regressions.
    """
    lab = LabFactory()
    first = MembershipFactory(lab=lab, role=Role.OWNER).user
    second_owner = MembershipFactory(lab=lab, role=Role.OWNER).user
    MembershipFactory(lab=lab, role=Role.VIEWER)

    def act():
        if second == "leave":
            return services.lab_leave(user=second_owner, lab=lab)
        return services.member_set_role(
            user=second_owner, lab=lab, member_id=second_owner.pk, role=Role.VIEWER
        )

    with transaction.atomic():
        services.lab_leave(user=first, lab=lab)
        thread, outcome = in_thread(act)
        thread.join(timeout=1.0)  # with the lock it is waiting for this transaction now
    thread.join(timeout=60)
    assert not thread.is_alive()

    assert isinstance(outcome.get("error"), Conflict), outcome
    owners = Membership.objects.filter(lab=lab, role=Role.OWNER)
    assert list(owners.values_list("user_id", flat=True)) == [second_owner.pk]
