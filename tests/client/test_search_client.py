"""The client's search and annotation methods against a live server."""

import datetime as dt

import pytest
from chiplab_client import ChiplabError

from catalog.models import Visibility
from tests.factories import DatasetFactory, ReadyImageFactory


def test_annotate_then_search_through_the_client(world, client_as):
    dataset = world.dataset(title="Ceria facets", licence="CC0-1.0")
    titan = ReadyImageFactory(
        dataset=dataset,
        original_filename="ceria_01.tif",
        instrument={
            "microscope": "Titan Themis",
            "voltage_kv": 300.0,
            "acquired_at": "2024-06-01T12:00:00",
        },
    )
    ReadyImageFactory(
        dataset=dataset,
        original_filename="ceria_02.tif",
        instrument={"microscope": "JEM-2100F", "voltage_kv": 200.0},
    )
    secret = DatasetFactory(
        lab=world.other_lab, created_by=world.outsider, visibility=Visibility.LAB
    )
    ReadyImageFactory(dataset=secret, instrument={"microscope": "Titan Themis"})

    annotator = client_as(world.annotator)
    saved = annotator.annotations.set(
        str(titan.pk), tags=["111 facet", "cube"], pairs={"support": "ceria", "dose": "low"}
    )
    assert saved == {
        "tags": ["111 facet", "cube"],
        "pairs": [{"key": "support", "value": "ceria"}, {"key": "dose", "value": "low"}],
    }
    assert annotator.annotations.set(str(titan.pk), tags=["cube"])["pairs"] == saved["pairs"]

    chiplab = client_as(world.viewer)
    assert chiplab.annotations.get(str(titan.pk))["tags"] == ["cube"]
    page = chiplab.search.images("titan")
    assert [r["id"] for r in page["results"]] == [str(titan.pk)]
    assert page["facets"]["instrument"] == [{"value": "Titan Themis", "count": 1}]
    page = chiplab.search.images(instrument=["Titan Themis", "JEM-2100F"], tag="cube")
    assert [r["original_filename"] for r in page["results"]] == ["ceria_01.tif"]
    assert {v["value"]: v["count"] for v in page["facets"]["instrument"]} == {"Titan Themis": 1}
    page = chiplab.search.images(kv={"support": "ceria"}, voltage_min=250, licence=["CC0-1.0"])
    assert [r["id"] for r in page["results"]] == [str(titan.pk)]
    page = chiplab.search.images(
        acquired_from=dt.date(2024, 6, 1), acquired_to=dt.date(2024, 6, 1), facets=False
    )
    assert [r["id"] for r in page["results"]] == [str(titan.pk)] and "facets" not in page
    everything = list(chiplab.search.all_images(limit=1))
    assert sorted(r["original_filename"] for r in everything) == ["ceria_01.tif", "ceria_02.tif"]

    with pytest.raises(ChiplabError) as caught:
        chiplab.annotations.set(str(titan.pk), tags=["mine"])
    assert caught.value.status == 403
    with pytest.raises(ChiplabError) as caught:
        chiplab.search.images(voltage_min=300, voltage_max=200)
    assert caught.value.status == 400
    with pytest.raises(ChiplabError) as caught:
        client_as(world.outsider).annotations.get(str(titan.pk))
    assert caught.value.status == 404
