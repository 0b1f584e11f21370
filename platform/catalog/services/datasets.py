"""Writes of datasets: create and update (deleting one: ``deletes``)."""

from django.db import transaction

from accounts.models import Lab, Role
from accounts.selectors import require_role
from common.errors import Invalid

from ..licences import LICENCES
from ..models import Dataset, Visibility


def _clean_dataset_fields(fields: dict) -> dict:
    if "title" in fields and not (fields["title"] or "").strip():
        raise Invalid("A dataset needs a title.", fields={"title": ["required"]})
    if "licence" in fields and fields["licence"] not in LICENCES:
        raise Invalid(
            f"Unknown licence '{fields['licence']}'; use an SPDX id such as CC-BY-4.0.",
            fields={"licence": ["unknown SPDX id"]},
        )
    if "visibility" in fields and fields["visibility"] not in Visibility.values:
        raise Invalid(
            "Visibility must be private, lab or public.", fields={"visibility": ["invalid"]}
        )
    for creator in fields.get("creators", []) or []:
        if not isinstance(creator, dict) or not str(creator.get("name", "")).strip():
            raise Invalid("Each creator needs a name.", fields={"creators": ["name required"]})
    if "keywords" in fields:
        fields["keywords"] = [str(k).strip() for k in fields["keywords"] or [] if str(k).strip()]
    if "funding" in fields:
        # kept as given, less empty values (a partial update does not make the API check
        # nested required fields, so the funder's name is checked here)
        funding = [
            {k: str(v).strip() for k, v in dict(entry).items() if str(v or "").strip()}
            for entry in fields["funding"] or []
        ]
        if any(not entry.get("funder_name") for entry in funding):
            raise Invalid(
                "Each funding reference needs the funder's name.",
                fields={"funding": ["funder_name required"]},
            )
        fields["funding"] = funding
    return fields


@transaction.atomic
def dataset_create(*, user, lab: Lab, title: str, **fields) -> Dataset:
    require_role(user=user, lab_id=lab.pk, role=Role.CURATOR)
    fields = _clean_dataset_fields({"title": title, **fields})
    if not fields.get("creators"):
        name = user.get_full_name() or user.username
        fields["creators"] = [{"name": name, **({"orcid": user.orcid} if user.orcid else {})}]
    return Dataset.objects.create(lab=lab, created_by=user, **fields)


@transaction.atomic
def dataset_update(*, user, dataset: Dataset, **fields) -> Dataset:
    require_role(user=user, lab_id=dataset.lab_id, role=Role.CURATOR)
    fields = _clean_dataset_fields(fields)
    for name, value in fields.items():
        setattr(dataset, name, value)
    # Only the fields sent, so concurrent edits of different fields do not undo each other.
    dataset.save(update_fields=[*fields, "modified"])
    return dataset
