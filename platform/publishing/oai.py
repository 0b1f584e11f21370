"""OAI-PMH 2.0 data provider for the public dataset versions (``/oai``).

The protocol's six verbs, with two metadata formats: ``oai_dc`` (simple Dublin Core, every
public version) and ``oai_datacite`` (the DataCite kernel-4 ``<resource>``, for versions with
a findable DOI: the kernel's identifier is a DOI). Items are dataset versions; their OAI
identifier is ``oai:<host>:<version uuid>`` and their datestamp the later of publication and
DOI registration (the only change a version's record can have). There are no sets.

Lists come in pages of ``PAGE_SIZE`` with signed resumption tokens that carry the request and
the position after the last item (datestamp, id): a page is the same whatever is published
meanwhile, and a token that was altered or is older than ``TOKEN_MAX_AGE`` is
``badResumptionToken``. Only what anyone may see is served; private and lab-only versions
do not exist here (``idDoesNotExist``), as on the landing pages.
"""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.db.models import DateTimeField, F, Q
from django.db.models.functions import Coalesce, Greatest
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from catalog import selectors
from catalog.licences import LICENCES, licence_url
from catalog.links import base_url, persistent_url, version_persistent_url
from catalog.models import DatasetVersion, DoiState

from .datacite import neighbours_of, version_datacite
from .datacite_xml import KERNEL_NS, KERNEL_XSD, datacite_xml

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_XSD = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_XSD = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: metadataPrefix -> (schema, namespace)
FORMATS = {"oai_dc": (OAI_DC_XSD, OAI_DC_NS), "oai_datacite": (KERNEL_XSD, KERNEL_NS)}
PAGE_SIZE = 100
TOKEN_MAX_AGE = 24 * 3600  # seconds a resumption token is honoured
MAX_ARGUMENT_CHARS = 2000
_SALT = "chiplab.catalog.oai"  # kept from before the move: issued tokens stay valid

#: arguments each verb takes: (required, optional); a resumptionToken is exclusive
VERBS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), {"resumptionToken"}),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
}

for _prefix, _ns in (("", OAI_NS), ("oai_dc", OAI_DC_NS), ("dc", DC_NS), ("xsi", XSI_NS)):
    ET.register_namespace(_prefix, _ns)


class OaiError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _q(tag: str) -> str:
    return f"{{{OAI_NS}}}{tag}"


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_datestamp(name: str, value: str) -> tuple[dt.datetime, str]:
    """A ``from``/``until`` argument in one of the two granularities (day or second, UTC)."""
    for fmt, granularity in (("%Y-%m-%d", "day"), ("%Y-%m-%dT%H:%M:%SZ", "seconds")):
        try:
            parsed = dt.datetime.strptime(value, fmt).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        return parsed, granularity
    raise OaiError("badArgument", f"'{name}' is not a UTC datestamp (YYYY-MM-DD[Thh:mm:ssZ]).")


def _host(request) -> str:
    return urlsplit(base_url(request)).netloc or "chiplab"


def oai_identifier(version: DatasetVersion, request) -> str:
    return f"oai:{_host(request)}:{version.pk}"


def _public() -> object:
    """Public versions with their OAI datestamp, in harvesting order."""
    return (
        selectors.dataset_versions_visible_to(user=AnonymousUser())
        .annotate(
            datestamp=Greatest(
                F("created"),
                Coalesce(F("doi_registered"), F("created")),
                output_field=DateTimeField(),
            )
        )
        .order_by("datestamp", "pk")
    )


def _version_for(identifier: str, request) -> DatasetVersion:
    prefix = f"oai:{_host(request)}:"
    try:
        if not identifier.startswith(prefix):
            raise ValueError
        version_id = uuid.UUID(identifier[len(prefix) :])
    except ValueError:
        raise OaiError("idDoesNotExist", f"No item has the identifier '{identifier}'.") from None
    version = _public().filter(pk=version_id).first()
    if version is None:
        raise OaiError("idDoesNotExist", f"No item has the identifier '{identifier}'.")
    return version


def _formats_of(version: DatasetVersion) -> list[str]:
    return [p for p in FORMATS if p != "oai_datacite" or version.doi_state == DoiState.FINDABLE]


