"""Hostile request bodies get a clear 4xx in the API's error format, never a 500 or a bare 400."""

import json

import pytest
from django.test import Client
from rest_framework.settings import api_settings

from common.parsers import MAX_JSON_DEPTH

pytestmark = pytest.mark.django_db


def post_json(client, path, text):
    return client.post(path, text, content_type="application/json")


# --- deeply nested JSON ---------------------------------------------------------------
@pytest.mark.parametrize("depth", [100_000, MAX_JSON_DEPTH + 1])
def test_deeply_nested_json_is_a_400_even_before_signing_in(depth):
    client = Client(raise_request_exception=False)
    response = post_json(client, "/api/auth/login", "[" * depth + "]" * depth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "parse_error"
    assert "nested" in error["message"] and str(MAX_JSON_DEPTH) in error["message"]


def test_deeply_nested_json_in_an_object_is_refused(client_for, user):
    nested = json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    body = {"name": "Lab", "description": nested}
    response = client_for(user).post("/api/labs/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_json_at_the_depth_limit_still_parses(client_for, user):
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    body = '{"name": "Lab", "description": ' + nested + "}"
    response = post_json(client_for(user), "/api/labs/", body)
    # the parser accepts it; the serializer then says what is wrong with the field
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"description": ["Not a valid string."]}


def test_the_project_parsers_are_the_defaults(client_for, user):
    """JSON only (bodies hold lists, objects and null, which forms cannot carry); a form post
    to a JSON endpoint is refused with 415 instead of being half understood."""
    names = [cls.__module__ + "." + cls.__name__ for cls in api_settings.DEFAULT_PARSER_CLASSES]
    assert names == ["common.parsers.JSONParser"]
    form = client_for(user).post("/api/labs/", {"name": ""}, format="multipart")
    assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"


# --- bodies above DATA_UPLOAD_MAX_MEMORY_SIZE --------------------------------------------
def big_json(settings):
    return json.dumps({"username": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE, "password": "y"})


def assert_too_large(response, settings):
    assert response.status_code == 413, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,}" in error["message"]
    assert "multipart" in error["message"]


def test_a_json_body_over_the_limit_is_413_naming_it(settings):
    client = Client(raise_request_exception=False)
    assert_too_large(post_json(client, "/api/auth/login", big_json(settings)), settings)


def test_a_signed_in_json_body_over_the_limit_is_413(client_for, user, settings):
    response = client_for(user).post(
        "/api/labs/", big_json(settings), content_type="application/json"
    )
    assert_too_large(response, settings)


def test_form_bodies_over_the_limit_are_413(settings, client_for, world):
    """Form bodies reach only the upload view (the rest of the API takes JSON)."""
    client, url = client_for(world.curator), f"/api/datasets/{world.dataset().pk}/images/"
    text = {"note": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
    urlencoded = client.post(
        url, "note=" + text["note"], content_type="application/x-www-form-urlencoded"
    )
    assert_too_large(urlencoded, settings)
    multipart = client.post(url, text, format="multipart")  # form fields, no file
    assert_too_large(multipart, settings)


def test_too_many_form_fields_is_a_clear_400(settings, client_for, world):
    client, url = client_for(world.curator), f"/api/datasets/{world.dataset().pk}/images/"
    body = "&".join(f"f{n}=1" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    response = client.post(url, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_many_fields"
    assert str(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS) in error["message"]


def test_no_api_view_falls_back_to_drfs_own_json_parser():
    """Views that set parser_classes must use the project's depth-checking JSON parser."""
    from django.urls import get_resolver
    from rest_framework.parsers import JSONParser as DrfJSONParser

    def views(patterns):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from views(p.url_patterns)
            elif cls := getattr(p.callback, "cls", None):
                yield cls

    found = list(views(get_resolver().url_patterns))
    assert len(found) > 30
    plain = [c.__name__ for c in found if DrfJSONParser in c.parser_classes]
    assert plain == []
