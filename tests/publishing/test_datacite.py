"""DOIs for dataset versions: DataCite metadata (validated against the DataCite schemas),
minting against a fake DataCite server, citations (BibTeX, CSL-JSON) and the landing page."""

import json
import xml.etree.ElementTree as ET

import pytest
from django.test import Client

from catalog.models import DatasetVersion, DoiState, Visibility
from publishing import datacite, datacite_xml, versions
from publishing.fair import DESCRIPTION_MAX, DESCRIPTION_MIN, version_jsonld
from tests.catalog.fair_support import (
    FakeDataCite,
    datacite_json_errors,
    kernel_schema,
    xsd_errors,
)
from tests.factories import ReadyImageFactory

pytestmark = pytest.mark.django_db
ORCID = "0000-0002-1825-0097"
SITE = "https://chiplab.example.org"
FUNDING = [
    {
        "funder_name": "European Research Council",
        "funder_identifier": "https://ror.org/0472cxd90",
        "funder_identifier_type": "ROR",
        "award_number": "101000001",
        "award_title": "Few-shot microscopy",
        "award_uri": "https://cordis.europa.eu/project/id/101000001",
    }
]


@pytest.fixture(autouse=True)
def site(settings):
    """The public address persistent URLs (and so DataCite's ``url``) are built from."""
    settings.CHIPLAB_PUBLIC_URL = SITE


def publish(world, dataset, note=""):
    return versions.dataset_version_create(user=world.curator, dataset=dataset, note=note)


@pytest.fixture
def public_dataset(world):
    dataset = world.dataset(
        title="MoO3 {nanoparticles} & 100% _tests_",
        description="HAADF-STEM micrographs of MoO3 nanoparticles on carbon, 300 kV.",
        keywords=["MoO3", "nanoparticles", "HAADF"],
        creators=[
            {"name": "Curie, Marie", "orcid": ORCID, "affiliation": "Chiplab Institute"},
            {"name": "Lab Robot"},
        ],
        funding=FUNDING,
        visibility=Visibility.PUBLIC,
        licence="CC-BY-4.0",
    )
    ReadyImageFactory(dataset=dataset)
    return dataset


@pytest.fixture
def datacite_server(settings):
    with FakeDataCite() as fake:
        settings.CHIPLAB_DATACITE_URL = fake.url
        settings.CHIPLAB_DATACITE_REPOSITORY = fake.repository
        settings.CHIPLAB_DATACITE_PASSWORD = fake.password
        settings.CHIPLAB_DATACITE_PREFIX = fake.prefix
        yield fake


# --- metadata ------------------------------------------------------------------------------
def test_datacite_metadata_has_the_mandatory_and_recommended_properties(
    world, public_dataset, settings
):
    first = publish(world, public_dataset)
    second = publish(world, public_dataset, note="Adds nothing; a correction of the title.")
    attributes = datacite.version_datacite(second)
    assert datacite_json_errors(attributes) == []
    assert attributes["creators"][0] == {
        "name": "Curie, Marie",
        "nameType": "Personal",
        "familyName": "Curie",
        "givenName": "Marie",
        "nameIdentifiers": [
            {
                "nameIdentifier": f"https://orcid.org/{ORCID}",
                "nameIdentifierScheme": "ORCID",
                "schemeUri": "https://orcid.org",
            }
        ],
        "affiliation": [{"name": "Chiplab Institute"}],
    }
    assert attributes["creators"][1] == {"name": "Lab Robot", "nameType": "Personal"}
    assert attributes["titles"] == [{"title": public_dataset.title}]
    assert attributes["publisher"] == {"name": world.lab.name}
    assert attributes["publicationYear"] == str(second.created.year)
    assert attributes["types"]["resourceTypeGeneral"] == "Dataset"
    assert [s["subject"] for s in attributes["subjects"]] == [
        "MoO3",
        "nanoparticles",
        "HAADF",
        "Electron microscopy",
    ]
    assert attributes["rightsList"] == [
        {
            "rights": "Creative Commons Attribution 4.0 International",
            "rightsUri": "https://spdx.org/licenses/CC-BY-4.0.html",
            "rightsIdentifier": "cc-by-4.0",
            "rightsIdentifierScheme": "SPDX",
            "schemeUri": "https://spdx.org/licenses/",
        }
    ]
    relations = {
        (r["relationType"], r["relatedIdentifier"]) for r in attributes["relatedIdentifiers"]
    }
    assert ("IsNewVersionOf", f"{SITE}/dataset-versions/{first.pk}/") in relations
    assert ("IsVersionOf", f"{SITE}/datasets/{public_dataset.pk}/") in relations
    assert attributes["url"] == f"{SITE}/dataset-versions/{second.pk}/"
    assert attributes["fundingReferences"] == [
        {
            "funderName": "European Research Council",
            "funderIdentifier": "https://ror.org/0472cxd90",
            "funderIdentifierType": "ROR",
            "awardNumber": "101000001",
            "awardUri": "https://cordis.europa.eu/project/id/101000001",
            "awardTitle": "Few-shot microscopy",
        }
    ]
    assert attributes["version"] == "2"
    assert {"description": second.note, "descriptionType": "Other"} in attributes["descriptions"]
    # the first version now names its successor
    older = datacite.version_datacite(first)
    assert ("IsPreviousVersionOf", f"{SITE}/dataset-versions/{second.pk}/") in {
        (r["relationType"], r["relatedIdentifier"]) for r in older["relatedIdentifiers"]
    }
    assert "doi" not in attributes  # none minted yet


