"""DOIs for published dataset versions: DataCite metadata and minting through DataCite's REST API.

``version_datacite`` is a version's metadata in the DataCite REST API's JSON form (schema
kernel-4: the mandatory properties plus subjects, dates, rights with SPDX ids, related
identifiers to the dataset and its other versions, sizes, formats, descriptions and funding
references where given); ``datacite_xml`` is the same as a kernel-4 ``<resource>`` (what the
OAI-PMH ``oai_datacite`` format serves). ``dataset_version_doi_mint`` registers the DOI:
``POST /dois`` (a draft) then ``PUT /dois/<doi>`` with ``event=publish`` (findable), with the
repository's credentials from the environment (``CHIPLAB_DATACITE_*``; off when unset).

The DOI is derived from the version's UUID (``<prefix>/chiplab.<uuid>``), so a retry after a
failure half way (the draft made, the publish refused) registers the same DOI again rather
than a second one; the version records the draft and then the findable state.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import require_role
from common.errors import ChiplabError, Conflict

from .fair import base_url, persistent_url, version_persistent_url
from .licences import LICENCES, licence_url
from .models import DatasetVersion, DoiState, Visibility

log = logging.getLogger(__name__)

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
KERNEL_NS = "http://datacite.org/schema/kernel-4"
KERNEL_XSD = "http://schema.datacite.org/meta/kernel-4/metadata.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ORCID_URI = "https://orcid.org"
RESOURCE_TYPE = "Electron micrographs"
#: the subject every version carries (its keywords come first)
DISCIPLINE = "Electron microscopy"


class DoiProviderFailed(ChiplabError):
    """DataCite refused or did not answer; nothing was half registered that a retry cannot
    finish (the DOI is the same on every try)."""

    status, code = 502, "doi_provider_failed"


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
    # a version imported from another Chiplab (catalog.archive) is a copy of its source
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


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, f"{{{KERNEL_NS}}}{tag}", {k: v for k, v in attrs.items() if v})
    if text is not None:
        element.text = text
    return element


def _person(parent: ET.Element, person: dict) -> None:
    creator = _sub(parent, "creator")
    _sub(creator, "creatorName", person["name"], nameType=person.get("nameType"))
    for key in ("givenName", "familyName"):
        if person.get(key):
            _sub(creator, key, person[key])
    for ident in person.get("nameIdentifiers", []):
        _sub(
            creator,
            "nameIdentifier",
            ident["nameIdentifier"],
            nameIdentifierScheme=ident["nameIdentifierScheme"],
            schemeURI=ident.get("schemeUri"),
        )
    for affiliation in person.get("affiliation", []):
        _sub(creator, "affiliation", affiliation["name"])


def datacite_xml(attributes: dict) -> ET.Element:
    """The metadata as a DataCite kernel-4 ``<resource>`` (it needs the DOI: the kernel's
    identifier is one)."""
    ET.register_namespace("", KERNEL_NS)
    resource = ET.Element(
        f"{{{KERNEL_NS}}}resource", {f"{{{XSI_NS}}}schemaLocation": f"{KERNEL_NS} {KERNEL_XSD}"}
    )
    _sub(resource, "identifier", attributes["doi"], identifierType="DOI")
    creators = _sub(resource, "creators")
    for person in attributes["creators"]:
        _person(creators, person)
    titles = _sub(resource, "titles")
    for title in attributes["titles"]:
        _sub(titles, "title", title["title"])
    _sub(resource, "publisher", attributes["publisher"]["name"])
    _sub(resource, "publicationYear", attributes["publicationYear"])
    types = attributes["types"]
    _sub(
        resource,
        "resourceType",
        types.get("resourceType", ""),
        resourceTypeGeneral=types["resourceTypeGeneral"],
    )
    subjects = _sub(resource, "subjects")
    for subject in attributes.get("subjects", []):
        _sub(subjects, "subject", subject["subject"])
    dates = _sub(resource, "dates")
    for date in attributes.get("dates", []):
        _sub(dates, "date", date["date"], dateType=date["dateType"])
    alternates = _sub(resource, "alternateIdentifiers")
    for alt in attributes.get("alternateIdentifiers", []):
        _sub(
            alternates,
            "alternateIdentifier",
            alt["alternateIdentifier"],
            alternateIdentifierType=alt["alternateIdentifierType"],
        )
    related = _sub(resource, "relatedIdentifiers")
    for rel in attributes.get("relatedIdentifiers", []):
        _sub(
            related,
            "relatedIdentifier",
            rel["relatedIdentifier"],
            relatedIdentifierType=rel["relatedIdentifierType"],
            relationType=rel["relationType"],
            relatedMetadataScheme=rel.get("relatedMetadataScheme"),
            schemeURI=rel.get("schemeUri"),
        )
    sizes = _sub(resource, "sizes")
    for size in attributes.get("sizes", []):
        _sub(sizes, "size", size)
    formats = _sub(resource, "formats")
    for fmt in attributes.get("formats", []):
        _sub(formats, "format", fmt)
    _sub(resource, "version", attributes.get("version", ""))
    rights_list = _sub(resource, "rightsList")
    for rights in attributes.get("rightsList", []):
        _sub(
            rights_list,
            "rights",
            rights["rights"],
            rightsURI=rights.get("rightsUri"),
            rightsIdentifier=rights.get("rightsIdentifier"),
            rightsIdentifierScheme=rights.get("rightsIdentifierScheme"),
            schemeURI=rights.get("schemeUri"),
        )
    descriptions = _sub(resource, "descriptions")
    for description in attributes.get("descriptions", []):
        _sub(
            descriptions,
            "description",
            description["description"],
            descriptionType=description["descriptionType"],
        )
    if funding := attributes.get("fundingReferences"):
        references = _sub(resource, "fundingReferences")
        for entry in funding:
            reference = _sub(references, "fundingReference")
            _sub(reference, "funderName", entry["funderName"])
            if entry.get("funderIdentifier"):
                _sub(
                    reference,
                    "funderIdentifier",
                    entry["funderIdentifier"],
                    funderIdentifierType=entry["funderIdentifierType"],
                )
            if entry.get("awardNumber"):
                _sub(reference, "awardNumber", entry["awardNumber"], awardURI=entry.get("awardUri"))
            if entry.get("awardTitle"):
                _sub(reference, "awardTitle", entry["awardTitle"])
    return resource


# --- the provider --------------------------------------------------------------------------
@dataclass(frozen=True)
class DataCite:
    """A DataCite repository account (REST API, JSON:API documents, HTTP basic auth)."""

    url: str
    repository: str
    password: str
    prefix: str
    timeout: float = 15.0

    def _request(self, method: str, path: str, document: dict | None = None):
        token = base64.b64encode(f"{self.repository}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(document).encode() if document is not None else None,
            headers={
                "Authorization": f"Basic {token}",
                "Accept": "application/vnd.api+json",
                "Content-Type": "application/vnd.api+json",
                "User-Agent": "Chiplab (DOI registration)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            body = err.read()[:4000]
            try:
                return err.code, json.loads(body or b"{}")
            except ValueError:
                return err.code, {"errors": [{"title": body.decode("utf-8", "replace")}]}
        except (OSError, ValueError) as err:
            raise DoiProviderFailed(f"DataCite did not answer ({self.url}): {err}") from err

    def _path(self, doi: str) -> str:
        return "/dois/" + quote(doi, safe="/")

    def draft(self, doi: str, attributes: dict) -> None:
        """Register the DOI as a draft (already there, from an earlier try, is fine)."""
        status, answer = self._request(
            "POST", "/dois", {"data": {"type": "dois", "attributes": attributes}}
        )
        if status == 201:
            return
        if status == 422 and self._request("GET", self._path(doi))[0] == 200:
            return  # the draft of an earlier try that stopped before publishing
        raise DoiProviderFailed(
            f"DataCite refused the draft DOI {doi} (HTTP {status}): {_errors(answer)}"
        )

    def publish(self, doi: str, attributes: dict) -> dict:
        """Make the DOI findable, with the metadata as it is now."""
        return self.update(doi, {**attributes, "event": "publish"})

    def update(self, doi: str, attributes: dict) -> dict:
        """Replace the DOI's metadata (its state unchanged unless ``event`` says so)."""
        document = {"data": {"id": doi, "type": "dois", "attributes": attributes}}
        status, answer = self._request("PUT", self._path(doi), document)
        if status != 200:
            raise DoiProviderFailed(
                f"DataCite refused the metadata of DOI {doi} (HTTP {status}): {_errors(answer)}"
            )
        return answer


