"""Search over images and datasets: text, filters, facets, privacy, bad input, query counts.

The text match runs both ways wherever it can: Postgres full-text search (services mode) and
the substring fallback (embedded mode, SQLite), which is also forced on Postgres here."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from catalog.models import ImageKeyValue, ImageStatus, ImageTag, Visibility
from labeling.models import ImageClasses, LabelClass
from publishing import search
from tests.factories import (
    DatasetFactory,
    LabelClassFactory,
    LabelSchemaFactory,
    MembershipFactory,
    ReadyImageFactory,
)

URL = "/api/search/"
BACKENDS = ["fallback", *(["fulltext"] if connection.vendor == "postgresql" else [])]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """The text match under test: Postgres full-text search, or the substring fallback."""
    if request.param == "fallback":
        monkeypatch.setattr(search, "_postgres", lambda: False)
    return request.param


def schema_with(dataset, user, *names):
    schema = LabelSchemaFactory(dataset=dataset, name="phases", is_default=True, created_by=user)
    classes = {
        n: LabelClassFactory(schema=schema, name=n, colour="#112233", order=i)
        for i, n in enumerate(names)
    }
    return schema, classes


def image(dataset, name, *, microscope=None, kv=None, tags=(), **fields):
    instrument = dict(fields.pop("instrument", {}))
    if microscope:
        instrument["microscope"] = microscope
    img = ReadyImageFactory(
        dataset=dataset, original_filename=name, instrument=instrument, **fields
    )
    for tag in tags:
        ImageTag.objects.create(image=img, name=tag, created_by=dataset.created_by)
    for i, (k, v) in enumerate((kv or {}).items()):
        ImageKeyValue.objects.create(
            image=img, key=k, value=v, position=i, created_by=dataset.created_by
        )
    return img


class Catalog:
    """The world's lab with two datasets, another lab with a public and a private one."""

    def __init__(self, world):
        self.world = world
        curator = world.curator
        self.interfaces = world.dataset(
            title="STO/Ge interfaces",
            description="HRTEM of strontium oxide films on germanium",
            keywords=["epitaxy", "oxide"],
            licence="CC-BY-4.0",
        )
        self.schema, self.classes = schema_with(self.interfaces, curator, "STO", "Ge", "vacuum")
        self.titan = image(
            self.interfaces,
            "interface_01.dm4",
            microscope="Titan Themis",
            tags=["beam damage"],
            kv={"sample": "wafer 7"},
            instrument={
                "voltage_kv": 300.0,
                "magnification": 490000.0,
                "acquired_at": "2024-03-05T10:00:00",
            },
            pixel_size=0.02,
            pixel_unit="nm",
        )
        self.jeol = image(
            self.interfaces,
            "interface_02.tif",
            microscope="JEM-2100F",
            instrument={
                "voltage_kv": 200.0,
                "magnification": 100000.0,
                "acquired_at": "2023-11-20T09:00:00+01:00",
            },
            pixel_size=0.1,
            pixel_unit="nm",
        )
        # annotators ticked only Ge for this one: it has no STO
        only_ge = ImageClasses.objects.create(image=self.jeol, schema=self.schema, set_by=curator)
        only_ge.classes.set([self.classes["Ge"]])
        self.particles = world.dataset(title="Pt particles", licence="CC0-1.0")
        image(self.particles, "pt_01.tif", microscope="Titan Themis", tags=["beam damage"])
        self.pending = ReadyImageFactory(
            dataset=self.particles, status=ImageStatus.PENDING, instrument={"microscope": "Krios"}
        )
        other_owner = world.outsider
        self.public = DatasetFactory(
            lab=world.other_lab,
            created_by=other_owner,
            title="Public zeolites",
            licence="CC-BY-SA-4.0",
            visibility=Visibility.PUBLIC,
        )
        schema_with(self.public, other_owner, "zeolite")
        self.public_image = image(self.public, "zeo.tif", microscope="Talos F200X")
        self.secret = DatasetFactory(
            lab=world.other_lab,
            created_by=other_owner,
            title="Secret alloy quasicrystal",
            description="confidential",
            licence="CC-BY-NC-4.0",
            visibility=Visibility.LAB,
        )
        schema_with(self.secret, other_owner, "quasiphase")
        self.secret_image = image(
            self.secret,
            "secret.tif",
            microscope="Hidden Scope 9000",
            tags=["embargoed"],
            kv={"project": "zeppelin"},
        )


@pytest.fixture
def catalog(world):
    return Catalog(world)


def found(client, **params) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def names(body) -> list[str]:
    return sorted(r["original_filename"] for r in body["results"])


def facet(body, name) -> dict:
    return {v["value"]: v["count"] for v in body["facets"][name]}


