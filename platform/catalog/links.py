"""Persistent, public URLs of datasets and versions (what citations and metadata point at).

Lower apps name a dataset's landing page through these (analysis writes it into result
provenance, catalog's serializers show it); the landing pages themselves and the FAIR
metadata are ``publishing``'s.
"""

from django.conf import settings
from django.urls import reverse

from .models import Dataset


def base_url(request=None) -> str:
    if settings.CHIPLAB_PUBLIC_URL:
        return settings.CHIPLAB_PUBLIC_URL.rstrip("/")
    return request.build_absolute_uri("/").rstrip("/") if request else ""


def persistent_url(dataset: Dataset, request=None) -> str:
    return base_url(request) + reverse("dataset-landing", args=[dataset.pk])


def version_persistent_url(version, request=None) -> str:
    return base_url(request) + reverse("dataset-version-landing", args=[version.pk])
