"""Server-rendered dataset landing page (persistent URL target, with embedded JSON-LD)."""

import json

from django.http import Http404
from django.shortcuts import render

from common.errors import NotFound

from . import selectors
from .fair import dataset_jsonld
from .licences import LICENCES, licence_url


def dataset_landing(request, dataset_id):
    try:
        dataset = selectors.dataset_get(user=request.user, dataset_id=dataset_id)
    except NotFound as err:
        raise Http404("Dataset not found") from err
    jsonld = dataset_jsonld(dataset, request)
    return render(
        request,
        "catalog/dataset_landing.html",
        {
            "dataset": dataset,
            "images": dataset.images.all(),
            "licence_name": LICENCES.get(dataset.licence, dataset.licence),
            "licence_url": licence_url(dataset.licence),
            "jsonld": json.dumps(jsonld, indent=2),
            "persistent_url": jsonld["@id"],
        },
    )