def test_a_member_sees_their_labs_and_public_images_with_facets(catalog, client_for):
    body = found(client_for(catalog.world.viewer))
    assert names(body) == ["interface_01.dm4", "interface_02.tif", "pt_01.tif", "zeo.tif"]
    assert body["count"] == 4
    assert facet(body, "instrument") == {"Titan Themis": 2, "JEM-2100F": 1, "Talos F200X": 1}
    assert facet(body, "licence") == {"CC-BY-4.0": 2, "CC0-1.0": 1, "CC-BY-SA-4.0": 1}
    # interface_02 has Ge only (chosen), interface_01 every class of the schema
    assert facet(body, "class_name") == {"Ge": 2, "STO": 1, "vacuum": 1, "zeolite": 1}
    assert facet(body, "tag") == {"beam damage": 2}
    datasets = {v["label"]: v["count"] for v in body["facets"]["dataset"]}
    assert datasets == {"STO/Ge interfaces": 2, "Pt particles": 1, "Public zeolites": 1}
    first = next(r for r in body["results"] if r["original_filename"] == "interface_01.dm4")
    assert first["tags"] == ["beam damage"]
    assert first["dataset"]["title"] == "STO/Ge interfaces"
    assert first["links"]["image"] == f"/api/images/{catalog.titan.pk}/"


@pytest.mark.parametrize(
    "q, expected",
    [
        ("titan", ["interface_01.dm4", "pt_01.tif"]),  # instrument, a prefix of a word
        ("Titan Themis", ["interface_01.dm4", "pt_01.tif"]),
        ("titan interfaces", ["interface_01.dm4"]),  # every word, in any field
        ("2100F", ["interface_02.tif"]),
        ("STO", ["interface_01.dm4", "interface_02.tif"]),  # class names of the dataset
        ("vacuum", ["interface_01.dm4", "interface_02.tif"]),
        ("zeolite", ["zeo.tif"]),
        ("strontium", ["interface_01.dm4", "interface_02.tif"]),  # description
        ("epitaxy", ["interface_01.dm4", "interface_02.tif"]),  # keywords
        ("CC0", ["pt_01.tif"]),  # licence
        ("damage", ["interface_01.dm4", "pt_01.tif"]),  # tag
        ("wafer", ["interface_01.dm4"]),  # key-value value
        ("sample", ["interface_01.dm4"]),  # key-value key
        ("pt_01", ["pt_01.tif"]),  # file name
        ("titan 2100F", []),
        ("quasicrystal", []),  # the other lab's private dataset
        ("zeppelin", []),
        ("embargoed", []),
        ("quasiphase", []),
        ("   ", ["interface_01.dm4", "interface_02.tif", "pt_01.tif", "zeo.tif"]),  # no words
        ("!!! & | :*", ["interface_01.dm4", "interface_02.tif", "pt_01.tif", "zeo.tif"]),
    ],
)
def test_text_finds_every_word_in_the_images_fields(catalog, client_for, backend, q, expected):
    assert names(found(client_for(catalog.world.viewer), q=q)) == expected


@pytest.mark.parametrize(
    "q", ["_", "²", "Å", "日本", "'", "\\", "a:b", "foo&bar|!baz", "x" * 200, "(", "<->", "é" * 3]
)
def test_odd_words_are_searched_not_errors(catalog, client_for, backend, q):
    body = found(client_for(catalog.world.viewer), q=q)
    assert "secret.tif" not in names(body)


def test_text_ranks_and_counts_facets_over_the_matches(catalog, client_for, backend):
    body = found(client_for(catalog.world.viewer), q="titan")
    assert facet(body, "instrument") == {"Titan Themis": 2}
    assert facet(body, "licence") == {"CC-BY-4.0": 1, "CC0-1.0": 1}
    assert facet(body, "class_name") == {"Ge": 1, "STO": 1, "vacuum": 1}


def test_filters_combine_and_facets_keep_their_own_alternatives(catalog, client_for):
    client = client_for(catalog.world.viewer)
    body = found(client, instrument="Titan Themis")
    assert names(body) == ["interface_01.dm4", "pt_01.tif"]
    # the instrument facet ignores its own filter (other microscopes stay offered) …
    assert facet(body, "instrument") == {"Titan Themis": 2, "JEM-2100F": 1, "Talos F200X": 1}
    # … the others count within it
    assert facet(body, "licence") == {"CC-BY-4.0": 1, "CC0-1.0": 1}
    body = found(client, instrument=["Titan Themis", "JEM-2100F"], class_name="Ge")
    assert names(body) == ["interface_01.dm4", "interface_02.tif"]
    body = found(client, instrument=["Titan Themis", "JEM-2100F"], class_name="STO")
    assert names(body) == ["interface_01.dm4"]  # interface_02's annotators ticked Ge only
    assert facet(body, "instrument") == {"Titan Themis": 1}
    assert facet(body, "class_name") == {"Ge": 2, "STO": 1, "vacuum": 1}
    body = found(client, class_name="STO", licence="CC0-1.0")
    assert names(body) == []
    assert facet(body, "licence") == {"CC-BY-4.0": 1}
    assert names(found(client, tag="beam damage", licence="CC0-1.0")) == ["pt_01.tif"]
    assert names(found(client, kv="sample=wafer 7")) == ["interface_01.dm4"]
    assert names(found(client, kv="sample=wafer")) == []  # exact
    assert names(found(client, dataset=str(catalog.particles.pk))) == ["pt_01.tif"]
    assert names(found(client, lab=str(catalog.world.other_lab.pk))) == ["zeo.tif"]


