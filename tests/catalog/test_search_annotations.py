"""Tags and key-value annotations on images: who may read and write them, their bounds, and
that search finds them."""

import pytest

from catalog import annotations
from catalog.models import ImageKeyValue, ImageTag, Visibility
from tests.factories import DatasetFactory, ReadyImageFactory


@pytest.fixture
def img(world):
    return ReadyImageFactory(dataset=world.dataset(title="Grains"))


def url(image) -> str:
    return f"/api/images/{image.pk}/annotations"


def test_an_annotator_sets_tags_and_pairs_and_search_finds_them(world, img, client_for):
    client = client_for(world.annotator)
    response = client.put(
        url(img),
        {
            "tags": [" grain  boundary ", "Dislocation", "dislocation", "grain boundary"],
            "pairs": [{"key": "specimen", "value": "Al-Cu 4%"}, {"key": "FIB lamella"}],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    expected = {
        "tags": ["Dislocation", "grain boundary"],  # trimmed, one per spelling (any case)
        "pairs": [{"key": "specimen", "value": "Al-Cu 4%"}, {"key": "FIB lamella", "value": ""}],
    }
    assert response.json() == expected
    assert client_for(world.viewer).get(url(img)).json() == expected
    # a field left out stays; an empty list clears
    response = client.put(url(img), {"tags": []}, format="json")
    assert response.json() == {"tags": [], "pairs": expected["pairs"]}
    client.put(url(img), {"tags": ["twin"]}, format="json")
    body = client_for(world.viewer).get("/api/search/", {"tag": "twin"}).json()
    assert [r["id"] for r in body["results"]] == [str(img.pk)]
    assert body["facets"]["tag"] == [{"value": "twin", "count": 1}]
    body = client_for(world.viewer).get("/api/search/", {"q": "lamella"}).json()
    assert [r["id"] for r in body["results"]] == [str(img.pk)]
    body = client_for(world.viewer).get("/api/search/", {"kv": "specimen=Al-Cu 4%"}).json()
    assert [r["id"] for r in body["results"]] == [str(img.pk)]


def test_pairs_keep_their_order_and_replace_the_previous_ones(world, img, client_for):
    client = client_for(world.curator)
    pairs = [{"key": k, "value": str(i)} for i, k in enumerate("zyxw")]
    assert client.put(url(img), {"pairs": pairs}, format="json").json()["pairs"] == pairs
    client.put(url(img), {"pairs": pairs[:1]}, format="json")
    assert list(ImageKeyValue.objects.filter(image=img).values_list("key", "value")) == [("z", "0")]


@pytest.mark.parametrize("role", ["viewer"])
def test_viewers_cannot_write(world, img, client_for, role):
    response = client_for(world.users[role]).put(url(img), {"tags": ["x"]}, format="json")
    assert response.status_code == 403
    assert not ImageTag.objects.exists()


def test_outsiders_and_anonymous_get_404(world, img, client_for):
    for client in (client_for(world.outsider), client_for(None)):
        assert client.get(url(img)).status_code == 404
        assert client.put(url(img), {"tags": ["x"]}, format="json").status_code == 404
    assert not ImageTag.objects.exists()


def test_anyone_reads_the_annotations_of_a_public_image(world, client_for):
    public = DatasetFactory(
        lab=world.other_lab, created_by=world.outsider, visibility=Visibility.PUBLIC
    )
    image = ReadyImageFactory(dataset=public)
    annotations.image_annotations_set(user=world.outsider, image=image, tags=["open"])
    assert client_for(None).get(url(image)).json() == {"tags": ["open"], "pairs": []}
    # … but only its lab writes them
    response = client_for(world.owner).put(url(image), {"tags": ["mine"]}, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"tags": ["t"] * (annotations.MAX_TAGS + 1)}, "tags"),
        ({"tags": [f"t{i}" for i in range(annotations.MAX_TAGS + 1)]}, "tags"),
        ({"tags": ["x" * (annotations.MAX_TAG_LENGTH + 1)]}, "tags"),
        ({"tags": ["  "]}, "tags"),
        ({"tags": ["a\x01b"]}, "tags"),
        ({"tags": ["nul\x00"]}, "tags"),
        ({"tags": "not a list"}, "tags"),
        ({"tags": [{"a": 1}]}, "tags"),
        ({"pairs": [{"key": "k", "value": "v"}] * 2}, "pairs"),
        ({"pairs": [{"key": f"k{i}"} for i in range(annotations.MAX_PAIRS + 1)]}, "pairs"),
        ({"pairs": [{"key": "k" * (annotations.MAX_KEY_LENGTH + 1)}]}, "pairs"),
        ({"pairs": [{"key": "k", "value": "v" * (annotations.MAX_VALUE_LENGTH + 1)}]}, "pairs"),
        ({"pairs": [{"key": ""}]}, "pairs"),
        ({"pairs": [{"value": "v"}]}, "pairs"),
        ({"pairs": ["k=v"]}, "pairs"),
    ],
)
def test_bad_annotations_are_400_and_change_nothing(world, img, client_for, body, field):
    annotations.image_annotations_set(
        user=world.curator, image=img, tags=["keep"], pairs=[{"key": "k", "value": "v"}]
    )
    response = client_for(world.annotator).put(url(img), body, format="json")
    assert response.status_code == 400, response.content
    assert any(name.split("[")[0] == field for name in response.json()["error"]["fields"])
    assert annotations.image_annotations(image=img) == {
        "tags": ["keep"],
        "pairs": [{"key": "k", "value": "v"}],
    }


def test_the_service_checks_bounds_itself(world, img):
    """Callers other than the API (imports, scripts) get the same rules."""
    with pytest.raises(annotations.Invalid):
        annotations.image_annotations_set(user=world.curator, image=img, tags=["x" * 65])
    with pytest.raises(annotations.Invalid):
        annotations.image_annotations_set(
            user=world.curator, image=img, pairs=[{"key": "a"}, {"key": "a"}]
        )
    assert annotations.image_annotations_set(
        user=world.curator, image=img, tags=["B", "a", "b"]
    ) == {"tags": ["B", "a"], "pairs": []}
