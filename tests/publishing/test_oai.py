"""OAI-PMH 2.0 for the public dataset versions: every verb and error code, resumption tokens,
oai_dc and oai_datacite payloads; every response validated against the OAI-PMH schema (with
the payloads' own schemas, strictly)."""

import datetime as dt
import xml.etree.ElementTree as ET

import pytest
from django.core import signing
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import DatasetVersion, DoiState, Visibility
from publishing import oai, versions
from tests.catalog.fair_support import OAI_NS, oai_schema, xsd_errors
from tests.factories import ReadyImageFactory

pytestmark = pytest.mark.django_db
NS = {"oai": OAI_NS, "dc": oai.DC_NS, "oai_dc": oai.OAI_DC_NS, "dcite": oai.KERNEL_NS}
HOST = "testserver"


def harvest(**args) -> ET.Element:
    """One OAI-PMH request (GET); the response, checked against the schema."""
    response = Client().get("/oai", args)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert xsd_errors(oai_schema(), response.content) == [], response.content.decode()[:3000]
    return ET.fromstring(response.content)


def error_code(root: ET.Element) -> str | None:
    error = root.find("oai:error", NS)
    return None if error is None else error.get("code")


def publish(world, dataset):
    return versions.dataset_version_create(user=world.curator, dataset=dataset)


def dataset_with_image(world, visibility, **fields):
    dataset = world.dataset(visibility=visibility, **fields)
    ReadyImageFactory(dataset=dataset)
    return dataset


@pytest.fixture
def catalog_items(world):
    """Public versions (two datasets), and versions no harvester may see."""
    public = dataset_with_image(
        world,
        Visibility.PUBLIC,
        title="Au nanoparticles <on> carbon & co",
        keywords=["Au", "TEM"],
        creators=[{"name": "Curie, Marie", "orcid": "0000-0002-1825-0097"}],
    )
    other = dataset_with_image(world, Visibility.PUBLIC, title="Lattice images")
    hidden = [
        publish(world, dataset_with_image(world, visibility))
        for visibility in (Visibility.LAB, Visibility.PRIVATE)
    ]
    shown = [publish(world, public), publish(world, other), publish(world, public)]
    return {"shown": shown, "hidden": hidden, "public": public}


def identifier(version) -> str:
    return f"oai:{HOST}:{version.pk}"