# --- metadata ------------------------------------------------------------------------------
def _dc(version: DatasetVersion, request) -> ET.Element:
    root = ET.Element(
        f"{{{OAI_DC_NS}}}dc", {f"{{{XSI_NS}}}schemaLocation": f"{OAI_DC_NS} {OAI_DC_XSD}"}
    )

    def add(tag: str, text: str) -> None:
        if text:
            ET.SubElement(root, f"{{{DC_NS}}}{tag}").text = text

    add("title", f"{version.title} (version {version.number})")
    for creator in version.creators:
        add("creator", creator.get("name", ""))
    for keyword in version.keywords:
        add("subject", str(keyword))
    add("subject", "Electron microscopy")
    add("description", version.description or version.title)
    if version.note:
        add("description", version.note)
    add("publisher", version.manifest["lab"]["name"])
    add("date", version.created.date().isoformat())
    add("type", "Dataset")
    for fmt in sorted({i["encoding_format"] for i in version.manifest.get("images", [])}):
        add("format", fmt)
    if version.doi:
        add("identifier", f"https://doi.org/{version.doi}")
    add("identifier", version_persistent_url(version, request))
    add("identifier", f"urn:uuid:{version.pk}")
    add("relation", persistent_url(version.dataset, request))
    if version.dataset.doi:
        add("relation", f"https://doi.org/{version.dataset.doi}")
    add("rights", licence_url(version.licence) or LICENCES.get(version.licence, version.licence))
    return root


def _metadata(version: DatasetVersion, prefix: str, request, neighbours=None) -> ET.Element:
    if prefix == "oai_dc":
        return _dc(version, request)
    return datacite_xml(version_datacite(version, request, neighbours=neighbours))


def _header(parent: ET.Element, version, request) -> None:
    header = ET.SubElement(parent, _q("header"))
    ET.SubElement(header, _q("identifier")).text = oai_identifier(version, request)
    ET.SubElement(header, _q("datestamp")).text = _utc(version.datestamp)


def _record(parent: ET.Element, version, prefix: str, request, neighbours=None) -> None:
    record = ET.SubElement(parent, _q("record"))
    _header(record, version, request)
    metadata = _metadata(version, prefix, request, neighbours)
    ET.SubElement(record, _q("metadata")).append(metadata)


# --- verbs ---------------------------------------------------------------------------------
def _identify(body: ET.Element, args: dict, request) -> None:
    identify = ET.SubElement(body, _q("Identify"))
    first = _public().values_list("datestamp", flat=True).first()
    for tag, text in (
        ("repositoryName", f"Chiplab ({_host(request)})"),
        ("baseURL", base_url(request) + reverse("oai")),
        ("protocolVersion", "2.0"),
        ("adminEmail", settings.CHIPLAB_OAI_ADMIN_EMAIL),
        ("earliestDatestamp", _utc(first or timezone.now())),
        # versions are never deleted, but one stops being public when its dataset does
        ("deletedRecord", "transient"),
        ("granularity", "YYYY-MM-DDThh:mm:ssZ"),
    ):
        ET.SubElement(identify, _q(tag)).text = text


def _list_formats(body: ET.Element, args: dict, request) -> None:
    prefixes = list(FORMATS)
    if "identifier" in args:
        prefixes = _formats_of(_version_for(args["identifier"], request))
        if not prefixes:
            raise OaiError("noMetadataFormats", "The item has no metadata format.")
    element = ET.SubElement(body, _q("ListMetadataFormats"))
    for prefix in prefixes:
        schema, namespace = FORMATS[prefix]
        fmt = ET.SubElement(element, _q("metadataFormat"))
        ET.SubElement(fmt, _q("metadataPrefix")).text = prefix
        ET.SubElement(fmt, _q("schema")).text = schema
        ET.SubElement(fmt, _q("metadataNamespace")).text = namespace


def _list_sets(body: ET.Element, args: dict, request) -> None:
    if "resumptionToken" in args:
        raise OaiError("badResumptionToken", "This repository has no sets to resume.")
    raise OaiError("noSetHierarchy", "This repository does not support sets.")


def _get_record(body: ET.Element, args: dict, request) -> None:
    prefix = _prefix(args["metadataPrefix"])
    version = _version_for(args["identifier"], request)
    if prefix not in _formats_of(version):
        raise OaiError(
            "cannotDisseminateFormat",
            f"The item is not available as {prefix} (oai_datacite needs a registered DOI).",
        )
    _record(ET.SubElement(body, _q("GetRecord")), version, prefix, request)


def _prefix(value: str) -> str:
    if value not in FORMATS:
        raise OaiError(
            "cannotDisseminateFormat",
            f"Unknown metadataPrefix '{value}'; this repository serves {', '.join(FORMATS)}.",
        )
    return value


def _list_request(args: dict) -> dict:
    """The list request as a token would carry it (checked), and the position to go on from."""
    if "resumptionToken" in args:
        try:
            state = signing.loads(args["resumptionToken"], salt=_SALT, max_age=TOKEN_MAX_AGE)
        except signing.BadSignature:
            raise OaiError(
                "badResumptionToken", "The resumptionToken is invalid or has expired."
            ) from None
        return state
    if "set" in args:
        raise OaiError("noSetHierarchy", "This repository does not support sets.")
    state = {"prefix": _prefix(args["metadataPrefix"]), "cursor": 0, "after": None}
    granularities = set()
    for name in ("from", "until"):
        if name in args:
            value, granularity = _parse_datestamp(name, args[name])
            granularities.add(granularity)
            if name == "until" and granularity == "day":
                value += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
            elif name == "until":
                value += dt.timedelta(seconds=1) - dt.timedelta(microseconds=1)
            state[name] = value.isoformat()
    if len(granularities) > 1:
        raise OaiError("badArgument", "'from' and 'until' must have the same granularity.")
    if "from" in state and "until" in state and state["from"] > state["until"]:
        raise OaiError("badArgument", "'from' is later than 'until'.")
    return state