def _errors(answer: dict) -> str:
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not errors:
        return "no reason given"
    return "; ".join(str(e.get("title") or e.get("detail") or e) for e in errors)[:500]


def provider() -> DataCite | None:
    """The configured DataCite account, or None when minting is off."""
    parts = (
        settings.CHIPLAB_DATACITE_URL,
        settings.CHIPLAB_DATACITE_REPOSITORY,
        settings.CHIPLAB_DATACITE_PASSWORD,
        settings.CHIPLAB_DATACITE_PREFIX,
    )
    if not all(parts):
        return None
    return DataCite(*parts, timeout=settings.CHIPLAB_DATACITE_TIMEOUT_SECONDS)


def doi_for(version: DatasetVersion, prefix: str) -> str:
    return f"{prefix}/chiplab.{version.pk}".lower()


def dataset_version_doi_mint(*, user, version: DatasetVersion, request=None) -> DatasetVersion:
    """Register the version's DOI with DataCite and make it findable (curators).

    Only versions of public datasets get one (a DOI's landing page is open to everyone).
    """
    require_role(user=user, lab_id=version.dataset.lab_id, role=Role.CURATOR)
    datacite = provider()
    if datacite is None:
        raise Conflict(
            "DOI minting is not configured on this server (CHIPLAB_DATACITE_URL, "
            "_REPOSITORY, _PASSWORD and _PREFIX).",
            code="doi_not_configured",
        )
    version.refresh_from_db()
    if version.doi_state == DoiState.FINDABLE:
        raise Conflict(f"This version already has the DOI {version.doi}.", code="has_doi")
    if version.dataset.visibility != Visibility.PUBLIC:
        raise Conflict(
            "Only versions of public datasets get a DOI: its landing page must be open to "
            "everyone. Make the dataset public first.",
            code="not_public",
        )
    doi = version.doi or doi_for(version, datacite.prefix)
    attributes = version_datacite(version, request, doi=doi)
    datacite.draft(doi, attributes)
    DatasetVersion.objects.filter(pk=version.pk).exclude(doi_state=DoiState.FINDABLE).update(
        doi=doi, doi_state=DoiState.DRAFT
    )
    datacite.publish(doi, attributes)
    DatasetVersion.objects.filter(pk=version.pk).update(
        doi=doi, doi_state=DoiState.FINDABLE, doi_registered=timezone.now()
    )
    log.info("version %s: DOI %s registered (findable)", version.pk, doi)
    _link_previous(datacite, version, request)
    version.refresh_from_db()
    return version


def _link_previous(datacite: DataCite, version: DatasetVersion, request) -> None:
    """The previous version's DOI record learns of its successor (``IsPreviousVersionOf``
    with the new DOI). Best effort: the new DOI stands either way, and the next minting of
    the dataset sends the older record again."""
    previous = (
        DatasetVersion.objects.filter(
            dataset_id=version.dataset_id, number__lt=version.number, doi_state=DoiState.FINDABLE
        )
        .select_related("dataset")
        .order_by("-number")
        .first()
    )
    if previous is None:
        return
    try:
        datacite.update(previous.doi, version_datacite(previous, request))
    except DoiProviderFailed as err:
        log.warning("DOI %s: its successor %s not recorded: %s", previous.doi, version.pk, err)
