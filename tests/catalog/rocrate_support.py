"""Validating RO-Crates offline with roc-validator's RO-Crate 1.2 profile.

The validator checks a crate against its SHACL shapes of the RO-Crate 1.2 specification, which
it ships, but it reads the crate as JSON-LD through the RO-Crate 1.2 context, which it fetches
(https://w3id.org/ro/crate/1.2/context). Tests run without the internet and no package ships
that context, so the validator's own HTTP cache (its documented offline mode) is seeded with a
context document that maps the terms Chiplab's crates use to the IRIs the RO-Crate context
gives them (schema.org terms to ``http://schema.org/``, ``File`` to ``MediaObject``,
``conformsTo`` to Dublin Core). ``CONTEXT_TERMS`` is that list: a crate using any other term
fails the validator's check that every key is defined by the context.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import requests
from urllib3 import HTTPResponse

CONTEXT_URL = "https://w3id.org/ro/crate/1.2/context"
SCHEMA = "http://schema.org/"

# schema.org terms (the RO-Crate context defines all of schema.org under http://schema.org/)
_SCHEMA_TERMS = [
    "Dataset",
    "CreativeWork",
    "ImageObject",
    "Person",
    "Organization",
    "PropertyValue",
    "SoftwareApplication",
    "CreateAction",
    "name",
    "description",
    "abstract",
    "about",
    "datePublished",
    "dateCreated",
    "version",
    "identifier",
    "url",
    "license",
    "creator",
    "publisher",
    "keywords",
    "hasPart",
    "affiliation",
    "contentSize",
    "encodingFormat",
    "sha256",
    "width",
    "height",
    "exifData",
    "value",
    "unitText",
    "propertyID",
    "instrument",
    "object",
    "result",
    "startTime",
    "endTime",
    "mentions",
]

CONTEXT_TERMS: dict[str, str] = {
    **{term: SCHEMA + term for term in _SCHEMA_TERMS},
    "File": SCHEMA + "MediaObject",
    "conformsTo": "http://purl.org/dc/terms/conformsTo",
}

#: SHOULDs of the RO-Crate 1.2 profile that Chiplab's crates knowingly do not meet, and why
RECOMMENDATIONS_NOT_MET = {
    # the root's identifier resolves on the live server, not in an offline test
    "ro-crate-1.2_51.1": "root identifier resolves to the crate (needs the network)",
    # a lab is a name in Chiplab: no home page, ROR id or contact point to give
    "ro-crate-1.2_86.2": "organisation URL",
    "ro-crate-1.2_89.0": "organisation ROR id",
    "ro-crate-1.2_90.1": "organisation contact point",
    "ro-crate-1.2_93.0": "a contact point for an author or the publisher",
}


def context_document() -> dict:
    context: dict = {}
    for term, iri in CONTEXT_TERMS.items():
        # link-valued properties as the RO-Crate context declares them
        context[term] = {"@id": iri, "@type": "@id"} if term in {"conformsTo"} else iri
    return {"@context": context}


def seed_offline_cache(cache_path: Path) -> None:
    """Put the context in the validator's HTTP cache (its sqlite store at ``cache_path``)."""
    from requests_cache import CachedSession

    session = CachedSession(cache_name=str(cache_path), backend="sqlite", expire_after=-1)
    body = json.dumps(context_document()).encode()
    headers = {"Content-Type": "application/ld+json"}
    response = requests.Response()
    response.status_code = 200
    response.raw = HTTPResponse(
        body=io.BytesIO(body),
        headers=headers,
        status=200,
        preload_content=False,
        request_url=CONTEXT_URL,
    )
    response._content = body
    response.url = CONTEXT_URL
    response.encoding = "utf-8"
    response.headers.update(headers)
    response.request = requests.Request("GET", CONTEXT_URL).prepare()
    session.cache.save_response(response)
    session.close()


def validate(crate_dir: Path, cache_path: Path, severity: str = "REQUIRED"):
    """roc-validator's result for ``crate_dir`` against the RO-Crate 1.2 profile, offline."""
    from rocrate_validator import models, services

    settings = services.ValidationSettings(
        rocrate_uri=str(crate_dir),
        profile_identifier="ro-crate-1.2",
        requirement_severity=models.Severity[severity],
        offline=True,
        cache_path=str(cache_path),
    )
    return services.validate(settings)