def test_the_schema_check_catches_what_datacite_would_refuse(world, public_dataset, settings):
    """The validator is not a rubber stamp: metadata DataCite refuses fails it."""
    attributes = datacite.version_datacite(publish(world, public_dataset))
    for broken in (
        {k: v for k, v in attributes.items() if k != "creators"},
        {**attributes, "publicationYear": "26"},
        {**attributes, "types": {"resourceTypeGeneral": "Micrographs"}},
        {**attributes, "doi": "not-a-doi"},
        {**attributes, "url": "/dataset-versions/relative/"},
    ):
        assert datacite_json_errors(broken)


def test_a_version_without_creators_is_credited_to_its_lab(world):
    dataset = world.dataset(creators=[], visibility=Visibility.PUBLIC)
    ReadyImageFactory(dataset=dataset)
    attributes = datacite.version_datacite(publish(world, dataset))
    assert attributes["creators"] == [{"name": world.lab.name, "nameType": "Organizational"}]
    assert datacite_json_errors(attributes) == []


def test_datacite_xml_is_valid_against_the_kernel_4_schema(world, public_dataset):
    version = publish(world, public_dataset)
    attributes = datacite.version_datacite(version, doi="10.80000/chiplab.test")
    document = ET.tostring(datacite_xml.datacite_xml(attributes), encoding="unicode")
    assert xsd_errors(kernel_schema(), document) == []
    assert 'identifierType="DOI">10.80000/chiplab.test<' in document
    assert 'funderIdentifierType="ROR"' in document
    # and the check bites: a resource without its creators is refused
    broken = datacite_xml.datacite_xml({**attributes, "creators": []})
    assert xsd_errors(kernel_schema(), ET.tostring(broken, encoding="unicode"))


def test_the_datacite_endpoint_serves_public_versions_only(world, public_dataset, client_for):
    version = publish(world, public_dataset)
    anonymous = client_for()
    answer = anonymous.get(f"/api/dataset-versions/{version.pk}/datacite.json")
    assert answer.status_code == 200
    assert datacite_json_errors(answer.json()) == []
    assert answer.json()["url"] == f"{SITE}/dataset-versions/{version.pk}/"
    private = world.dataset(visibility=Visibility.PRIVATE)
    ReadyImageFactory(dataset=private)
    hidden = publish(world, private)
    for client in (anonymous, client_for(world.outsider)):
        assert client.get(f"/api/dataset-versions/{hidden.pk}/datacite.json").status_code == 404
    assert (
        client_for(world.curator).get(f"/api/dataset-versions/{hidden.pk}/datacite.json")
    ).status_code == 200


# --- minting -------------------------------------------------------------------------------
def test_minting_is_off_without_a_datacite_account(world, public_dataset, client_for, settings):
    settings.CHIPLAB_DATACITE_URL = ""
    version = publish(world, public_dataset)
    answer = client_for(world.curator).post(f"/api/dataset-versions/{version.pk}/doi")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "doi_not_configured"
    assert "DOI minting is not configured" in answer.json()["error"]["message"]


