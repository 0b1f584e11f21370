"""The Chiplab API client: one object, one attribute per area of the API."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from ._http import Session, Transport
from .areas.accounts import Auth, Invitations, Labs, Tokens
from .areas.analysis import Results, SegmentationJobs
from .areas.catalog import Datasets, Images
from .areas.labeling import Classes, Crowd, Grids, Schemas, SupportSets, Votes
from .areas.registry import Models, ModelVersions, Training
from .areas.search import ImageAnnotations, Search
from .areas.webhooks import Webhooks

DEFAULT_URL = "http://127.0.0.1:8000"


class Client:
    """Talks to one Chiplab server with a per-user API token.

    >>> chiplab = Client("https://chiplab.example.org", token="chl_…")
    >>> for dataset in chiplab.datasets.list():
    ...     print(dataset["title"])

    Without arguments the server and token come from ``CHIPLAB_URL`` and ``CHIPLAB_TOKEN``.
    Requests are retried with exponential backoff (``retries`` times at most) after a 429,
    a 5xx or a connection error; a POST only after a 429, a 503 or a refused connection,
    the answers that say it was not acted on. Every error is a :class:`ChiplabError`.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 4,
        backoff: float = 0.5,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.session = Session(
            url or os.environ.get("CHIPLAB_URL") or DEFAULT_URL,
            token if token is not None else os.environ.get("CHIPLAB_TOKEN"),
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            transport=transport,
            sleep=sleep,
        )
        # accounts
        self.auth = Auth(self)
        self.tokens = Tokens(self)
        self.labs = Labs(self)
        self.invitations = Invitations(self)
        # catalog
        self.datasets = Datasets(self)
        self.images = Images(self)
        self.search = Search(self)  # search and annotations
        self.annotations = ImageAnnotations(self)
        # labeling
        self.schemas = Schemas(self)
        self.classes = Classes(self)
        self.grids = Grids(self)
        self.votes = Votes(self)
        self.support_sets = SupportSets(self)
        self.crowd = Crowd(self)
        # analysis
        self.jobs = SegmentationJobs(self)
        self.results = Results(self)
        # registry
        self.models = Models(self)
        self.model_versions = ModelVersions(self)
        self.training = Training(self)
        # webhooks
        self.webhooks = Webhooks(self)

    @property
    def url(self) -> str:
        return self.session.base_url

    def __repr__(self) -> str:
        return f"<chiplab_client.Client {self.url}>"