def test_identify(world, catalog_items):
    root = harvest(verb="Identify")
    identify = root.find("oai:Identify", NS)
    assert identify.findtext("oai:baseURL", namespaces=NS) == f"http://{HOST}/oai"
    assert identify.findtext("oai:protocolVersion", namespaces=NS) == "2.0"
    assert identify.findtext("oai:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    earliest = min(v.created for v in catalog_items["shown"])
    assert identify.findtext("oai:earliestDatestamp", namespaces=NS) == oai._utc(earliest)
    assert root.find("oai:request", NS).get("verb") == "Identify"


def test_list_metadata_formats(world, catalog_items):
    root = harvest(verb="ListMetadataFormats")
    prefixes = [e.text for e in root.iterfind(".//oai:metadataPrefix", NS)]
    assert prefixes == ["oai_dc", "oai_datacite"]
    # a version without a DOI has no DataCite record (the kernel's identifier is a DOI)
    version = catalog_items["shown"][0]
    root = harvest(verb="ListMetadataFormats", identifier=identifier(version))
    assert [e.text for e in root.iterfind(".//oai:metadataPrefix", NS)] == ["oai_dc"]


def test_list_records_serves_public_versions_only(world, catalog_items):
    root = harvest(verb="ListRecords", metadataPrefix="oai_dc")
    ids = [e.text for e in root.iterfind(".//oai:header/oai:identifier", NS)]
    assert ids == [identifier(v) for v in catalog_items["shown"]]  # oldest first
    assert root.find(".//oai:resumptionToken", NS) is None  # complete in one response
    first = root.find(".//oai:record/oai:metadata/oai_dc:dc", NS)
    assert first.findtext("dc:title", namespaces=NS) == (
        "Au nanoparticles <on> carbon & co (version 1)"
    )
    assert [e.text for e in first.iterfind("dc:subject", NS)] == [
        "Au",
        "TEM",
        "Electron microscopy",
    ]
    assert first.findtext("dc:creator", namespaces=NS) == "Curie, Marie"
    assert first.findtext("dc:rights", namespaces=NS) == "https://spdx.org/licenses/CC-BY-4.0.html"
    identifiers = [e.text for e in first.iterfind("dc:identifier", NS)]
    assert f"http://{HOST}/dataset-versions/{catalog_items['shown'][0].pk}/" in identifiers
    headers = harvest(verb="ListIdentifiers", metadataPrefix="oai_dc")
    assert [e.text for e in headers.iterfind(".//oai:identifier", NS)] == ids
    for hidden in catalog_items["hidden"]:
        root = harvest(verb="GetRecord", identifier=identifier(hidden), metadataPrefix="oai_dc")
        assert error_code(root) == "idDoesNotExist"


def test_get_record(world, catalog_items):
    version = catalog_items["shown"][1]
    root = harvest(verb="GetRecord", identifier=identifier(version), metadataPrefix="oai_dc")
    record = root.find("oai:GetRecord/oai:record", NS)
    assert record.findtext("oai:header/oai:identifier", namespaces=NS) == identifier(version)
    assert record.findtext("oai:header/oai:datestamp", namespaces=NS) == oai._utc(version.created)
    request = root.find("oai:request", NS)
    assert request.get("identifier") == identifier(version)
    assert request.get("metadataPrefix") == "oai_dc"


def test_datacite_records_for_versions_with_a_doi(world, catalog_items):
    root = harvest(verb="ListRecords", metadataPrefix="oai_datacite")
    assert error_code(root) == "noRecordsMatch"  # none has a DOI yet
    version = catalog_items["shown"][0]
    # published an hour ago; the DOI registered now
    DatasetVersion.objects.update(created=F("created") - dt.timedelta(hours=1))
    version.refresh_from_db()
    registered = timezone.now()
    DatasetVersion.objects.filter(pk=version.pk).update(
        doi="10.80000/chiplab.x", doi_state=DoiState.FINDABLE, doi_registered=registered
    )
    root = harvest(verb="ListRecords", metadataPrefix="oai_datacite")
    [record] = root.findall(".//oai:record", NS)
    resource = record.find("oai:metadata/dcite:resource", NS)
    assert resource.findtext("dcite:identifier", namespaces=NS) == "10.80000/chiplab.x"
    # the registration is the record's change: its datestamp
    assert record.findtext("oai:header/oai:datestamp", namespaces=NS) == oai._utc(registered)
    root = harvest(verb="GetRecord", identifier=identifier(version), metadataPrefix="oai_datacite")
    assert root.find(".//dcite:resource", NS) is not None
    other = catalog_items["shown"][1]
    root = harvest(verb="GetRecord", identifier=identifier(other), metadataPrefix="oai_datacite")
    assert error_code(root) == "cannotDisseminateFormat"
    # selective harvesting by datestamp sees the registration
    since = harvest(
        verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": oai._utc(registered)}
    )
    assert [e.text for e in since.iterfind(".//oai:identifier", NS)] == [identifier(version)]


def test_resumption_tokens_page_through_the_list(world, catalog_items, monkeypatch):
    monkeypatch.setattr(oai, "PAGE_SIZE", 2)
    for _ in range(2):
        publish(world, catalog_items["public"])
    expected = [
        identifier(v)
        for v in DatasetVersion.objects.filter(dataset__visibility=Visibility.PUBLIC).order_by(
            "created", "pk"
        )
    ]
    assert len(expected) == 5
    seen, cursors, sizes = [], [], []
    root = harvest(verb="ListRecords", metadataPrefix="oai_dc")
    while True:
        seen += [e.text for e in root.iterfind(".//oai:header/oai:identifier", NS)]
        token = root.find(".//oai:resumptionToken", NS)
        sizes.append(token.get("completeListSize"))
        cursors.append(token.get("cursor"))
        if not token.text:
            break
        assert token.get("expirationDate")
        # published meanwhile: the pages already served do not shift
        if len(cursors) == 1:
            publish(world, catalog_items["public"])
            expected.append(identifier(DatasetVersion.objects.order_by("-created").first()))
        root = harvest(verb="ListRecords", resumptionToken=token.text)
    # every item once, in order, the one published during the harvest at the end
    assert seen == expected and len(seen) == 6
    assert cursors == ["0", "2", "4"] and sizes == ["5", "6", "6"]
    # the same with headers only
    root = harvest(verb="ListIdentifiers", metadataPrefix="oai_dc")
    token = root.find(".//oai:resumptionToken", NS)
    assert len(root.findall(".//oai:header", NS)) == 2 and token.text
    tampered = token.text[:-3] + ("AAA" if not token.text.endswith("AAA") else "BBB")
    assert error_code(harvest(verb="ListIdentifiers", resumptionToken=tampered)) == (
        "badResumptionToken"
    )
    expired = signing.dumps({"prefix": "oai_dc"}, salt="not-ours")
    assert error_code(harvest(verb="ListRecords", resumptionToken=expired)) == "badResumptionToken"


def test_a_token_is_honoured_for_a_day_only(world, catalog_items, monkeypatch):
    monkeypatch.setattr(oai, "PAGE_SIZE", 1)
    token = harvest(verb="ListRecords", metadataPrefix="oai_dc").find(".//oai:resumptionToken", NS)
    monkeypatch.setattr(oai, "TOKEN_MAX_AGE", -1)
    root = harvest(verb="ListRecords", resumptionToken=token.text)
    assert error_code(root) == "badResumptionToken"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({}, "badVerb"),
        ({"verb": "Harvest"}, "badVerb"),
        ({"verb": ["Identify", "Identify"]}, "badVerb"),
        ({"verb": "Identify", "metadataPrefix": "oai_dc"}, "badArgument"),
        ({"verb": "ListRecords"}, "badArgument"),
        ({"verb": "GetRecord", "metadataPrefix": "oai_dc"}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": ["oai_dc", "oai_dc"]}, "badArgument"),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "yesterday"}, "badArgument"),
        (
            {
                "verb": "ListRecords",
                "metadataPrefix": "oai_dc",
                "from": "2026-01-01",
                "until": "2026-01-02T00:00:00Z",
            },
            "badArgument",
        ),
        (
            {
                "verb": "ListRecords",
                "metadataPrefix": "oai_dc",
                "from": "2026-02-01",
                "until": "2026-01-01",
            },
            "badArgument",
        ),
        (
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"},
            "badArgument",
        ),
        ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
        (
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2999-01-01"},
            "noRecordsMatch",
        ),
        ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "physics"}, "noSetHierarchy"),
        ({"verb": "ListSets"}, "noSetHierarchy"),
        ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
        ({"verb": "ListRecords", "resumptionToken": "garbage"}, "badResumptionToken"),
        (
            {"verb": "GetRecord", "metadataPrefix": "oai_dc", "identifier": "oai:x:y"},
            "idDoesNotExist",
        ),
        ({"verb": "ListMetadataFormats", "identifier": f"oai:{HOST}:not-a-uuid"}, "idDoesNotExist"),
    ],
)
def test_protocol_errors(world, catalog_items, args, code):
    root = harvest(**args)
    assert error_code(root) == code
    request = root.find("oai:request", NS)
    if code in ("badVerb", "badArgument"):
        assert request.attrib == {}  # only the base URL after a bad request
    assert request.text == f"http://{HOST}/oai"


