"""DataCite metadata of a published dataset version (the REST API's JSON form).

``version_datacite`` is a version's metadata in the DataCite REST API's JSON form (schema
kernel-4: the mandatory properties plus subjects, dates, rights with SPDX ids, related
identifiers to the dataset and its other versions, sizes, formats, descriptions and funding
references where given). The same as a kernel-4 ``<resource>`` is ``datacite_xml``; minting
the DOI is ``doi``.
"""

from __future__ import annotations

from django.urls import reverse

from catalog.licences import LICENCES, licence_url
from catalog.links import base_url, persistent_url, version_persistent_url
from catalog.models import DatasetVersion

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
ORCID_URI = "https://orcid.org"
RESOURCE_TYPE = "Electron micrographs"
#: the subject every version carries (its keywords come first)
DISCIPLINE = "Electron microscopy"


# --- metadata ------------------------------------------------------------------------------
def _name_parts(name: str) -> tuple[str, str] | None:
    """``(family, given)`` of a name written "Family, Given"; None when it is not so written
    (a name is never guessed apart: "van der Berg" is not "Berg")."""
    family, sep, given = name.partition(",")
    if sep and family.strip() and given.strip():
        return family.strip(), given.strip()
    return None


def _creator(creator: dict) -> dict:
    name = creator["name"].strip()
    out: dict = {"name": name, "nameType": "Personal"}
    if parts := _name_parts(name):
        out["familyName"], out["givenName"] = parts
    if orcid := creator.get("orcid"):
        out["nameIdentifiers"] = [
            {
                "nameIdentifier": f"{ORCID_URI}/{orcid}",
                "nameIdentifierScheme": "ORCID",
                "schemeUri": ORCID_URI,
            }
        ]
    if affiliation := (creator.get("affiliation") or "").strip():
        out["affiliation"] = [{"name": affiliation}]
    return out


def _funding(entry: dict) -> dict:
    out = {"funderName": entry["funder_name"]}
    if entry.get("funder_identifier"):
        out["funderIdentifier"] = entry["funder_identifier"]
        out["funderIdentifierType"] = entry.get("funder_identifier_type") or "Other"
    for key, name in (
        ("award_number", "awardNumber"),
        ("award_uri", "awardUri"),
        ("award_title", "awardTitle"),
    ):
        if entry.get(key):
            out[name] = entry[key]
    return out


def _identifier_of(version: DatasetVersion, request) -> tuple[str, str]:
    """How a version is cited by another: its DOI when it has one, else its landing page."""
    if version.doi:
        return version.doi, "DOI"
    return version_persistent_url(version, request), "URL"


Neighbours = tuple[DatasetVersion | None, DatasetVersion | None]


def neighbours_of(versions: list[DatasetVersion]) -> dict:
    """Each version's previous and next version, in one query (for lists of records)."""
    ordered: dict = {}
    siblings = (
        DatasetVersion.objects.filter(dataset_id__in={v.dataset_id for v in versions})
        .only("id", "dataset_id", "number", "doi")
        .order_by("dataset_id", "number")
    )
    for sibling in siblings:
        ordered.setdefault(sibling.dataset_id, []).append(sibling)
    out = {}
    for chain in ordered.values():
        for i, sibling in enumerate(chain):
            out[sibling.pk] = (
                chain[i - 1] if i > 0 else None,
                chain[i + 1] if i + 1 < len(chain) else None,
            )
    return out


def _neighbours(version: DatasetVersion) -> Neighbours:
    siblings = DatasetVersion.objects.filter(dataset_id=version.dataset_id)
    return (
        siblings.filter(number__lt=version.number).order_by("-number").first(),
        siblings.filter(number__gt=version.number).order_by("number").first(),
    )