def test_minting_registers_a_draft_then_publishes_it(
    world, public_dataset, client_for, datacite_server
):
    version = publish(world, public_dataset)
    answer = client_for(world.curator).post(f"/api/dataset-versions/{version.pk}/doi")
    assert answer.status_code == 200, answer.content
    doi = f"10.80000/chiplab.{version.pk}"
    assert answer.json()["doi"] == doi
    assert answer.json()["doi_state"] == "findable"
    assert [(c["method"], c["path"]) for c in datacite_server.calls] == [
        ("POST", "/dois"),
        ("PUT", f"/dois/{doi}"),
    ]
    draft, publish_call = datacite_server.calls
    assert "event" not in draft["body"]["data"]["attributes"]  # a draft
    assert draft["body"]["data"]["attributes"]["doi"] == doi
    assert publish_call["body"]["data"]["attributes"]["event"] == "publish"
    assert publish_call["body"]["data"]["attributes"]["url"] == (
        f"{SITE}/dataset-versions/{version.pk}/"
    )
    assert datacite_server.dois[doi]["state"] == "findable"
    version.refresh_from_db()
    assert (version.doi, version.doi_state) == (doi, DoiState.FINDABLE)
    assert version.doi_registered is not None
    # a second request does not mint another
    again = client_for(world.curator).post(f"/api/dataset-versions/{version.pk}/doi")
    assert again.status_code == 409 and again.json()["error"]["code"] == "has_doi"
    assert len(datacite_server.calls) == 2


def test_the_previous_versions_doi_learns_of_its_successor(
    world, public_dataset, client_for, datacite_server
):
    client = client_for(world.curator)
    first = publish(world, public_dataset)
    assert client.post(f"/api/dataset-versions/{first.pk}/doi").status_code == 200
    second = publish(world, public_dataset)
    assert client.post(f"/api/dataset-versions/{second.pk}/doi").status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert [(c["method"], c["path"]) for c in datacite_server.calls][-1] == (
        "PUT",
        f"/dois/{first.doi}",
    )
    older = datacite_server.dois[first.doi]
    assert older["state"] == "findable"  # an update, not a new event
    assert {
        "relatedIdentifier": second.doi,
        "relatedIdentifierType": "DOI",
        "relationType": "IsPreviousVersionOf",
    } in older["attributes"]["relatedIdentifiers"]
    newer = datacite_server.dois[second.doi]["attributes"]["relatedIdentifiers"]
    assert {
        "relatedIdentifier": first.doi,
        "relatedIdentifierType": "DOI",
        "relationType": "IsNewVersionOf",
    } in newer


def test_a_failed_publish_is_finished_by_a_retry_with_the_same_doi(
    world, public_dataset, client_for, datacite_server
):
    version = publish(world, public_dataset)
    datacite_server.fail_next_put = 1
    client = client_for(world.curator)
    failed = client.post(f"/api/dataset-versions/{version.pk}/doi")
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "doi_provider_failed"
    version.refresh_from_db()
    assert version.doi_state == DoiState.DRAFT
    retried = client.post(f"/api/dataset-versions/{version.pk}/doi")
    assert retried.status_code == 200, retried.content
    assert list(datacite_server.dois) == [version.doi]  # one DOI, not two
    assert datacite_server.dois[version.doi]["state"] == "findable"
    methods = [c["method"] for c in datacite_server.calls]
    assert methods == ["POST", "PUT", "POST", "GET", "PUT"]  # the draft was found again


def test_wrong_credentials_are_reported_not_hidden(
    world, public_dataset, client_for, datacite_server, settings
):
    settings.CHIPLAB_DATACITE_PASSWORD = "wrong"
    version = publish(world, public_dataset)
    answer = client_for(world.curator).post(f"/api/dataset-versions/{version.pk}/doi")
    assert answer.status_code == 502
    assert "HTTP 401" in answer.json()["error"]["message"]
    version.refresh_from_db()
    assert version.doi == "" and version.doi_state == ""


def test_who_may_mint(world, public_dataset, client_for, datacite_server):
    version = publish(world, public_dataset)
    url = f"/api/dataset-versions/{version.pk}/doi"
    assert client_for().post(url).status_code in (401, 403, 404)
    assert client_for(world.outsider).post(url).status_code == 404
    assert client_for(world.annotator).post(url).status_code == 403
    lab_only = world.dataset(visibility=Visibility.LAB)
    ReadyImageFactory(dataset=lab_only)
    internal = publish(world, lab_only)
    answer = client_for(world.curator).post(f"/api/dataset-versions/{internal.pk}/doi")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "not_public"
    assert datacite_server.calls == []


