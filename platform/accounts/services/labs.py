"""Writes about labs and their members (validate, then act, in one transaction)."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from common.errors import Conflict, Invalid, NotFound, TooMany

from ..models import Lab, Membership, Role, User
from ..selectors import require_role, user_for_invite


@transaction.atomic
def lab_create(*, user: User, name: str, slug: str = "", description: str = "") -> Lab:
    """A new lab owned by ``user``; at most ``CHIPLAB_MAX_OWNED_LABS_PER_USER`` owned at once.

    Each lab has its own job caps, daily quota and turn in the workers' fair order, so labs
    that cost nothing to make would multiply one person's share of the shared workers.
    """
    name = (name or "").strip()
    if not name:
        raise Invalid("A lab needs a name.", fields={"name": ["required"]})
    slug = slugify(slug or name)[:64]
    if not slug:
        raise Invalid("The lab name needs letters or digits.", fields={"slug": ["invalid"]})
    if Lab.objects.filter(slug=slug).exists():
        raise Conflict(f"A lab with the slug '{slug}' exists.", fields={"slug": ["taken"]})
    _require_lab_room(user)
    lab = Lab.objects.create(name=name, slug=slug, description=description)
    Membership.objects.create(user=user, lab=lab, role=Role.OWNER)
    return lab


def _require_lab_room(user: User) -> None:
    """Refuse a lab past the owner's allowance (the user's row is locked: two requests at
    once cannot both pass the count)."""
    limit = settings.CHIPLAB_MAX_OWNED_LABS_PER_USER
    if not limit:
        return
    User.objects.select_for_update().filter(pk=user.pk).first()
    if Membership.objects.filter(user=user, role=Role.OWNER).count() >= limit:
        raise TooMany(
            f"You own {limit} labs, the most one person may own; use one of them, or hand one "
            "over to another owner (or leave it) before creating another.",
            code="too_many_labs",
        )


@transaction.atomic
def lab_update(
    *, user: User, lab: Lab, name: str | None = None, description: str | None = None
) -> Lab:
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    changed = []
    if name is not None:
        if not name.strip():
            raise Invalid("A lab needs a name.", fields={"name": ["required"]})
        lab.name = name.strip()
        changed.append("name")
    if description is not None:
        lab.description = description
        changed.append("description")
    if changed:
        lab.save(update_fields=changed)
    return lab


def valid_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError as err:
        choices = ", ".join(Role.values)
        raise Invalid(
            f"Unknown role '{role}'; use one of {choices}.", fields={"role": ["invalid"]}
        ) from err


@transaction.atomic
def member_invite(*, user: User, lab: Lab, who: str, role: str = Role.VIEWER) -> Membership:
    """Add an existing user, named by username, to a lab with a role.

    An e-mail address is refused: looking it up would tell the owner whether the address has
    an account. People are invited by e-mail with ``invitation_create`` instead.
    """
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    role = valid_role(role)
    if "@" in (who or ""):  # even a username with "@" could be mistaken for someone's address
        raise Invalid(
            "To add someone by e-mail address, send them an invitation (they accept it from "
            "the link in the message, with or without an account).",
            code="use_invitation",
            fields={"user": ["send an invitation to an e-mail address"]},
        )
    invitee = user_for_invite(who=who)
    try:
        with transaction.atomic():
            return Membership.objects.create(user=invitee, lab=lab, role=role)
    except IntegrityError as err:
        raise Conflict(f"{invitee.username} is already a member.") from err


def _owners_left(lab: Lab, excluding: Membership) -> int:
    return lab.memberships.filter(role=Role.OWNER).exclude(pk=excluding.pk).count()


def lab_lock(lab: Lab) -> None:
    """Serialise owner changes in one lab until the transaction ends.

    Without it two owners leaving (or being demoted) at once each count the other as
    remaining, and the lab is left with no owner.
    """
    if not list(Lab.objects.select_for_update().filter(pk=lab.pk).values_list("pk", flat=True)):
        raise NotFound("Lab not found.")


@transaction.atomic
def member_set_role(*, user: User, lab: Lab, member_id, role: str | None) -> Membership:
    """Change a member's role (owners); ``role`` None changes nothing (an empty PATCH)."""
    lab_lock(lab)  # first: the acting owner may just have been demoted by another owner
    require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    membership = _membership(lab, member_id)
    role = valid_role(membership.role if role is None else role)
    if membership.role == Role.OWNER and role != Role.OWNER and not _owners_left(lab, membership):
        raise Conflict("A lab must keep at least one owner.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, user: User, lab: Lab, member_id) -> None:
    lab_lock(lab)
    if str(member_id) != str(user.pk):
        require_role(user=user, lab_id=lab.pk, role=Role.OWNER)
    else:
        require_role(user=user, lab_id=lab.pk, role=Role.VIEWER)
    membership = _membership(lab, member_id)
    if membership.role == Role.OWNER and not _owners_left(lab, membership):
        raise Conflict("The last owner cannot leave; make someone else owner first.")
    membership.delete()


def lab_leave(*, user: User, lab: Lab) -> None:
    member_remove(user=user, lab=lab, member_id=user.pk)


def _membership(lab: Lab, member_id) -> Membership:
    membership = lab.memberships.select_related("user").filter(user_id=member_id).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership
