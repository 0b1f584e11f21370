"""The client's DOI and citation methods against a live server and a fake DataCite."""

import pytest
from chiplab_client import ChiplabError

from catalog.models import Visibility
from publishing import versions
from tests.catalog.fair_support import FakeDataCite, datacite_json_errors
from tests.factories import ReadyImageFactory


def test_mint_and_cite_through_the_client(world, client_as, settings):
    dataset = world.dataset(
        title="Pt on ceria",
        visibility=Visibility.PUBLIC,
        creators=[{"name": "Franklin, Rosalind"}],
    )
    ReadyImageFactory(dataset=dataset)
    version = versions.dataset_version_create(user=world.curator, dataset=dataset)
    chiplab = client_as(world.curator)
    chiplab.datasets.update(str(dataset.pk), funding=[{"funder_name": "SNSF"}])
    assert chiplab.datasets.get(str(dataset.pk))["funding"] == [{"funder_name": "SNSF"}]

    with pytest.raises(ChiplabError) as caught:
        chiplab.datasets.mint_doi(str(version.pk))
    assert caught.value.status == 409 and caught.value.code == "doi_not_configured"

    assert datacite_json_errors(chiplab.datasets.version_datacite(str(version.pk))) == []
    with FakeDataCite() as fake:
        settings.CHIPLAB_DATACITE_URL = fake.url
        settings.CHIPLAB_DATACITE_REPOSITORY = fake.repository
        settings.CHIPLAB_DATACITE_PASSWORD = fake.password
        settings.CHIPLAB_DATACITE_PREFIX = fake.prefix
        minted = chiplab.datasets.mint_doi(str(version.pk))
    assert minted["doi_state"] == "findable" and minted["doi"] in fake.dois

    bibtex = chiplab.datasets.citation_bibtex(str(version.pk))
    assert bibtex.startswith("@misc{Franklin") and minted["doi"] in bibtex
    [item] = chiplab.datasets.citation_csl(str(version.pk))
    assert item["DOI"] == minted["doi"]
    assert item["author"] == [{"family": "Franklin", "given": "Rosalind"}]
