"""Minting DOIs for published dataset versions through DataCite's REST API.

``dataset_version_doi_mint`` registers the DOI: ``POST /dois`` (a draft) then
``PUT /dois/<doi>`` with ``event=publish`` (findable), with the repository's credentials from
the environment (``CHIPLAB_DATACITE_*``; off when unset), and the metadata of
``datacite.version_datacite``.

The DOI is derived from the version's UUID (``<prefix>/chiplab.<uuid>``), so a retry after a
failure half way (the draft made, the publish refused) registers the same DOI again rather
than a second one; the version records the draft and then the findable state.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import require_role
from catalog.models import DatasetVersion, DoiState, Visibility
from common.errors import ChiplabError, Conflict

from .datacite import version_datacite

log = logging.getLogger(__name__)


class DoiProviderFailed(ChiplabError):
    """DataCite refused or did not answer; nothing was half registered that a retry cannot
    finish (the DOI is the same on every try)."""

    status, code = 502, "doi_provider_failed"


# --- the provider --------------------------------------------------------------------------
@dataclass(frozen=True)
class DataCite:
    """A DataCite repository account (REST API, JSON:API documents, HTTP basic auth)."""

    url: str
    repository: str
    password: str
    prefix: str
    timeout: float = 15.0

    def _request(self, method: str, path: str, document: dict | None = None):
        token = base64.b64encode(f"{self.repository}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(document).encode() if document is not None else None,
            headers={
                "Authorization": f"Basic {token}",
                "Accept": "application/vnd.api+json",
                "Content-Type": "application/vnd.api+json",
                "User-Agent": "Chiplab (DOI registration)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            body = err.read()[:4000]
            try:
                return err.code, json.loads(body or b"{}")
            except ValueError:
                return err.code, {"errors": [{"title": body.decode("utf-8", "replace")}]}
        except (OSError, ValueError) as err:
            raise DoiProviderFailed(f"DataCite did not answer ({self.url}): {err}") from err

    def _path(self, doi: str) -> str:
        return "/dois/" + quote(doi, safe="/")

    def draft(self, doi: str, attributes: dict) -> None:
        """Register the DOI as a draft (already there, from an earlier try, is fine)."""
        status, answer = self._request(
            "POST", "/dois", {"data": {"type": "dois", "attributes": attributes}}
        )
        if status == 201:
            return
        if status == 422 and self._request("GET", self._path(doi))[0] == 200:
            return  # the draft of an earlier try that stopped before publishing
        raise DoiProviderFailed(
            f"DataCite refused the draft DOI {doi} (HTTP {status}): {_errors(answer)}"
        )

    def publish(self, doi: str, attributes: dict) -> dict:
        """Make the DOI findable, with the metadata as it is now."""
        return self.update(doi, {**attributes, "event": "publish"})

    def update(self, doi: str, attributes: dict) -> dict:
        """Replace the DOI's metadata (its state unchanged unless ``event`` says so)."""
        document = {"data": {"id": doi, "type": "dois", "attributes": attributes}}
        status, answer = self._request("PUT", self._path(doi), document)
        if status != 200:
            raise DoiProviderFailed(
                f"DataCite refused the metadata of DOI {doi} (HTTP {status}): {_errors(answer)}"
            )
        return answer


def _errors(answer: dict) -> str:
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if not errors:
        return "no reason given"
    return "; ".join(str(e.get("title") or e.get("detail") or e) for e in errors)[:500]


def provider() -> DataCite | None:
    """The configured DataCite account, or None when minting is off."""
    parts = (
        settings.CHIPLAB_DATACITE_URL,
        settings.CHIPLAB_DATACITE_REPOSITORY,
        settings.CHIPLAB_DATACITE_PASSWORD,
        settings.CHIPLAB_DATACITE_PREFIX,
    )
    if not all(parts):
        return None
    return DataCite(*parts, timeout=settings.CHIPLAB_DATACITE_TIMEOUT_SECONDS)


def doi_for(version: DatasetVersion, prefix: str) -> str:
    return f"{prefix}/chiplab.{version.pk}".lower()


def dataset_version_doi_mint(*, user, version: DatasetVersion, request=None) -> DatasetVersion:
    """Register the version's DOI with DataCite and make it findable (curators).

    Only versions of public datasets get one (a DOI's landing page is open to everyone).
    """
    require_role(user=user, lab_id=version.dataset.lab_id, role=Role.CURATOR)
    datacite = provider()
    if datacite is None:
        raise Conflict(
            "DOI minting is not configured on this server (CHIPLAB_DATACITE_URL, "
            "_REPOSITORY, _PASSWORD and _PREFIX).",
            code="doi_not_configured",
        )
    version.refresh_from_db()
    if version.doi_state == DoiState.FINDABLE:
        raise Conflict(f"This version already has the DOI {version.doi}.", code="has_doi")
    if version.dataset.visibility != Visibility.PUBLIC:
        raise Conflict(
            "Only versions of public datasets get a DOI: its landing page must be open to "
            "everyone. Make the dataset public first.",
            code="not_public",
        )
    doi = version.doi or doi_for(version, datacite.prefix)
    attributes = version_datacite(version, request, doi=doi)
    datacite.draft(doi, attributes)
    DatasetVersion.objects.filter(pk=version.pk).exclude(doi_state=DoiState.FINDABLE).update(
        doi=doi, doi_state=DoiState.DRAFT
    )
    datacite.publish(doi, attributes)
    DatasetVersion.objects.filter(pk=version.pk).update(
        doi=doi, doi_state=DoiState.FINDABLE, doi_registered=timezone.now()
    )
    log.info("version %s: DOI %s registered (findable)", version.pk, doi)
    _link_previous(datacite, version, request)
    version.refresh_from_db()
    return version


def _link_previous(datacite: DataCite, version: DatasetVersion, request) -> None:
    """The previous version's DOI record learns of its successor (``IsPreviousVersionOf``
    with the new DOI). Best effort: the new DOI stands either way, and the next minting of
    the dataset sends the older record again."""
    previous = (
        DatasetVersion.objects.filter(
            dataset_id=version.dataset_id, number__lt=version.number, doi_state=DoiState.FINDABLE
        )
        .select_related("dataset")
        .order_by("-number")
        .first()
    )
    if previous is None:
        return
    try:
        datacite.update(previous.doi, version_datacite(previous, request))
    except DoiProviderFailed as err:
        log.warning("DOI %s: its successor %s not recorded: %s", previous.doi, version.pk, err)