def test_day_granularity_until_includes_the_whole_day(world, catalog_items):
    today = timezone.now().date().isoformat()
    root = harvest(verb="ListIdentifiers", metadataPrefix="oai_dc", until=today, **{"from": today})
    assert len(root.findall(".//oai:header", NS)) == len(catalog_items["shown"])


def test_post_requests_are_answered_like_get(world, catalog_items):
    response = Client().post("/oai", {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"})
    assert response.status_code == 200
    assert xsd_errors(oai_schema(), response.content) == []
    assert Client().put("/oai").status_code == 405


def test_the_schema_check_bites():
    """A response the protocol does not allow fails the check (it is not a rubber stamp)."""
    broken = (
        f'<OAI-PMH xmlns="{OAI_NS}"><responseDate>2026-01-01T00:00:00Z</responseDate>'
        "<request>http://x/oai</request><ListRecords/></OAI-PMH>"
    )
    assert xsd_errors(oai_schema(), broken)
    wrong_payload = (
        f'<OAI-PMH xmlns="{OAI_NS}"><responseDate>2026-01-01T00:00:00Z</responseDate>'
        "<request>http://x/oai</request><GetRecord><record><header><identifier>oai:x:1"
        "</identifier><datestamp>2026-01-01</datestamp></header><metadata>"
        f'<dc xmlns="{oai.OAI_DC_NS}"><title>no DC namespace</title></dc>'
        "</metadata></record></GetRecord></OAI-PMH>"
    )
    assert xsd_errors(oai_schema(), wrong_payload)


def test_datacite_records_name_their_neighbours_in_a_constant_number_of_queries(world):
    dataset = dataset_with_image(world, Visibility.PUBLIC)
    chain = [publish(world, dataset) for _ in range(4)]
    for version in chain:
        DatasetVersion.objects.filter(pk=version.pk).update(
            doi=f"10.80000/chiplab.{version.pk}", doi_state=DoiState.FINDABLE
        )
    with CaptureQueriesContext(connection) as queries:
        root = harvest(verb="ListRecords", metadataPrefix="oai_datacite")
    assert len(queries) <= 4  # not one per record
    records = root.findall(".//oai:record", NS)
    assert len(records) == 4
    relations = [
        {
            (r.get("relationType"), r.text)
            for r in record.iterfind(".//dcite:relatedIdentifier", NS)
            if r.get("relatedIdentifierType") == "DOI"
        }
        for record in records
    ]
    doi = [f"10.80000/chiplab.{v.pk}" for v in chain]
    assert relations[0] == {("IsPreviousVersionOf", doi[1])}
    assert relations[1] == {("IsNewVersionOf", doi[0]), ("IsPreviousVersionOf", doi[2])}
    assert relations[3] == {("IsNewVersionOf", doi[2])}