def _related(version: DatasetVersion, request, neighbours: Neighbours | None) -> list[dict]:
    dataset = version.dataset
    related = []
    if dataset.doi:
        related.append((dataset.doi, "DOI", "IsVersionOf"))
    related.append((persistent_url(dataset, request), "URL", "IsVersionOf"))
    # a version imported from another Chiplab (publishing.archive) is a copy of its source
    source = (version.manifest or {}).get("source") or {}
    if source.get("doi"):
        related.append((source["doi"], "DOI", "IsIdenticalTo"))
    elif source.get("persistent_url"):
        related.append((source["persistent_url"], "URL", "IsIdenticalTo"))
    previous, following = neighbours or _neighbours(version)
    if previous:
        related.append((*_identifier_of(previous, request), "IsNewVersionOf"))
    if following:
        related.append((*_identifier_of(following, request), "IsPreviousVersionOf"))
    base = base_url(request)
    related.append(
        (
            base + reverse("dataset-version-crate-metadata", args=[version.pk]),
            "URL",
            "HasMetadata",
        )
    )
    out = []
    for identifier, kind, relation in related:
        item = {
            "relatedIdentifier": identifier,
            "relatedIdentifierType": kind,
            "relationType": relation,
        }
        if relation == "HasMetadata":
            item["relatedMetadataScheme"] = "RO-Crate"
            item["schemeUri"] = "https://w3id.org/ro/crate/1.2"
        out.append(item)
    return out


def _rights(spdx: str) -> dict:
    rights = {"rights": LICENCES.get(spdx, spdx)}
    if url := licence_url(spdx):
        rights |= {
            "rightsUri": url,
            "rightsIdentifier": spdx.lower(),
            "rightsIdentifierScheme": "SPDX",
            "schemeUri": "https://spdx.org/licenses/",
        }
    return rights


def version_datacite(
    version: DatasetVersion, request=None, *, doi: str = "", neighbours: Neighbours | None = None
) -> dict:
    """The version's DataCite metadata: the ``attributes`` of a REST API ``dois`` record
    (``neighbours``: its previous and next version when known, see ``neighbours_of``)."""
    manifest = version.manifest
    lab_name = manifest["lab"]["name"]
    creators = [_creator(c) for c in version.creators if (c.get("name") or "").strip()]
    if not creators:  # DataCite requires one: the lab that published it
        creators = [{"name": lab_name, "nameType": "Organizational"}]
    subjects, seen = [], set()
    for keyword in [*version.keywords, DISCIPLINE]:
        if (key := str(keyword).strip()) and key.lower() not in seen:
            seen.add(key.lower())
            subjects.append({"subject": key})
    descriptions = [
        {"description": version.description or version.title, "descriptionType": "Abstract"}
    ]
    if version.note:
        descriptions.append({"description": version.note, "descriptionType": "Other"})
    images = manifest.get("images", [])
    formats = sorted({image["encoding_format"] for image in images})
    size = sum(image["size"] for image in images)
    attributes = {
        "url": version_persistent_url(version, request),
        "creators": creators,
        "titles": [{"title": version.title}],
        "publisher": {"name": lab_name},
        "publicationYear": str(version.created.year),
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": RESOURCE_TYPE},
        "subjects": subjects,
        "dates": [
            {"date": version.created.date().isoformat(), "dateType": "Issued"},
            {"date": version.dataset.created.date().isoformat(), "dateType": "Created"},
        ],
        "alternateIdentifiers": [
            {"alternateIdentifier": f"urn:uuid:{version.pk}", "alternateIdentifierType": "URN"}
        ],
        "relatedIdentifiers": _related(version, request, neighbours),
        "sizes": [f"{len(images)} images", f"{size} bytes"],
        "formats": formats,
        "version": str(version.number),
        "rightsList": [_rights(version.licence)],
        "descriptions": descriptions,
        "schemaVersion": SCHEMA_VERSION,
    }
    if version.funding:
        attributes["fundingReferences"] = [_funding(f) for f in version.funding]
    if doi := doi or version.doi:
        attributes = {"doi": doi, **attributes}
    return attributes