def test_a_removed_class_is_no_longer_found(catalog, client_for):
    client = client_for(catalog.world.viewer)
    LabelClass.objects.filter(pk=catalog.classes["vacuum"].pk).update(removed_at=timezone.now())
    assert names(found(client, class_name="vacuum")) == []
    assert "vacuum" not in facet(found(client), "class_name")
    # a choice whose classes were all removed is no choice: the image has the schema's classes
    LabelClass.objects.filter(pk=catalog.classes["Ge"].pk).update(removed_at=timezone.now())
    assert names(found(client, class_name="STO")) == ["interface_01.dm4", "interface_02.tif"]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"voltage_min": 250}, ["interface_01.dm4"]),
        ({"voltage_max": 250}, ["interface_02.tif"]),
        ({"voltage_min": 200, "voltage_max": 300}, ["interface_01.dm4", "interface_02.tif"]),
        ({"magnification_min": 200000}, ["interface_01.dm4"]),
        ({"magnification_max": 200000}, ["interface_02.tif"]),
        ({"pixel_size_max": 0.05}, ["interface_01.dm4"]),
        ({"pixel_size_min": 0.05, "pixel_size_max": 1}, ["interface_02.tif"]),
        ({"acquired_from": "2024-01-01"}, ["interface_01.dm4"]),
        ({"acquired_to": "2024-03-05"}, ["interface_01.dm4", "interface_02.tif"]),  # inclusive
        ({"acquired_to": "2024-03-04"}, ["interface_02.tif"]),
        ({"acquired_from": "2023-11-20", "acquired_to": "2023-11-20"}, ["interface_02.tif"]),
        ({"voltage_min": 250, "q": "2100F"}, []),
    ],
)
def test_ranges_of_instrument_facts(catalog, client_for, params, expected):
    assert names(found(client_for(catalog.world.viewer), **params)) == expected


def test_pages_are_bounded_and_link_on(catalog, client_for):
    client = client_for(catalog.world.viewer)
    first = found(client, limit=3)
    assert first["count"] == 4 and len(first["results"]) == 3
    assert "offset=3" in first["next"]
    rest = client.get(first["next"]).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    assert sorted(names(first) + names(rest)) == names(found(client))
    assert {r["id"] for r in first["results"]}.isdisjoint({r["id"] for r in rest["results"]})
    assert "facets" not in found(client, facets="false")


# --- privacy ---------------------------------------------------------------------------
def test_another_labs_private_data_never_shows_not_even_in_counts(catalog, client_for):
    client = client_for(catalog.world.viewer)
    secret = catalog.secret
    for params in (
        {},
        {"q": "secret"},
        {"instrument": "Hidden Scope 9000"},
        {"class_name": "quasiphase"},
        {"tag": "embargoed"},
        {"kv": "project=zeppelin"},
        {"dataset": str(secret.pk)},
        {"lab": str(secret.lab_id)},
        {"licence": "CC-BY-NC-4.0"},
    ):
        body = found(client, **params)
        assert str(catalog.secret_image.pk) not in {r["id"] for r in body["results"]}, params
        flat = {v["value"] for values in body["facets"].values() for v in values}
        assert not flat & {"Hidden Scope 9000", "quasiphase", "embargoed", "CC-BY-NC-4.0"}
        assert str(secret.pk) not in flat
        assert "Secret alloy quasicrystal" not in body.__repr__()
    # the other lab's members see it; pending images are never search results
    body = found(client_for(catalog.world.outsider), q="quasiphase")
    assert names(body) == ["secret.tif"]
    assert facet(body, "instrument") == {"Hidden Scope 9000": 1}


def test_private_datasets_follow_the_visibility_rule(catalog, client_for):
    """A private dataset: its creator and the lab's curators, not the other members."""
    world = catalog.world
    private = world.dataset(title="Draft", visibility=Visibility.PRIVATE)
    image(private, "draft.tif", microscope="Titan Themis")
    assert "draft.tif" in names(found(client_for(world.curator), q="draft"))
    assert "draft.tif" in names(found(client_for(world.owner), q="draft"))
    assert names(found(client_for(world.annotator), q="draft")) == []
    assert facet(found(client_for(world.annotator)), "instrument")["Titan Themis"] == 2


