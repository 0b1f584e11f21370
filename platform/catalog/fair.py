"""Machine-readable dataset metadata: schema.org ``Dataset`` JSON-LD."""

from django.conf import settings
from django.urls import reverse

from .licences import licence_url
from .models import Dataset, ImageStatus


def base_url(request=None) -> str:
    if settings.CHIPLAB_PUBLIC_URL:
        return settings.CHIPLAB_PUBLIC_URL.rstrip("/")
    return request.build_absolute_uri("/").rstrip("/") if request else ""


def persistent_url(dataset: Dataset, request=None) -> str:
    return base_url(request) + reverse("dataset-landing", args=[dataset.pk])


def _creator(creator: dict) -> dict:
    person = {"@type": "Person", "name": creator["name"]}
    if creator.get("orcid"):
        person["identifier"] = f"https://orcid.org/{creator['orcid']}"
    if creator.get("affiliation"):
        person["affiliation"] = {"@type": "Organization", "name": creator["affiliation"]}
    return person


def dataset_jsonld(dataset: Dataset, request=None) -> dict:
    base = base_url(request)
    url = persistent_url(dataset, request)
    identifiers = [url, f"urn:uuid:{dataset.pk}"]
    if dataset.doi:
        identifiers.insert(0, f"https://doi.org/{dataset.doi}")
    distribution = []
    for image in dataset.images.filter(status=ImageStatus.READY):
        item = {
            "@type": "DataDownload",
            "name": image.original_filename,
            "contentUrl": base + reverse("image-original", args=[image.pk]),
            "encodingFormat": _mime(image.format),
            "contentSize": f"{image.size_bytes} B",
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
        }
        if image.pixel_size:
            item["description"] = f"pixel size {image.pixel_size:g} {image.pixel_unit}"
        distribution.append(item)
    doc = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": url,
        "url": url,
        "identifier": identifiers,
        "name": dataset.title,
        "description": dataset.description or dataset.title,
        "keywords": dataset.keywords,
        "license": licence_url(dataset.licence) or dataset.licence,
        "creator": [_creator(c) for c in dataset.creators],
        "publisher": {"@type": "Organization", "name": dataset.lab.name},
        "dateCreated": dataset.created.isoformat(),
        "dateModified": dataset.modified.isoformat(),
        "isAccessibleForFree": True,
        "measurementTechnique": "Electron microscopy",
        "distribution": distribution,
    }
    return doc


_MIME = {
    "tiff": "image/tiff",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "dm3": "application/x-gatan-dm3",
    "dm4": "application/x-gatan-dm4",
}


def _mime(fmt: str) -> str:
    return _MIME.get(fmt, "application/octet-stream")
