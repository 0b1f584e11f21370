"""A published version's landing page in the browser: its DOI, the citation, BibTeX."""

import json

from catalog.models import Visibility
from publishing import doi, versions
from tests.catalog.fair_support import FakeDataCite
from tests.factories import DatasetFactory, ReadyImageFactory


def test_the_landing_page_shows_the_doi_and_how_to_cite(page, lab_owner, live_server, settings):
    lab = lab_owner.memberships.first().lab
    dataset = DatasetFactory(
        lab=lab,
        created_by=lab_owner,
        title="MoO3 nanoparticles on carbon",
        description="HAADF-STEM micrographs of MoO3 nanoparticles on amorphous carbon, 300 kV.",
        keywords=["MoO3", "HAADF-STEM"],
        creators=[{"name": "Curie, Marie", "orcid": "0000-0002-1825-0097"}],
        funding=[{"funder_name": "European Research Council", "award_number": "101000001"}],
        visibility=Visibility.PUBLIC,
    )
    ReadyImageFactory(dataset=dataset)
    version = versions.dataset_version_create(user=lab_owner, dataset=dataset)
    settings.CHIPLAB_PUBLIC_URL = live_server.url
    with FakeDataCite() as fake:
        settings.CHIPLAB_DATACITE_URL = fake.url
        settings.CHIPLAB_DATACITE_REPOSITORY = fake.repository
        settings.CHIPLAB_DATACITE_PASSWORD = fake.password
        settings.CHIPLAB_DATACITE_PREFIX = fake.prefix
        version = doi.dataset_version_doi_mint(user=lab_owner, version=version)

    page.goto(f"/dataset-versions/{version.pk}/")  # anonymous: a public version
    doi_link = page.locator("#doi")
    assert doi_link.inner_text() == f"https://doi.org/{version.doi}"
    reference = page.locator("#reference").inner_text()
    assert reference.startswith("Curie, Marie (")
    assert reference.endswith(f"[Data set]. {lab.name}. https://doi.org/{version.doi}")
    assert not page.locator("#bibtex").is_visible()  # folded until asked for
    page.shot("landing")
    page.locator("#cite summary").click()
    bibtex = page.locator("#bibtex")
    assert bibtex.is_visible() and f"doi = {{{version.doi}}}" in bibtex.inner_text()
    page.shot("bibtex")
    # the download links answer what they say (a browser saves CSL-JSON rather than shows it)
    csl = page.request.get(page.get_by_role("link", name="CSL-JSON").get_attribute("href"))
    [item] = json.loads(csl.body())
    assert item["DOI"] == version.doi
    bib = page.request.get(
        page.get_by_role("link", name="BibTeX", exact=True).get_attribute("href")
    )
    assert bib.text().startswith("@misc{Curie")
    assert page.errors == []
