"""Validators and a fake DataCite server for the DOI and harvesting tests (all offline).

Schemas under ``data/`` (see data/README.md for where each comes from): the DataCite 4.5 JSON
schema of the REST API's attributes, the DataCite kernel-4 XSD, oai_dc and simple Dublin
Core, and the OAI-PMH 2.0 response schema. Nothing is fetched: xmlschema is kept inside the
folder (``allow="sandbox"``) and ignores the instances' schemaLocation hints.
"""

from __future__ import annotations

import base64
import functools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import xmlschema

DATA = Path(__file__).parent / "data"
XSD = DATA / "xsd"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"


def _absolute_uri(value) -> bool:
    """The schema's ``format: uri`` (jsonschema checks it only with an extra package)."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme not in ("http", "https"))


@functools.cache
def datacite_json_validator() -> jsonschema.Draft201909Validator:
    schema = json.loads((DATA / "datacite-v4.5.json").read_text())
    checker = jsonschema.FormatChecker(
        formats=list(jsonschema.Draft201909Validator.FORMAT_CHECKER.checkers)
    )
    checker.checks("uri")(_absolute_uri)
    return jsonschema.Draft201909Validator(schema, format_checker=checker)


def datacite_json_errors(attributes: dict) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in datacite_json_validator().iter_errors(attributes)
    ]


@functools.cache
def oai_schema() -> xmlschema.XMLSchema10:
    """OAI-PMH with the payload namespaces it serves loaded beside it (strict ``any``)."""
    return xmlschema.XMLSchema10(
        str(XSD / "OAI-PMH.xsd"),
        locations=[
            ("http://www.openarchives.org/OAI/2.0/oai_dc/", str(XSD / "oai_dc.xsd")),
            ("http://datacite.org/schema/kernel-4", str(XSD / "datacite-kernel-4/metadata.xsd")),
        ],
        allow="sandbox",
    )


@functools.cache
def kernel_schema() -> xmlschema.XMLSchema10:
    return xmlschema.XMLSchema10(str(XSD / "datacite-kernel-4/metadata.xsd"), allow="sandbox")


def xsd_errors(schema, document: bytes | str) -> list[str]:
    text = document.decode() if isinstance(document, bytes) else document
    source = xmlschema.XMLResource(text, allow="none")  # the document fetches nothing
    return [str(e.reason or e)[:300] for e in schema.iter_errors(source, use_location_hints=False)]


# --- a fake DataCite REST API -----------------------------------------------------------------
class FakeDataCite:
    """DataCite's ``/dois`` on 127.0.0.1: checks credentials, media type and the metadata
    (against the DataCite JSON schema), keeps the DOIs it was given and every call."""

    def __init__(self, *, repository="CHIPLAB.TEST", password="secret", prefix="10.80000"):
        self.repository, self.password, self.prefix = repository, password, prefix
        self.dois: dict[str, dict] = {}
        self.calls: list[dict] = []
        self.fail_next_put = 0  # answer this many PUTs with 500
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, document: dict) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.api+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                call = {
                    "method": method,
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "content_type": self.headers.get("Content-Type"),
                    "body": body,
                }
                fake.calls.append(call)
                status, document = fake.respond(call)
                self._answer(status, document)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _authorised(self, call) -> bool:
        token = base64.b64encode(f"{self.repository}:{self.password}".encode()).decode()
        return call["auth"] == f"Basic {token}"

    def respond(self, call) -> tuple[int, dict]:
        if not self._authorised(call):
            return 401, {"errors": [{"status": "401", "title": "Bad credentials."}]}
        if call["method"] != "GET" and call["content_type"] != "application/vnd.api+json":
            return 415, {"errors": [{"title": "Wrong media type"}]}
        if call["method"] == "POST" and call["path"] == "/dois":
            attributes = call["body"]["data"]["attributes"]
            if call["body"]["data"].get("type") != "dois":
                return 422, {"errors": [{"title": "type must be dois"}]}
            if errors := datacite_json_errors(attributes):
                return 422, {"errors": [{"title": e} for e in errors]}
            doi = attributes["doi"].lower()
            if not doi.startswith(self.prefix + "/"):
                return 403, {"errors": [{"title": "Prefix not owned by this repository"}]}
            if doi in self.dois:
                return 422, {
                    "errors": [{"source": "doi", "title": "This DOI has already been taken"}]
                }
            state = "findable" if attributes.get("event") == "publish" else "draft"
            self.dois[doi] = {"state": state, "attributes": attributes}
            return 201, {"data": {"id": doi, "type": "dois", "attributes": {"state": state}}}
        if call["path"].startswith("/dois/"):
            doi = call["path"][len("/dois/") :].lower()
            if doi not in self.dois:
                return 404, {"errors": [{"status": "404", "title": "Not found"}]}
            if call["method"] == "GET":
                return 200, {"data": {"id": doi, "attributes": self.dois[doi]}}
            if call["method"] == "PUT":
                if self.fail_next_put:
                    self.fail_next_put -= 1
                    return 500, {"errors": [{"title": "Internal error"}]}
                attributes = call["body"]["data"]["attributes"]
                if errors := datacite_json_errors(attributes):
                    return 422, {"errors": [{"title": e} for e in errors]}
                state = self.dois[doi]["state"]
                if attributes.get("event") == "publish":
                    state = "findable"
                self.dois[doi] = {"state": state, "attributes": attributes}
                return 200, {"data": {"id": doi, "attributes": self.dois[doi]}}
        return 404, {"errors": [{"title": "No route"}]}
