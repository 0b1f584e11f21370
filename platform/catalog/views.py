"""Server-rendered dataset landing page (persistent URL target, with embedded JSON-LD)."""

import json

from django.http import Http404
from django.shortcuts import render

from common.errors import NotFound

from . import selectors
from .fair import dataset_jsonld
from .licences import LICENCES, licence_url

#: The page runs no script (its JSON-LD block is data) and loads nothing but its own inline
#: styles and the site's images: a title or description that slipped past escaping still
#: cannot execute.
LANDING_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# "</script>" or "<!--" in a title must not end or comment out the JSON-LD block; JSON
# readers decode these escapes back to the same characters (as Django's json_script does).
_SCRIPT_SAFE = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def script_safe_json(value) -> str:
    """``json.dumps(value)`` that is safe inside a <script> element."""
    return json.dumps(value, indent=2).translate(_SCRIPT_SAFE)


def dataset_landing(request, dataset_id):
    try:
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
    except NotFound as err:
        raise Http404("Dataset not found") from err
    jsonld = dataset_jsonld(dataset, request)
    response = render(
        request,
        "catalog/dataset_landing.html",
        {
            "dataset": dataset,
            "images": dataset.images.all(),
            "licence_name": LICENCES.get(dataset.licence, dataset.licence),
            "licence_url": licence_url(dataset.licence),
            "jsonld": script_safe_json(jsonld),
            "persistent_url": jsonld["@id"],
        },
    )
    response["Content-Security-Policy"] = LANDING_CSP
    return response
