"""A version's DataCite metadata as a kernel-4 ``<resource>`` XML element (what the OAI-PMH
``oai_datacite`` format serves), from the JSON attributes of ``datacite.version_datacite``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

KERNEL_NS = "http://datacite.org/schema/kernel-4"
KERNEL_XSD = "http://schema.datacite.org/meta/kernel-4/metadata.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


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
    _identifiers(resource, attributes)
    sizes = _sub(resource, "sizes")
    for size in attributes.get("sizes", []):
        _sub(sizes, "size", size)
    formats = _sub(resource, "formats")
    for fmt in attributes.get("formats", []):
        _sub(formats, "format", fmt)
    _sub(resource, "version", attributes.get("version", ""))
    _rights_and_descriptions(resource, attributes)
    if funding := attributes.get("fundingReferences"):
        _funding(resource, funding)
    return resource


def _identifiers(resource: ET.Element, attributes: dict) -> None:
    """``alternateIdentifiers`` and ``relatedIdentifiers``."""
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


def _rights_and_descriptions(resource: ET.Element, attributes: dict) -> None:
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


def _funding(resource: ET.Element, funding: list[dict]) -> None:
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