# --- citations and the landing page -------------------------------------------------------------
def test_citations_as_bibtex_and_csl_json(world, public_dataset, client_for, datacite_server):
    version = publish(world, public_dataset)
    anonymous = client_for()
    bib = anonymous.get(f"/api/dataset-versions/{version.pk}/citation.bib")
    assert bib.status_code == 200 and bib["Content-Type"].startswith("application/x-bibtex")
    text = bib.content.decode()
    assert text.startswith("@misc{Curie")
    # BibTeX's special characters print as themselves
    assert r"title = {{MoO3 \{nanoparticles\} \& 100\% \_tests\_}}" in text
    assert "author = {Curie, Marie and Lab Robot}" in text
    assert f"url = {{{SITE}/dataset-versions/{version.pk}/}}" in text
    csl = anonymous.get(f"/api/dataset-versions/{version.pk}/citation.json")
    assert csl.status_code == 200
    assert csl["Content-Type"].startswith("application/vnd.citationstyles.csl+json")
    [item] = csl.json()
    assert item["type"] == "dataset" and item["version"] == "1"
    assert item["author"] == [{"family": "Curie", "given": "Marie"}, {"literal": "Lab Robot"}]
    assert "DOI" not in item
    # after minting, both cite the DOI
    client_for(world.curator).post(f"/api/dataset-versions/{version.pk}/doi")
    version.refresh_from_db()
    text = anonymous.get(f"/api/dataset-versions/{version.pk}/citation.bib").content.decode()
    assert f"doi = {{{version.doi.replace('_', chr(92) + '_')}}}" in text
    assert f"url = {{https://doi.org/{version.doi}}}" in text
    [item] = anonymous.get(f"/api/dataset-versions/{version.pk}/citation.json").json()
    assert item["DOI"] == version.doi and item["URL"] == f"https://doi.org/{version.doi}"
    # an explicit Accept of BibTeX is served too
    asked = Client().get(
        f"/api/dataset-versions/{version.pk}/citation.bib", HTTP_ACCEPT="application/x-bibtex"
    )
    assert asked.status_code == 200


def test_citations_of_private_versions_are_not_found(world, client_for):
    dataset = world.dataset(visibility=Visibility.PRIVATE)
    ReadyImageFactory(dataset=dataset)
    version = publish(world, dataset)
    for name in ("citation.bib", "citation.json"):
        url = f"/api/dataset-versions/{version.pk}/{name}"
        assert client_for().get(url).status_code == 404
        assert client_for(world.outsider).get(url).status_code == 404
        assert client_for(world.curator).get(url).status_code == 200


def test_the_landing_page_shows_the_doi_and_the_citation(
    world, public_dataset, client_for, datacite_server
):
    version = publish(world, public_dataset)
    page = Client().get(f"/dataset-versions/{version.pk}/").content.decode()
    assert "Cite this version" in page and "@misc{Curie" in page
    assert "doi.org" not in page.split("Cite this version")[0]  # no DOI yet
    client_for(world.curator).post(f"/api/dataset-versions/{version.pk}/doi")
    version.refresh_from_db()
    page = Client().get(f"/dataset-versions/{version.pk}/").content.decode()
    assert f'<a href="https://doi.org/{version.doi}" id="doi">' in page
    assert f"[Data set]. {world.lab.name}. https://doi.org/{version.doi}" in page
    jsonld = json.loads(page.split('<script type="application/ld+json">')[1].split("</script>")[0])
    assert jsonld["identifier"][0] == f"https://doi.org/{version.doi}"
    assert jsonld["sameAs"] == f"https://doi.org/{version.doi}"


# --- landing-page JSON-LD for dataset search engines ------------------------------------------
@pytest.mark.parametrize("description", ["", "STEM images.", "word " * 1500])
def test_jsonld_meets_dataset_search_requirements(world, description):
    dataset = world.dataset(description=description, creators=[], visibility=Visibility.PUBLIC)
    ReadyImageFactory(dataset=dataset)
    version = publish(world, dataset)
    doc = version_jsonld(DatasetVersion.objects.get(pk=version.pk))
    assert DESCRIPTION_MIN <= len(doc["description"]) <= DESCRIPTION_MAX
    if description.strip():
        assert doc["description"].startswith(description.strip()[:40])
    assert doc["license"] == "https://spdx.org/licenses/CC-BY-4.0.html"
    assert doc["creator"] == [{"@type": "Organization", "name": world.lab.name}]
    assert f"urn:uuid:{version.pk}" in doc["identifier"]
    assert doc["name"] and doc["url"]


def test_funding_is_bounded_and_checked(world, client_for):
    client = client_for(world.curator)
    dataset = world.dataset()
    url = f"/api/datasets/{dataset.pk}/"
    assert client.patch(url, {"funding": FUNDING * 21}, format="json").status_code == 400
    bad_uri = [{"funder_name": "X", "award_uri": "not a url"}]
    assert client.patch(url, {"funding": bad_uri}, format="json").status_code == 400
    nameless = [{"award_number": "1"}]
    assert client.patch(url, {"funding": nameless}, format="json").status_code == 400
    answer = client.patch(url, {"funding": FUNDING}, format="json")
    assert answer.status_code == 200 and answer.json()["funding"][0]["award_number"] == "101000001"
