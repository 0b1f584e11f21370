"""Server-rendered landing pages of datasets and their versions (persistent URL targets,
with embedded JSON-LD) and the sitemap that lists the public ones."""

import json
from xml.sax.saxutils import escape

from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from catalog import selectors
from catalog.licences import LICENCES, licence_url
from catalog.links import persistent_url, version_persistent_url
from common.errors import NotFound

from .citation import version_bibtex, version_reference
from .fair import dataset_jsonld, version_jsonld

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
        "publishing/dataset_landing.html",
        {
            "dataset": dataset,
            "images": dataset.images.all(),
            "versions": selectors.dataset_versions_visible_to(user=request.user).filter(
                dataset=dataset
            ),
            "licence_name": LICENCES.get(dataset.licence, dataset.licence),
            "licence_url": licence_url(dataset.licence),
            "jsonld": script_safe_json(jsonld),
            "persistent_url": jsonld["@id"],
        },
    )
    response["Content-Security-Policy"] = LANDING_CSP
    return response


def dataset_version_landing(request, version_id):
    """The landing page of a published version: its frozen metadata, files and package."""
    try:
        version = selectors.dataset_version_get(user=request.user, version_id=version_id)
    except NotFound as err:
        raise Http404("Dataset version not found") from err
    jsonld = version_jsonld(version, request)
    latest = selectors.dataset_version_latest(user=request.user, dataset_id=version.dataset_id)
    response = render(
        request,
        "publishing/dataset_version_landing.html",
        {
            "version": version,
            "manifest": version.manifest,
            "latest": latest,
            "licence_name": LICENCES.get(version.licence, version.licence),
            "licence_url": licence_url(version.licence),
            "jsonld": script_safe_json(jsonld),
            "persistent_url": jsonld["@id"],
            "reference": version_reference(version, request),
            "bibtex": version_bibtex(version, request),
        },
    )
    response["Content-Security-Policy"] = LANDING_CSP
    return response


def dataset_version_latest_landing(request, dataset_id):
    """The "latest" alias: a redirect to the landing page of the dataset's newest version."""
    try:
        version = selectors.dataset_version_latest(user=request.user, dataset_id=dataset_id)
    except NotFound as err:
        raise Http404("No published version") from err
    return redirect("dataset-version-landing", version_id=version.pk)


#: a sitemap holds at most 50,000 URLs (sitemaps.org); the newest are listed
SITEMAP_MAX_URLS = 50_000


def sitemap(request):
    """sitemap.xml of the public datasets' and versions' landing pages, for harvesters and
    dataset search engines (everything else is private to labs and never listed)."""
    anonymous = AnonymousUser()
    urls: list[tuple[str, str]] = []
    for version in selectors.dataset_versions_visible_to(user=anonymous).order_by("-created")[
        : SITEMAP_MAX_URLS // 2
    ]:
        urls.append((version_persistent_url(version, request), version.created.date().isoformat()))
    for dataset in selectors.datasets_visible_to(user=anonymous).order_by("-modified")[
        : SITEMAP_MAX_URLS - len(urls)
    ]:
        urls.append((persistent_url(dataset, request), dataset.modified.date().isoformat()))
    body = "".join(
        f"<url><loc>{escape(loc)}</loc><lastmod>{lastmod}</lastmod></url>\n"
        for loc, lastmod in urls
    )
    return HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + body + "</urlset>\n",
        content_type="application/xml",
    )
