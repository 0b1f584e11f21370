"""Every API error is the JSON error body: readable validation messages, JSON 404s and 500s."""

import json
import logging

import pytest
from django.test import Client
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from common.apis import valid


class ParamsSerializer(serializers.Serializer):
    chip_size = serializers.IntegerField(min_value=1)
    epochs = serializers.IntegerField()

    def validate_epochs(self, value):
        if value > 100:
            raise serializers.ValidationError("at most 100 epochs")
        return value


class VoteSerializer(serializers.Serializer):
    row = serializers.IntegerField(min_value=0)


class JobSerializer(serializers.Serializer):
    name = serializers.CharField(required=False)
    params = ParamsSerializer()
    votes = VoteSerializer(many=True, required=False, max_length=2)
    tags = serializers.ListField(child=serializers.IntegerField(), required=False)


class JobApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def post(self, request):
        return Response(valid(JobSerializer, request.data))


def post_job(body):
    request = APIRequestFactory().post("/api/jobs/", body, format="json")
    response = JobApi.as_view()(request)
    response.render()
    assert response.status_code == 400
    return json.loads(response.content)["error"]


def assert_plain(fields):
    assert all(isinstance(k, str) for k in fields)
    assert all(isinstance(v, list) and all(type(m) is str for m in v) for v in fields.values())


def test_nested_serializer_errors_are_readable():
    error = post_job({"params": {"chip_size": 0, "epochs": 1}})
    assert error["code"] == "invalid"
    assert error["message"] == "params.chip_size: Ensure this value is greater than or equal to 1."
    assert error["fields"] == {
        "params.chip_size": ["Ensure this value is greater than or equal to 1."]
    }
    assert "ErrorDetail" not in str(error)


def test_nested_custom_validator_message():
    error = post_job({"params": {"chip_size": 1, "epochs": 10**9}})
    assert error["message"] == "params.epochs: at most 100 epochs"


def test_list_errors_name_the_item():
    error = post_job({"params": {"chip_size": 1, "epochs": 1}, "votes": [{"row": 1}, {"row": -1}]})
    assert error["message"] == "votes[1].row: Ensure this value is greater than or equal to 0."
    error = post_job({"params": {"chip_size": 1, "epochs": 1}, "votes": [{"row": 1}] * 3})
    assert error["message"] == "votes: Ensure this field has no more than 2 elements."
    error = post_job({"params": {"chip_size": 1, "epochs": 1}, "tags": [1, "x"]})
    assert error["message"] == "tags[1]: A valid integer is required."
    assert "ErrorDetail" not in str(error)


def test_several_errors_are_all_listed_as_plain_strings():
    error = post_job({"name": ["not", "text"], "params": {"chip_size": 0}})
    assert_plain(error["fields"])
    assert set(error["fields"]) == {"name", "params.chip_size", "params.epochs"}


def test_object_level_errors_keep_their_message():
    class Both(serializers.Serializer):
        a = serializers.IntegerField()

        def validate(self, attrs):
            raise serializers.ValidationError("Send either a or b.")

    with pytest.raises(serializers.ValidationError) as err:
        valid(Both, {"a": 1})
    from common.errors import exception_handler

    error = exception_handler(err.value, {}).data["error"]
    assert error["message"] == "Send either a or b."
    assert error["fields"] == {"non_field_errors": ["Send either a or b."]}


@pytest.mark.django_db
def test_real_endpoints_report_nested_errors_readably(client_for, world):
    jobs = client_for(world.curator).post(
        "/api/segmentation-jobs/", {"images": [], "params": {"chip_size": 0}}, format="json"
    )
    assert jobs.status_code == 400
    assert jobs.json()["error"]["fields"]["params.chip_size"] == [
        "Ensure this value is greater than or equal to 1."
    ]
    training = client_for(world.owner).post(
        f"/api/labs/{world.lab.pk}/training-jobs/",
        {"support_set_versions": [str(world.lab.pk)], "params": {"epochs": 10**9}},
        format="json",
    )
    assert training.status_code == 400
    assert training.json()["error"]["message"].startswith("params.epochs: at most")
    assert "ErrorDetail" not in jobs.content.decode() + training.content.decode()


# --- 404 and 500 under /api/ ----------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("url", ["/api/nonexistent/", "/api/labs/not-a-uuid/"])
def test_unknown_api_urls_are_json_404(client, settings, debug, url):
    settings.DEBUG = debug
    response = client.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "not_found" and url in error["message"]


@pytest.mark.django_db
def test_objects_not_found_keep_their_api_message(client_for, user):
    response = client_for(user).get("/api/labs/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Lab not found."}


@pytest.mark.django_db
def test_pages_outside_the_api_keep_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.urls("tests.common.urls_failing")
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("url", ["/api/test-broken/", "/api/test-broken-plain/"])
def test_unhandled_api_exception_is_logged_json_500(settings, caplog, debug, url):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR):
        response = client.get(url)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {"code": "server_error", "message": "Internal server error; it has been logged."}
    }
    assert b"secret internals" not in response.content
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # logged once, with the traceback
    assert errors[0].exc_info and "secret internals" in str(errors[0].exc_info[1])


@pytest.mark.django_db
@pytest.mark.urls("tests.common.urls_failing")
def test_unhandled_page_exception_keeps_django_behaviour(settings):
    settings.DEBUG = False
    response = Client(raise_request_exception=False).get("/test-broken-page/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.urls("tests.common.urls_failing")
def test_other_api_error_pages_are_json_and_successes_untouched(client):
    forbidden = client.get("/api/test-forbidden-plain/")
    assert forbidden.status_code == 403
    assert forbidden.json() == {"error": {"code": "forbidden", "message": "Forbidden."}}
    ok = client.get("/api/test-ok-plain/")
    assert ok.status_code == 200 and ok.content == b"ok"