def test_anonymous_sees_public_images_only(catalog, client_for):
    body = found(client_for(None))
    assert names(body) == ["zeo.tif"]
    assert facet(body, "instrument") == {"Talos F200X": 1}
    assert facet(body, "class_name") == {"zeolite": 1}


def test_a_member_of_both_labs_sees_both(catalog, client_for):
    MembershipFactory(lab=catalog.world.other_lab, user=catalog.world.viewer, role=Role.VIEWER)
    assert "secret.tif" in names(found(client_for(catalog.world.viewer), q="quasicrystal"))


# --- bad input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, field",
    [
        ({"q": "x" * (search.MAX_QUERY_LENGTH + 1)}, "q"),
        ({"q": " ".join(["w"] * (search.MAX_WORDS + 1))}, "q"),
        ({"limit": search.MAX_PAGE + 1}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"voltage_min": "abc"}, "voltage_min"),
        ({"voltage_min": -1}, "voltage_min"),
        ({"voltage_min": "nan"}, "voltage_min"),
        ({"voltage_min": 300, "voltage_max": 200}, "voltage_min"),
        ({"pixel_size_min": "1e400"}, "pixel_size_min"),
        ({"acquired_from": "yesterday"}, "acquired_from"),
        ({"acquired_from": "2024-02-01", "acquired_to": "2024-01-01"}, "acquired_from"),
        ({"dataset": "not-a-uuid"}, "dataset"),
        ({"kv": "no equals sign"}, "kv"),
        ({"kv": "=value"}, "kv"),
        ({"instrument": ["x"] * (search.MAX_FILTER_VALUES + 1)}, "instrument"),
        ({"tag": "t" * 65}, "tag"),
        ({"q": "nul\x00byte"}, "q"),
        ({"facets": "maybe"}, "facets"),
    ],
)
def test_bad_queries_are_400_naming_the_parameter(catalog, client_for, params, field):
    response = client_for(catalog.world.viewer).get(URL, params)
    assert response.status_code == 400, response.content
    assert any(name.split("[")[0] == field for name in response.json()["error"]["fields"])


# --- queries -----------------------------------------------------------------------------
def _queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        found(client, **params)
    return len(queries)


@pytest.mark.parametrize("params", [{}, {"q": "titan", "class_name": "STO", "tag": "x"}])
def test_the_number_of_queries_does_not_grow_with_the_results(world, client_for, params):
    dataset = world.dataset(title="Titan series")
    schema_with(dataset, world.curator, "STO", "Ge")
    client = client_for(world.viewer)
    for i in range(2):
        image(dataset, f"a{i}.tif", microscope="Titan Themis", tags=["x", f"y{i}"])
    small = _queries(client, **params)
    for i in range(15):
        image(dataset, f"b{i}.tif", microscope=f"Titan {i}", tags=["x", f"z{i}"])
    other = world.dataset(title="Titan more")
    schema_with(other, world.curator, "STO", "Ge")
    image(other, "c.tif", microscope="Titan Themis", tags=["x"])
    assert found(client, **params)["count"] == 18
    assert _queries(client, **params) == small
    # a session, a count, a page, the tags of the page and five facets
    assert small <= 12


def test_a_class_name_in_two_schemas_counts_an_image_once(world, client_for):
    dataset = world.dataset(title="Two schemas")
    schema_with(dataset, world.curator, "vacuum", "Pt")
    second = LabelSchemaFactory(dataset=dataset, name="other", created_by=world.curator)
    other_vacuum = LabelClassFactory(schema=second, name="vacuum", colour="#000000")
    img = image(dataset, "one.tif")
    choice = ImageClasses.objects.create(image=img, schema=second, set_by=world.curator)
    choice.classes.set([other_vacuum])  # chosen in one schema, every class in the other
    body = found(client_for(world.viewer))
    assert facet(body, "class_name") == {"vacuum": 1, "Pt": 1}
    assert names(found(client_for(world.viewer), class_name="vacuum")) == ["one.tif"]


if connection.vendor == "postgresql":  # the embedded mode has no full-text index

    @pytest.mark.parametrize(
        "model, index",
        [
            ("catalog_dataset", "catalog_dataset_fts"),
            ("catalog_imagetag", "catalog_imagetag_fts"),
            ("catalog_imagekeyvalue", "catalog_imagekeyvalue_fts"),
        ],
    )
    def test_the_full_text_lookups_use_their_gin_index(catalog, model, index):
        """The migration's index expressions are those of the search's lookups."""
        params = search.SearchParams(q="titan")
        qs = search.images_search(user=catalog.world.viewer, params=params)["images"]
        sql, sql_params = qs.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + sql, sql_params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert index in plan, plan
