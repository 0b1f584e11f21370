"""A schema-driven fuzz run (Schemathesis) against the live server: every operation of the
OpenAPI schema, with generated valid and invalid requests from an authenticated lab owner,
answers without a 5xx and as its schema says. Bounded in examples and time (FUZZ_SECONDS)."""

import os
import time

import pytest
import requests
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.models import Role
from accounts.services import token_create
from catalog.services import image_ingest, image_upload
from tests.factories import DatasetFactory, MembershipFactory
from tests.support.micrographs import png_bytes

pytestmark = pytest.mark.integration

#: wall-clock budget of the whole run; CI keeps it at most 90 s
FUZZ_SECONDS = float(os.environ.get("CHIPLAB_FUZZ_SECONDS", "60"))
#: examples per operation and generation mode
FUZZ_EXAMPLES = int(os.environ.get("CHIPLAB_FUZZ_EXAMPLES", "4"))
CHECKS = [not_a_server_error, response_schema_conformance]
#: operations fuzzed last: they could remove the objects (or the token) the others use
LAST = ("DELETE", "/leave", "/logout")


@pytest.fixture
def fuzz_world(transactional_db):
    """A lab owner with a token, a dataset with a ready image, and another lab's objects."""
    owner = MembershipFactory(role=Role.OWNER).user
    lab = owner.memberships.get().lab
    dataset = DatasetFactory(lab=lab, created_by=owner)
    upload = SimpleUploadedFile("fuzz.png", png_bytes())
    image = image_upload(user=owner, dataset=dataset, upload=upload)
    image = image_ingest(image_id=image.pk)
    other = MembershipFactory(role=Role.OWNER)
    other_dataset = DatasetFactory(lab=other.lab, created_by=other.user)
    _token, key = token_create(user=owner, name="fuzz")
    return {
        "headers": {"Authorization": f"Token {key}"},
        "ids": {
            "lab_id": str(lab.pk),
            "dataset_id": str(dataset.pk),
            "image_id": str(image.pk),
            "user_id": str(owner.pk),
        },
        "other_ids": {"lab_id": str(other.lab.pk), "dataset_id": str(other_dataset.pk)},
    }


def _order(operation) -> int:
    label = f"{operation.method.upper()} {operation.path}"
    return any(word in label for word in LAST)


def _fuzz(operation, mode, path_parameters, until, base_url, session, headers) -> str:
    """Generated requests for one operation until ``until`` (at least one, at most
    FUZZ_EXAMPLES); the failure's report, or ""."""
    sent = []

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def one(case):
        if sent and time.monotonic() > until:
            return
        sent.append(case)
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        one()
    except Unsatisfiable:
        return ""  # no invalid request can be made (e.g. a GET with only a fixed id)
    except Exception as err:  # collected and reported together
        return str(err)
    return ""


def test_generated_requests_get_no_5xx_and_conform_to_the_schema(live_server, fuzz_world):
    headers = fuzz_world["headers"]
    raw = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(raw)
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=_order)
    started = time.monotonic()
    deadline = started + FUZZ_SECONDS
    session = requests.Session()
    failures, ran = [], []

    for n, operation in enumerate(operations):
        # an equal share of the time left: every operation is fuzzed, at least once per variant
        share = max(0.0, deadline - time.monotonic()) / (len(operations) - n)
        names = {p.name for p in operation.path_parameters}
        fixed = [None]  # generated path parameters (unknown ids)
        for ids in (fuzz_world["ids"], fuzz_world["other_ids"]):
            if names and names <= set(ids):
                fixed.append({name: ids[name] for name in names})
        # invalid requests on generated ids; valid ones on every kind of id
        variants = [(GenerationMode.NEGATIVE, None)] + [(GenerationMode.POSITIVE, p) for p in fixed]
        for mode, path_parameters in variants:
            until = time.monotonic() + share / len(variants)
            failure = _fuzz(
                operation, mode, path_parameters, until, live_server.url, session, headers
            )
            if failure:
                failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
        ran.append(operation.label)

    print(f"fuzzed {len(ran)} operations in {time.monotonic() - started:.0f} s")
    assert not failures, "\n\n".join(failures)[:20000]
    assert len(ran) == len(operations)