def _list(body: ET.Element, args: dict, request, *, records: bool) -> None:
    state = _list_request(args)
    prefix = state["prefix"]
    found = _public()
    if prefix == "oai_datacite":
        found = found.filter(doi_state=DoiState.FINDABLE)
    if "from" in state:
        found = found.filter(datestamp__gte=dt.datetime.fromisoformat(state["from"]))
    if "until" in state:
        found = found.filter(datestamp__lte=dt.datetime.fromisoformat(state["until"]))
    total = found.count()
    page = found
    if state["after"]:
        stamp, last = dt.datetime.fromisoformat(state["after"][0]), state["after"][1]
        page = found.filter(Q(datestamp__gt=stamp) | Q(datestamp=stamp, pk__gt=last))
    items = list(page[: PAGE_SIZE + 1])
    if not items:  # (on resuming: the rest stopped being public meanwhile)
        raise OaiError("noRecordsMatch", "No item matches the request.")
    more, items = len(items) > PAGE_SIZE, items[:PAGE_SIZE]
    element = ET.SubElement(body, _q("ListRecords" if records else "ListIdentifiers"))
    around = neighbours_of(items) if records and prefix == "oai_datacite" else {}
    for version in items:
        if records:
            _record(element, version, prefix, request, around.get(version.pk))
        else:
            _header(element, version, request)
    if state["cursor"] == 0 and not more:
        return  # a complete list in one response has no token
    attrs = {"completeListSize": str(total), "cursor": str(state["cursor"])}
    token = ET.SubElement(element, _q("resumptionToken"), attrs)
    if more:
        last = items[-1]
        following = {
            **state,
            "cursor": state["cursor"] + len(items),
            "after": [last.datestamp.isoformat(), str(last.pk)],
        }
        token.text = signing.dumps(following, salt=_SALT, compress=True)
        expires = timezone.now() + dt.timedelta(seconds=TOKEN_MAX_AGE)
        token.set("expirationDate", _utc(expires))


HANDLERS = {
    "Identify": _identify,
    "ListMetadataFormats": _list_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": lambda body, args, request: _list(body, args, request, records=False),
    "ListRecords": lambda body, args, request: _list(body, args, request, records=True),
}


def _arguments(query) -> dict:
    """The request's arguments, checked against its verb (badVerb, badArgument)."""
    verbs = query.getlist("verb")
    if len(verbs) != 1 or verbs[0] not in VERBS:
        raise OaiError("badVerb", "The verb is missing, repeated or not an OAI-PMH verb.")
    verb = verbs[0]
    required, optional = VERBS[verb]
    args = {}
    for name in query:
        if name == "verb":
            continue
        values = query.getlist(name)
        if name not in required | optional:
            raise OaiError("badArgument", f"{verb} takes no argument '{name}'.")
        if len(values) != 1:
            raise OaiError("badArgument", f"The argument '{name}' is repeated.")
        if len(values[0]) > MAX_ARGUMENT_CHARS or not values[0]:
            raise OaiError("badArgument", f"The argument '{name}' is empty or too long.")
        args[name] = values[0]
    if "resumptionToken" in args:
        if len(args) > 1:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument.")
    elif missing := sorted(required - set(args)):
        raise OaiError("badArgument", f"{verb} needs {', '.join(missing)}.")
    return {"verb": verb, **args}


@csrf_exempt  # harvesters POST form-encoded requests; nothing is changed by one
@require_http_methods(["GET", "POST"])
def oai(request):
    """The OAI-PMH endpoint (GET or POST, application/x-www-form-urlencoded)."""
    query = request.POST if request.method == "POST" else request.GET
    root = ET.Element(_q("OAI-PMH"), {f"{{{XSI_NS}}}schemaLocation": f"{OAI_NS} {OAI_XSD}"})
    ET.SubElement(root, _q("responseDate")).text = _utc(timezone.now())
    request_element = ET.SubElement(root, _q("request"))
    request_element.text = base_url(request) + reverse("oai")
    try:
        args = _arguments(query)
        # the request's arguments are echoed only when they were valid (the protocol's rule)
        for name, value in args.items():
            request_element.set(name, value)
        body = ET.Element("body")
        HANDLERS[args["verb"]](body, {k: v for k, v in args.items() if k != "verb"}, request)
        root.extend(list(body))
    except OaiError as err:
        if err.code in ("badVerb", "badArgument"):
            request_element.attrib.clear()
        ET.SubElement(root, _q("error"), {"code": err.code}).text = err.message
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return HttpResponse(data, content_type="text/xml; charset=utf-8")
